"""Alert digests: one e-mail per connection listing what needs a person, not one mail per order.

Written in the language chosen for the connection's alert address (its owner picks it next to the
address), whatever language the worker runs in. Besides the documents that failed, it names the checked days
that do not match their target (``ReconciledDay``): each once, and again only when what differs changes.
"""

import datetime as dt

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from connectors.models import Connection

from . import reconciled
from .models import ReconciledDay, SyncCursor, SyncDocument

NEEDS_A_PERSON = (SyncDocument.State.FAILED, SyncDocument.State.BLOCKED)
LISTED = 50
DAYS_BACK = 62  # checked days older than this are not mailed about any more (the calendar still shows them)


def send_digests(now=None) -> int:
    """Mail each connection's alert address about documents that failed since its last digest."""
    now = now or timezone.now()
    sent = 0
    for connection in Connection.objects.select_related("tenant"):
        recipients = _recipients(connection)
        if not recipients:
            continue
        cursor = SyncCursor.objects.filter(connection=connection, name="alert_digest").first()
        docs = SyncDocument.objects.filter(connection=connection, state__in=NEEDS_A_PERSON)
        if cursor is not None:
            docs = docs.filter(updated_at__gt=cursor.value)
        docs = list(docs.select_related("account", "connection").order_by("-updated_at")[: LISTED + 1])
        days = unreported_days(connection, now=now)
        if docs or days:
            with translation.override(connection.alert_language or settings.LANGUAGE_CODE):
                _mail(connection, docs, recipients, days)
            sent += 1
            for day in days:
                ReconciledDay.objects.filter(pk=day.pk).update(reported=reconciled.fingerprint(day))
        SyncCursor.objects.update_or_create(
            connection=connection, name="alert_digest", defaults={"value": now}
        )
    return sent


def _recipients(connection) -> list[str]:
    """The connection's alert address and the ones its target's accounts name (Maventa's error e-mails)."""
    found = [connection.alert_email] if connection.alert_email else []
    for email in connection.target.alert_recipients(connection):
        if email and email.lower() not in {f.lower() for f in found}:
            found.append(email)
    return found


def unreported_days(connection, *, now=None) -> list[ReconciledDay]:
    """The connection's recent checked days that do not match and were not mailed as they are now.

    A day that matches again is remembered as matching, so that the same difference coming back later is
    news again.
    """
    since = timezone.localdate(now or timezone.now()) - dt.timedelta(days=DAYS_BACK)
    found = []
    days = ReconciledDay.objects.filter(connection=connection, day__gte=since)
    for day in days.select_related("account__connection").order_by("day", "account__external_id"):
        mark = reconciled.fingerprint(day)
        if mark == day.reported:
            continue
        if reconciled.state(day) == reconciled.MATCHES:
            if day.reported:
                ReconciledDay.objects.filter(pk=day.pk).update(reported=mark)
            continue
        found.append(day)
    return found


def _day_lines(connection, days) -> list[str]:
    if not days:
        return []
    calendar = reverse("dashboard:reconciliation", args=[connection.pk])
    lines = [
        ngettext(
            "%(count)s checked day of %(connection)s does not match its target.",
            "%(count)s checked days of %(connection)s do not match their target.",
            len(days),
        )
        % {"count": len(days), "connection": connection.name},
        _("See each difference, and retry what can be retried, in the reconciliation calendar: %(url)s")
        % {"url": f"{settings.PUBLIC_BASE_URL}{calendar}?month={days[-1].day:%Y-%m}"},
        "",
    ]
    by_tag = {}
    for day in days:
        by_tag.setdefault(day.account.tag, []).append(day)
    for tag, group in sorted(by_tag.items()):
        lines.append(tag)
        for day in group:
            if reconciled.state(day) == reconciled.ERROR:
                words = _("could not be checked: %(error)s") % {"error": day.error_display}
            else:
                counts = reconciled.counts_by_kind(day)
                words = "; ".join(f"{reconciled.kind_label(kind)}: {n}" for kind, n in counts.items())
                words = words or str(reconciled.STATE_LABELS[reconciled.DIFFERS])
            link = reverse("dashboard:reconciliation_day", args=[connection.pk, day.account_id, day.day])
            lines.append(f"  - {day.day.isoformat()}: {words}")
            lines.append(f"    {settings.PUBLIC_BASE_URL}{link}")
        lines.append("")
    return lines


def _mail(connection, docs, recipients, days=()) -> None:
    days = list(days)
    if not docs:
        tags = ", ".join(sorted({day.account.tag for day in days}))
        send_mail(
            subject=ngettext(
                "[LedgerLink] %(count)s day does not match — %(tags)s",
                "[LedgerLink] %(count)s days do not match — %(tags)s",
                len(days),
            )
            % {"count": len(days), "tags": tags},
            message="\n".join(_day_lines(connection, days)),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=recipients,
        )
        return
    shown = docs[:LISTED]
    by_tag = {}
    for doc in shown:
        by_tag.setdefault(doc.tag, []).append(doc)
    count = f"{len(shown)}{'+' if len(docs) > LISTED else ''}"
    lines = [
        ngettext(
            "%(count)s document of %(connection)s needs a person.",
            "%(count)s documents of %(connection)s need a person.",
            len(shown),
        )
        % {"count": count, "connection": connection.name},
        _("Fix the cause, then retry them from the Logs screen (filter: state Failed / Needs a person)."),
        "",
    ]
    for tag, group in sorted(by_tag.items()):
        lines.append(tag)
        lines.extend(
            "  - "
            + _("%(object)s %(order)s (%(kind)s): %(error)s")
            % {
                "object": connection.source.object_label,
                "order": d.source_label or d.source_id,
                "kind": d.kind_label,
                "error": d.error_display,
            }
            for d in group
        )
        lines.append("")
    lines.extend(_day_lines(connection, days))
    tags = ", ".join(sorted(by_tag))
    send_mail(
        subject=ngettext(
            "[LedgerLink] %(count)s document needs attention — %(tags)s",
            "[LedgerLink] %(count)s documents need attention — %(tags)s",
            len(shown),
        )
        % {"count": count, "tags": tags},
        message="\n".join(lines),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=recipients,
    )
