"""The connection screen: source shop, licence, enable switch, alert e-mail, schedule, manual sync, runs.

Owners change settings; owners and accountants may start a manual sync (it only reads the shop again);
everyone with a role reads. Every object is reached through the tenant scope: another tenant's
connection is a 404.
"""

import datetime as dt
import uuid
from dataclasses import dataclass

from django import forms
from django.conf import settings as django_settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from connectors import registry
from connectors.middleware import scoped, scoped_object_or_404
from connectors.models import Connection, License
from syncjobs.models import SyncRun
from syncjobs.services import start_run_once

from .access import ACCOUNTANT, OWNER, can_retry, role_required
from .filters import EARLIEST_DAY

LICENCE_WARN_DAYS = 14
MIN_EVERY_MINUTES, MAX_EVERY_MINUTES = 5, 24 * 60


def kind_label(connection: Connection) -> str:
    return connection.target.label


def source_of(connection: Connection) -> registry.SourceAdapter | None:
    """The connection's source adapter, or None when its source is not (or no longer) registered."""
    try:
        return connection.source
    except LookupError:
        return None


def source_label(connection: Connection) -> str:
    source = source_of(connection)
    return source.label if source else connection.source_kind


# --- licence -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LicenceStatus:
    state: str  # "valid", "expiring", "expired", "missing"
    family_label: str
    expires_at: dt.datetime | None = None
    days_left: int | None = None

    @property
    def ok(self) -> bool:
        return self.state in ("valid", "expiring")

    @property
    def css(self) -> str:
        return {"valid": "ok", "expiring": "warn"}.get(self.state, "bad")


def licence_status(connection: Connection, licence: License | None, *, now=None) -> LicenceStatus:
    now = now or timezone.now()
    family = family_of(connection)
    label = registry.family_label(family)
    if licence is None:
        return LicenceStatus("missing", label)
    days_left = (timezone.localdate(licence.expires_at) - timezone.localdate(now)).days
    if licence.expires_at <= now:
        state = "expired"
    elif days_left <= LICENCE_WARN_DAYS:
        state = "expiring"
    else:
        state = "valid"
    return LicenceStatus(state, label, licence.expires_at, days_left)


def licences_for(request, connections) -> dict[int, LicenceStatus]:
    """The licence status of each connection, with one query for the tenant's licences."""
    by_family = {lic.family: lic for lic in scoped(request, License)}
    return {conn.pk: licence_status(conn, by_family.get(family_of(conn))) for conn in connections}


def licence_of(request, connection: Connection) -> LicenceStatus:
    return licence_status(connection, scoped(request, License).filter(family=family_of(connection)).first())


def family_of(connection: Connection) -> str:
    return connection.target.family


# --- schedule ----------------------------------------------------------------------------------------


def schedule_of(connection: Connection) -> registry.ScheduleState | None:
    """The source's scheduled sync of this connection, or None when the source has none."""
    source = source_of(connection)
    if source is None or not source.scheduled_sync:
        return None
    return source.schedule(connection)


def run_period(run: SyncRun) -> str:
    """Which orders a run reads, in the shop's days and hours."""

    def local(key: str) -> dt.datetime | None:
        try:
            return timezone.localtime(dt.datetime.fromisoformat(run.params[key]))
        except (KeyError, TypeError, ValueError, OverflowError):
            return None

    start, end = local("created_at_min"), local("created_at_max")
    if start and end:
        return _("created %(start)s – %(end)s") % {"start": f"{start:%Y-%m-%d}", "end": f"{end:%Y-%m-%d}"}
    start, end = local("updated_at_min"), local("updated_at_max")
    if start and end:
        return _("changed %(start)s – %(end)s") % {
            "start": f"{start:%Y-%m-%d %H:%M}",
            "end": f"{end:%H:%M}" if start.date() == end.date() else f"{end:%Y-%m-%d %H:%M}",
        }
    return ""


# --- forms -------------------------------------------------------------------------------------------


class AlertEmailForm(forms.Form):
    alert_email = forms.EmailField(
        required=False,
        label=gettext_lazy("Alert e-mail"),
        help_text=gettext_lazy("Who hears about documents that need a person. Leave empty for no e-mails."),
        error_messages={
            "invalid": gettext_lazy("That is not an e-mail address we can write to, e.g. ketoan@shop.vn.")
        },
    )
    alert_language = forms.ChoiceField(
        label=gettext_lazy("Language of the alert e-mails"), choices=django_settings.LANGUAGES, required=False
    )


class ScheduleForm(forms.Form):
    every_minutes = forms.IntegerField(
        label=gettext_lazy("Read new and changed orders every (minutes)"),
        min_value=MIN_EVERY_MINUTES,
        max_value=MAX_EVERY_MINUTES,
        error_messages={
            "required": gettext_lazy("Say how many minutes between two scheduled reads."),
            "invalid": gettext_lazy("Write the interval as a whole number of minutes."),
            "min_value": gettext_lazy("At least %(limit_value)s minutes: more often would only repeat work."),
            "max_value": gettext_lazy("At most %(limit_value)s minutes (once a day)."),
        },
    )
    enabled = forms.BooleanField(required=False, label=gettext_lazy("Scheduled sync on"))


class ManualSyncForm(forms.Form):
    # One per rendered form: a second submission of the same form finds the run the first one started.
    request_token = forms.UUIDField(widget=forms.HiddenInput, initial=uuid.uuid4)
    date_from = forms.DateField(
        label=gettext_lazy("Orders created from"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={
            "required": gettext_lazy("Choose the first day."),
            "invalid": gettext_lazy("Write the first day as a date, e.g. 2026-11-20."),
        },
    )
    date_to = forms.DateField(
        label=gettext_lazy("to (inclusive)"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={
            "required": gettext_lazy("Choose the last day."),
            "invalid": gettext_lazy("Write the last day as a date, e.g. 2026-11-21."),
        },
    )

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and end < start:
            raise forms.ValidationError(
                _(
                    "The end date (%(end)s) is before the start date (%(start)s): "
                    "choose an end on or after the start."
                )
                % {"end": end.isoformat(), "start": start.isoformat()},
                code="range",
            )
        if start and start < EARLIEST_DAY:
            raise forms.ValidationError(
                _("The start date %(start)s is before any shop's orders: choose a day from 2000 on.")
                % {"start": start.isoformat()},
                code="too_early",
            )
        if end and end > timezone.localdate():
            raise forms.ValidationError(
                _("The end date %(end)s is in the future: there are no orders there yet.")
                % {"end": end.isoformat()},
                code="future",
            )
        return data


# --- the page ----------------------------------------------------------------------------------------


def _page(request, connection, *, alert_form=None, schedule_form=None, sync_form=None):
    """The whole page; a refused form comes back in it with its errors next to the field."""
    source = source_of(connection)
    schedule = schedule_of(connection)
    today = timezone.localdate()
    runs = connection.runs.select_related("created_by").order_by("-created_at", "-id")[:10]
    default_minutes = source.default_schedule_minutes if source else MIN_EVERY_MINUTES
    context = {
        "connection": connection,
        "kind_label": kind_label(connection),
        "source": source,
        "source_label": source_label(connection),
        **(source.connection_context(connection) if source else {}),
        "licence": licence_of(request, connection),
        "schedule": schedule,
        "accounts": connection.accounts.order_by("-is_default", "external_id"),
        "runs": [{"run": run, "period": run_period(run)} for run in runs],
        "can_sync": can_retry(request) and source is not None and source.manual_sync,
        "alert_form": alert_form
        or AlertEmailForm(
            initial={
                "alert_email": connection.alert_email,
                "alert_language": connection.alert_language or translation.get_language(),
            }
        ),
        "schedule_form": schedule_form
        or ScheduleForm(
            initial={
                "every_minutes": (schedule.every_minutes if schedule else None) or default_minutes,
                "enabled": schedule.owner_switch if schedule else True,
            }
        ),
        "sync_form": sync_form
        or ManualSyncForm(initial={"date_from": today - dt.timedelta(days=1), "date_to": today}),
    }
    return render(request, "dashboard/connection.html", context)


@role_required()
@require_GET
def connection_detail(request, pk):
    return _page(request, scoped_object_or_404(request, Connection, pk=pk))


@role_required(OWNER)
@require_POST
def set_enabled(request, pk):
    connection = scoped_object_or_404(request, Connection, pk=pk)
    if request.POST.get("enabled") not in ("0", "1"):
        messages.error(request, _("Nothing changed: use the switch on this page."))
        return redirect("dashboard:connection", pk=connection.pk)
    wanted = request.POST["enabled"] == "1"
    if connection.enabled != wanted:
        connection.enabled = wanted
        connection.save(update_fields=["enabled"])  # the source's schedule follows the switch
    if wanted:
        messages.success(request, _("The connection is on: new and changed orders are synced again."))
        if not licence_of(request, connection).ok:
            messages.warning(
                request, _("The licence is missing or expired, so nothing is sent until it is renewed.")
            )
    else:
        messages.success(
            request,
            _("The connection is off: orders are not read or sent until you switch it on again."),
        )
    return redirect("dashboard:connection", pk=connection.pk)


@role_required(OWNER)
@require_POST
def set_alert_email(request, pk):
    connection = scoped_object_or_404(request, Connection, pk=pk)
    form = AlertEmailForm(request.POST)
    if not form.is_valid():
        return _page(request, connection, alert_form=form)
    connection.alert_email = form.cleaned_data["alert_email"]
    connection.alert_language = form.cleaned_data["alert_language"] or translation.get_language()
    connection.save(update_fields=["alert_email", "alert_language"])
    if connection.alert_email:
        messages.success(
            request,
            _("Alerts about documents that need a person now go to %(email)s.")
            % {"email": connection.alert_email},
        )
    else:
        messages.success(request, _("No alert e-mails will be sent for this connection."))
    return redirect("dashboard:connection", pk=connection.pk)


@role_required(OWNER)
@require_POST
def set_schedule(request, pk):
    connection = scoped_object_or_404(request, Connection, pk=pk)
    if schedule_of(connection) is None:
        messages.error(request, _("This connection has no schedule to change."))
        return redirect("dashboard:connection", pk=connection.pk)
    form = ScheduleForm(request.POST)
    if not form.is_valid():
        return _page(request, connection, schedule_form=form)
    schedule = connection.source.set_schedule(
        connection, every_minutes=form.cleaned_data["every_minutes"], enabled=form.cleaned_data["enabled"]
    )
    if schedule.running:
        messages.success(
            request,
            _("Orders are read every %(minutes)s minutes.") % {"minutes": form.cleaned_data["every_minutes"]},
        )
    elif not connection.enabled:
        messages.warning(
            request,
            _("Interval saved. The connection is off, so the scheduled sync waits until it is switched on."),
        )
    else:
        messages.success(
            request, _("The scheduled sync is off: only webhooks and manual syncs bring orders in.")
        )
    return redirect("dashboard:connection", pk=connection.pk)


@role_required(ACCOUNTANT)
@require_POST
def start_sync(request, pk):
    connection = scoped_object_or_404(request, Connection, pk=pk)
    source = source_of(connection)
    if source is None or not source.manual_sync:
        messages.error(request, _("This connection cannot be synced by hand yet."))
        return redirect("dashboard:connection", pk=connection.pk)
    form = ManualSyncForm(request.POST)
    if not form.is_valid():
        return _page(request, connection, sync_form=form)
    if not connection.enabled:
        form.add_error(None, _("The connection is off: switch it on before syncing by hand."))
        return _page(request, connection, sync_form=form)
    status = licence_of(request, connection)
    if not status.ok:
        form.add_error(
            None,
            _("The %(family)s licence is missing or expired: nothing can be synced until it is renewed.")
            % {"family": status.family_label},
        )
        return _page(request, connection, sync_form=form)
    token = form.cleaned_data["request_token"]
    try:
        run, started = start_run_once(
            scoped(request, SyncRun),
            token,
            lambda: source.start_manual_sync(
                connection,
                date_from=form.cleaned_data["date_from"],
                date_to=form.cleaned_data["date_to"],
                user=request.user,
                request_token=token,
            ),
        )
    except ValueError as exc:  # the service's own check of the range
        form.add_error(None, str(exc))
        return _page(request, connection, sync_form=form)
    run_url = f"{reverse('dashboard:connection', kwargs={'pk': connection.pk})}#run-{run.pk}"
    if not started:
        messages.info(request, _("This manual sync was already started: here is how far it got."))
        return redirect(run_url)
    messages.success(
        request,
        _("Manual sync #%(run)s started for orders created %(start)s – %(end)s; its progress shows below.")
        % {
            "run": run.pk,
            "start": form.cleaned_data["date_from"].isoformat(),
            "end": form.cleaned_data["date_to"].isoformat(),
        },
    )
    return redirect(run_url)


urlpatterns = [
    path("connections/<int:pk>/", connection_detail, name="connection"),
    path("connections/<int:pk>/enabled/", set_enabled, name="connection_enabled"),
    path("connections/<int:pk>/alerts/", set_alert_email, name="connection_alerts"),
    path("connections/<int:pk>/schedule/", set_schedule, name="connection_schedule"),
    path("connections/<int:pk>/sync/", start_sync, name="connection_sync"),
]
