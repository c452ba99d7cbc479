"""Bulk retry for accountants: filter what failed, choose (rows or everything matching), confirm the count
per account, then one run that a worker carries out in chunks while the page shows its progress.

The documents are frozen when the confirmation is shown: their ids travel, signed, in the confirmation
form with a one-time token. Starting the run stores that token in a unique column, so a second submission
of the same form (a double click, a reload, two tabs) finds the first run instead of retrying twice.
Every document still goes through its target's own retry (`connection.target.retry`), which locks the
row, checks that it may be retried and writes "Retry asked by <user>" on its timeline.
"""

import logging
import time
import uuid
from collections import Counter, defaultdict
from urllib.parse import urlencode

from django.contrib import messages
from django.core import signing
from django.db import transaction
from django.db.models import F
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from connectors import registry
from connectors.middleware import scoped, scoped_object_or_404
from connectors.models import Connection
from connectors.text import Plural, Text, join, stored, words_of
from syncjobs.models import SyncDocument, SyncRun
from syncjobs.services import start_run_once

from .access import ACCOUNTANT, role_required
from .filters import RetryFilterForm
from .logs import list_context, render_list

log = logging.getLogger(__name__)

MAX_PER_RUN = 50_000  # documents one run may hold (their ids are stored on the run)
CHUNK = 100  # documents per call of the target's retry, and per progress step
BUDGET_SECONDS = 240  # a task hands the rest of its run to a fresh task after this long
CONFIRM_MAX_AGE = 60 * 60  # seconds a confirmation form stays good
STALE_QUEUED = 120  # seconds after which a run still waiting for a worker may be sent again


# --- the frozen selection ---------------------------------------------------------------------------------


def pack_ids(ids) -> list[int]:
    """Sorted ids as differences: tens of thousands of them compress to a few kilobytes."""
    out, last = [], 0
    for pk in sorted(set(ids)):
        out.append(pk - last)
        last = pk
    return out


def unpack_ids(deltas) -> list[int]:
    out, last = [], 0
    for step in deltas:
        last += int(step)
        out.append(last)
    return out


def _salt(request) -> str:
    return f"dashboard.bulk-retry:{request.tenant.pk}:{request.user.pk}"


def _filter_dict(pairs) -> dict:
    grouped = defaultdict(list)
    for name, value in pairs:
        grouped[name].append(value)
    return {name: values if name == "state" else values[0] for name, values in grouped.items()}


def recent_runs(request, limit=10):
    return list(
        scoped(request, SyncRun)
        .filter(kind=SyncRun.Kind.RETRY)
        .select_related("created_by")
        .order_by("-created_at", "-id")[:limit]
    )


# --- screens ----------------------------------------------------------------------------------------------


@role_required(ACCOUNTANT)
def retry_list(request):
    form = RetryFilterForm(request.GET, request=request)
    page = form.page(after=request.GET.get("after"), before=request.GET.get("before"))
    context = list_context(request, form, page, url=reverse("dashboard:retry"))
    # Documents waiting for a person are few next to the whole table: counting them is cheap.
    context.update(
        matching=form.queryset().count() if form.is_valid() else 0,
        hidden_pairs=form.query_pairs(),
        runs=recent_runs(request),
        selectable=True,
    )
    return render_list(
        request,
        context,
        page_template="dashboard/retry.html",
        partial_template="dashboard/_logs_retry_results.html",
        target="retry-results",
    )


@role_required(ACCOUNTANT)
@require_POST
def retry_confirm(request):
    form = RetryFilterForm(request.POST, request=request)
    back = f"{reverse('dashboard:retry')}?{urlencode(form.query_pairs())}"
    if not form.is_valid():
        messages.error(request, _("The filter has a problem: fix it and choose the documents again."))
        return redirect(back)
    scope = "all" if request.POST.get("scope") == "all" else "selected"
    matching = form.queryset().values_list("id", "account_id", "connection_id")
    if scope == "all":
        rows = list(matching.order_by()[: MAX_PER_RUN + 1])
    else:
        wanted = {int(v) for v in request.POST.getlist("ids") if v.isascii() and v.isdigit() and len(v) < 19}
        rows = list(matching.filter(pk__in=wanted)) if wanted else []
    if not rows:
        messages.warning(
            request,
            _("No document chosen: tick the ones to retry, or choose all matching ones. (Documents that "
              "left the failed state meanwhile are left out.)"),
        )  # fmt: skip
        return redirect(back)
    if len(rows) > MAX_PER_RUN:
        messages.error(
            request,
            _("More than %(max)s documents match: narrow the filter (an account, a date range) and retry "
              "them in parts.") % {"max": f"{MAX_PER_RUN:,}"},
        )  # fmt: skip
        return redirect(back)
    counts = Counter(account_id for _pk, account_id, _conn in rows)
    per_account = []
    for account_id, n in counts.items():
        account = form.accounts.get(account_id)
        per_account.append(
            {
                "tag": account.tag if account else _("[no account chosen]"),
                "name": account.name if account else "",
                "count": n,
            }
        )
    per_account.sort(key=lambda a: (-a["count"], a["tag"]))
    per_tag = Counter()  # one MST may be an account on two connections: the run shows their sum
    for a in per_account:
        per_tag[a["tag"]] += a["count"]
    connections = sorted({conn for _pk, _account, conn in rows})
    pairs, words = form.query_pairs(), _describe(form)
    selection = signing.dumps(
        {
            "ids": pack_ids(pk for pk, _a, _c in rows),
            "token": str(uuid.uuid4()),
            "filter": pairs,
            "filter_words": words,
            "scope": scope,
            "accounts": dict(per_tag),
            "connections": connections,
        },
        salt=_salt(request),
        compress=True,
    )
    names = {c.pk: c.name for c in form.connections}
    return render(
        request,
        "dashboard/retry_confirm.html",
        {
            "count": len(rows),
            "per_account": per_account,
            "connection_names": [names[c] for c in connections if c in names],
            "selection": selection,
            "scope": scope,
            "back": back,
            "filter_words": words,
        },
    )


def _describe(form) -> list[str]:
    """The filter in words, for the confirmation."""
    words, values = [], form.cleaned_data
    if values.get("state"):
        labels = dict(form.fields["state"].choices)
        words.append(_("state: %s") % ", ".join(str(labels[s]) for s in values["state"]))
    for name in ("connection", "account", "kind"):
        if values.get(name):
            labels = dict(form.fields[name].choices)
            words.append(f"{form.fields[name].label}: {labels.get(values[name], values[name])}")
    if values.get("updated_from") or values.get("updated_to"):
        words.append(
            _("updated %(start)s – %(end)s")
            % {"start": values.get("updated_from") or "…", "end": values.get("updated_to") or "…"}
        )
    if values.get("order"):
        words.append(_("order %s") % values["order"])
    return words


@role_required(ACCOUNTANT)
@require_POST
def retry_start(request):
    try:
        chosen = signing.loads(
            request.POST.get("selection", ""), salt=_salt(request), max_age=CONFIRM_MAX_AGE
        )
        token = uuid.UUID(chosen["token"])
    except signing.SignatureExpired:
        messages.error(request, _("That confirmation is more than an hour old: choose the documents again."))
        return redirect("dashboard:retry")
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        messages.error(request, _("That confirmation could not be read: choose the documents again."))
        return redirect("dashboard:retry")
    runs = scoped(request, SyncRun)
    connection = scoped(request, Connection).filter(pk__in=chosen["connections"]).order_by("pk").first()
    if connection is None and not runs.filter(request_token=token).exists():
        messages.error(request, _("Those documents' connection is gone: choose the documents again."))
        return redirect("dashboard:retry")
    ids = unpack_ids(chosen["ids"])

    def start():
        run = SyncRun.objects.create(
            connection=connection,
            kind=SyncRun.Kind.RETRY,
            total=len(ids),
            created_by=request.user,
            request_token=token,
            params={
                "filter": _filter_dict(chosen["filter"]),
                "filter_words": chosen.get("filter_words") or [],
                "scope": chosen["scope"],
                "accounts": chosen["accounts"],
                "connections": chosen["connections"],
                "ids": ids,
            },
        )
        transaction.on_commit(lambda: enqueue(run.pk))
        return run

    run, started = start_run_once(runs, token, start)
    if not started:
        messages.info(request, _("This bulk retry was already started: here is how far it got."))
    else:
        messages.success(
            request,
            ngettext(
                "Retrying %(count)s document: the bar below shows how far it got.",
                "Retrying %(count)s documents: the bar below shows how far it got.",
                len(ids),
            )
            % {"count": len(ids)},
        )
    return redirect("dashboard:retry_run", pk=run.pk)


@role_required(ACCOUNTANT)
def retry_run(request, pk):
    run = get_object_or_404(
        scoped(request, SyncRun).select_related("created_by"), pk=pk, kind=SyncRun.Kind.RETRY
    )
    waited = (timezone.now() - run.created_at).total_seconds()
    context = {
        "run": run,
        "per_account": sorted((run.params.get("accounts") or {}).items(), key=lambda kv: (-kv[1], kv[0])),
        "filter_words": run.params.get("filter_words") or [],
        "stale": run.status == SyncRun.Status.QUEUED and waited > STALE_QUEUED,
        "runs": recent_runs(request),
    }
    return render(request, "dashboard/retry_run.html", context)


@role_required(ACCOUNTANT)
@require_POST
def retry_run_resume(request, pk):
    """A run still waiting for a worker (the broker was away) is handed to a worker again."""
    run = scoped_object_or_404(request, SyncRun, pk=pk, kind=SyncRun.Kind.RETRY)
    if run.status == SyncRun.Status.QUEUED:  # a running run has its worker: a second one would redo chunks
        transaction.on_commit(lambda: enqueue(run.pk))
        messages.info(request, _("Sent to a worker again; the bar moves as soon as one picks it up."))
    return redirect("dashboard:retry_run", pk=run.pk)


# --- the work ---------------------------------------------------------------------------------------------


def enqueue(run_id: int) -> None:
    from .tasks import bulk_retry

    try:
        bulk_retry.apply_async(args=(run_id,), retry=False)
    except Exception as exc:  # the broker is away: the run page offers to send it again
        log.warning("Could not enqueue bulk retry run %s: %s", run_id, exc)


def run_bulk_retry(run_id: int, *, chunk: int = CHUNK, budget_seconds: float = BUDGET_SECONDS) -> int:
    """Carry out a bulk retry run from where it stands; returns how many documents were retried now.

    Progress is saved after every chunk with a check that nobody else advanced the run meanwhile (a task
    delivered twice stops at its first chunk), so a run whose worker died is continued by the next
    delivery of its task. Retrying a document twice is harmless: the target kind checks under a row lock.
    What it stores (the run's error and summary) is kept as sentences each reader sees in their language.
    """
    return _run_bulk_retry(run_id, chunk=chunk, budget_seconds=budget_seconds)


def _run_bulk_retry(run_id: int, *, chunk: int, budget_seconds: float) -> int:
    run = SyncRun.objects.select_related("connection__tenant", "created_by").filter(pk=run_id).first()
    finished = (SyncRun.Status.DONE, SyncRun.Status.FAILED)
    if run is None or run.kind != SyncRun.Kind.RETRY or run.status in finished:
        return 0
    if run.status == SyncRun.Status.QUEUED:
        SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.QUEUED).update(
            status=SyncRun.Status.RUNNING, started_at=timezone.now()
        )
        run.refresh_from_db()
    ids = [int(pk) for pk in run.params.get("ids") or []]
    tenant, user = run.connection.tenant, run.created_by
    started, retried_now, problems = time.monotonic(), 0, []
    try:
        while run.processed < len(ids):
            if time.monotonic() - started > budget_seconds:
                enqueue(run.pk)  # the rest in a fresh task (progress so far is committed)
                return retried_now
            part = ids[run.processed : run.processed + chunk]
            retried, trouble = retry_documents(tenant, part, user)
            problems.extend(trouble)
            advanced = SyncRun.objects.filter(
                pk=run.pk, status=SyncRun.Status.RUNNING, processed=run.processed
            ).update(processed=F("processed") + len(part), failed=F("failed") + len(part) - retried)
            if not advanced:  # another delivery of this task is carrying the run on
                return retried_now
            retried_now += retried
            run.refresh_from_db(fields=["processed", "failed", "status"])
    except Exception as exc:
        log.exception("bulk retry run %s stopped", run.pk)
        error, error_text = stored(
            Text(
                "The bulk retry stopped after %(done)s of %(total)s documents: %(error)s. The documents not "
                "reached are still waiting; start a new bulk retry for them.",
                done=run.processed,
                total=len(ids),
                error=words_of(exc),
            )
        )
        SyncRun.objects.filter(pk=run.pk).update(
            status=SyncRun.Status.FAILED, finished_at=timezone.now(), error=error, error_text=error_text
        )
        return retried_now
    error, error_text = stored(_summary(run, problems))
    SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.RUNNING).update(
        status=SyncRun.Status.DONE, finished_at=timezone.now(), error=error, error_text=error_text
    )
    return retried_now


def _summary(run, problems) -> Text | str:
    if not run.failed:
        return ""
    words = Plural(
        "%(failed)s document of %(total)s was not retried: it had left the failed state (retried or fixed "
        "meanwhile), has no account to go to, or no longer exists.",
        "%(failed)s documents of %(total)s were not retried: they had left the failed state (retried or "
        "fixed meanwhile), have no account to go to, or no longer exist.",
        run.failed,
        failed=run.failed,
        total=run.total,
    )
    return join([words, *list(dict.fromkeys(problems))[:20]])


def retry_documents(tenant, ids, user) -> tuple[int, list[Text]]:
    """Retry these documents of this tenant through their target kinds. Returns (retried, problems)."""
    found = SyncDocument.objects.for_tenant(tenant).filter(pk__in=ids)
    found = found.select_related("connection", "account__connection")
    by_kind = defaultdict(list)
    order = {pk: i for i, pk in enumerate(ids)}
    for doc in sorted(found, key=lambda d: order[d.pk]):
        by_kind[doc.connection.target_kind].append(doc)
    retried, problems = 0, []
    for name, docs in by_kind.items():
        kind = registry.target(name)
        if not kind.processes:
            problems.append(Text("%(target)s documents cannot be retried.", target=kind.label))
            continue
        try:
            retried += kind.retry(docs, user=user)
        except Exception:
            # Find the one that breaks: the others go on (a document retried already is not retried again,
            # unless its state still allows it).
            log.exception("bulk retry of %s documents failed; retrying them one by one", kind.label)
            for doc in docs:
                try:
                    retried += kind.retry([doc], user=user)
                except Exception as one:
                    problems.append(
                        Text(
                            "Order %(order)s on %(tag)s could not be retried: %(error)s",
                            order=doc.source_label or doc.source_id,
                            tag=doc.tag,
                            error=words_of(one),
                        )
                    )
    return retried, problems


urlpatterns = [
    path("retry/", retry_list, name="retry"),
    path("retry/confirm/", retry_confirm, name="retry_confirm"),
    path("retry/start/", retry_start, name="retry_start"),
    path("retry/runs/<int:pk>/", retry_run, name="retry_run"),
    path("retry/runs/<int:pk>/resume/", retry_run_resume, name="retry_run_resume"),
]
