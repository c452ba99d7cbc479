"""Target accounts of a connection (one per row: a meInvoice MST, say).

Everything target-specific goes through ``connection.target`` (its adapter): which credentials an account
has, testing them, syncing templates and the series to choose from, copying its master data. Nothing here
imports a provider, so AMIS companies and Maventa organisations use these same pages.
"""

import logging

from django.contrib import messages
from django.db import IntegrityError, transaction
from django.db.models import Count, ProtectedError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from connectors.http import ApiError, RetryableError
from connectors.middleware import scoped, scoped_object_or_404
from connectors.models import Connection, TargetAccount
from connectors.text import words_of

from .access import ACCOUNTANT, ANYONE, OWNER, can_configure, can_retry, role_required
from .forms import AccountForm, AccountOptionsForm

log = logging.getLogger(__name__)


def _connection(request, pk) -> Connection:
    return scoped_object_or_404(request, Connection, pk=pk)


def _account(request, connection, account_pk) -> TargetAccount:
    return get_object_or_404(
        scoped(request, TargetAccount).select_related("connection"), pk=account_pk, connection=connection
    )


def _accounts(request, connection):
    return (
        scoped(request, TargetAccount)
        .filter(connection=connection)
        .select_related("connection")
        .annotate(document_count=Count("documents", distinct=True), rule_count=Count("rules", distinct=True))
        .order_by("-is_default", "external_id")
    )


def _back(request, connection):
    """After a change: back to the list (htmx follows with a full page load, so messages show)."""
    url = reverse("dashboard:accounts", args=[connection.pk])
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


def _row(account, *, notice="", ok=True, options_form=None):
    """One account's row (an account from _accounts, with its counts), for the list and htmx swaps."""
    return {
        "account": account,
        "options_form": options_form or AccountOptionsForm(account=account),
        "credentials": _credential_status(account),
        "series": (account.settings or {}).get("series", ""),
        "notice": notice,
        "notice_ok": ok,
    }


def _credential_status(account) -> list[dict]:
    """Which credentials are set: labels and yes/no, never a value."""
    stored = account.credentials or {}
    return [
        {"key": key, "label": label, "secret": secret, "set": bool(stored.get(key))}
        for key, label, secret in account.connection.target.credential_fields
    ]


def _missing_credentials(account) -> list[str]:
    stored = account.credentials or {}
    return [
        label for key, label, _secret in account.connection.target.credential_fields if not stored.get(key)
    ]


def failure_message(account, action: str, exc: Exception) -> str:
    """An outside call that failed, in words: what, on which account, and what to do next."""
    kind = account.connection.target
    detail = str(words_of(exc)).rstrip(". ") or exc.__class__.__name__
    if isinstance(exc, RetryableError):
        todo = _(
            "%(target)s did not answer properly this time (busy or unreachable); nothing was changed. "
            "Try again in a few minutes."
        ) % {"target": kind.label}
    elif isinstance(exc, ApiError):
        todo = _(
            "Check this account in %(target)s (its credentials, licence and rights), correct them here "
            "under Edit if needed, then try again."
        ) % {"target": kind.label}
    else:
        todo = _("Try again in a few minutes; if it keeps failing, tell us what you did.")
    return _("%(action)s failed on %(tag)s: %(detail)s. %(todo)s") % {
        "action": action,
        "tag": account.tag,
        "detail": detail,
        "todo": todo,
    }


def _abilities(request, kind) -> dict:
    """What the signed-in role may press, and what this target kind offers (templates call callables, so
    the kind's functions are turned into booleans here)."""
    configure = can_configure(request)
    return {
        "can_configure": configure,
        "can_test": can_retry(request) and kind.tests_connection,
        "can_sync": configure and kind.has_templates,
        "has_templates": kind.has_templates,
        "can_sync_master_data": configure and kind.syncs_master_data,
    }


def _context(request, connection, **extra):
    rows = [_row(account) for account in _accounts(request, connection)]
    kind = connection.target
    return {
        "connection": connection,
        "kind": kind,
        "rows": rows,
        "default": next((r["account"] for r in rows if r["account"].is_default), None),
        **_abilities(request, kind),
        **extra,
    }


@role_required(ANYONE)
def account_list(request, pk):
    connection = _connection(request, pk)
    return render(request, "dashboard/accounts.html", _context(request, connection))


@role_required(OWNER)
def account_add(request, pk):
    connection = _connection(request, pk)
    form = AccountForm(request.POST or None, connection=connection)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                account = form.save(commit=False)
                first = not connection.accounts.filter(is_default=True).exists()
                account.is_default = first
                account.save()
        except IntegrityError:
            form.add_error(
                "external_id",
                _("%(tag)s %(id)s was just added by someone else: reload the list.")
                % {"tag": connection.target.tag_label, "id": form.cleaned_data["external_id"]},
            )
        else:
            note = (
                _("Added %(tag)s; it is the default account, since it is the first.")
                if first
                else _("Added %(tag)s.")
            ) % {"tag": account.tag}
            messages.success(request, f"{note} " + _("Test the connection, then sync its templates."))
            return redirect("dashboard:accounts", pk=connection.pk)
    return render(
        request,
        "dashboard/accounts_form.html",
        {"connection": connection, "form": form, "account": None},
    )


@role_required(OWNER)
def account_edit(request, pk, account_pk):
    connection = _connection(request, pk)
    account = _account(request, connection, account_pk)
    form = AccountForm(request.POST or None, connection=connection, instance=account)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                form.save()
        except IntegrityError:
            form.add_error("external_id", _("Another account of this connection has this id already."))
        else:
            messages.success(request, _("Saved %(tag)s.") % {"tag": account.tag})
            return redirect("dashboard:accounts", pk=connection.pk)
    return render(
        request,
        "dashboard/accounts_form.html",
        {"connection": connection, "form": form, "account": account},
    )


@role_required(OWNER)
@require_POST
def account_remove(request, pk, account_pk):
    connection = _connection(request, pk)
    account = _account(request, connection, account_pk)
    tag = account.tag

    def refused(count):
        return ngettext(
            "%(tag)s cannot be removed: %(count)s document (an invoice issued or on its way) belongs to it "
            "and must keep its account. To stop sending new orders there, make another account the default "
            "and change the routing rules that point to it.",
            "%(tag)s cannot be removed: %(count)s documents (invoices issued or on their way) belong to it "
            "and must keep their account. To stop sending new orders there, make another account the default "
            "and change the routing rules that point to it.",
            count,
        ) % {"tag": tag, "count": count}

    documents = account.documents.count()
    if documents:
        messages.error(request, refused(documents))
        return _back(request, connection)
    with transaction.atomic():
        others = (
            TargetAccount.objects.select_for_update()
            .filter(connection=connection)
            .exclude(pk=account.pk)
            .order_by("pk")
        )
        if account.is_default and list(others):
            messages.error(
                request,
                _(
                    "%(tag)s is the default account: make another account the default first "
                    "(“Set default”), then remove this one."
                )
                % {"tag": tag},
            )
            return _back(request, connection)
        rules = account.rules.count()
        try:
            with transaction.atomic():
                account.delete()
        except ProtectedError:
            messages.error(request, refused(account.documents.count()))
            return _back(request, connection)
    if rules:
        messages.success(
            request,
            ngettext(
                "Removed %(tag)s and its %(rules)s routing rule; orders it matched now go to the default "
                "account.",
                "Removed %(tag)s and its %(rules)s routing rules; orders they matched now go to the default "
                "account.",
                rules,
            )
            % {"tag": tag, "rules": rules},
        )
    else:
        messages.success(request, _("Removed %(tag)s.") % {"tag": tag})
    return _back(request, connection)


@role_required(OWNER)
@require_POST
def account_default(request, pk, account_pk):
    connection = _connection(request, pk)
    account = _account(request, connection, account_pk)
    account.make_default()
    messages.success(
        request,
        _("%(tag)s is now the default: orders that no routing rule matches go there.") % {"tag": account.tag},
    )
    return _back(request, connection)


def _call_target(account, what: str, call, missing_message: str):
    """(True, what `call(account)` returned) or (False, why not, in words): missing credentials are said
    before anything is sent, and a failed outside call never shows a stack trace."""
    missing = _missing_credentials(account)
    if missing:
        return False, missing_message % {"tag": account.tag, "missing": ", ".join(str(m) for m in missing)}
    try:
        return True, call(account)
    except Exception as exc:
        if not isinstance(exc, ApiError):
            log.exception("%s of %s failed", what, account.tag)
        return False, failure_message(account, what, exc)


@role_required(ACCOUNTANT)
@require_POST
def account_test(request, pk, account_pk):
    """Log in with the stored credentials; the answer is shown inline, in words."""
    connection = _connection(request, pk)
    account = _account(request, connection, account_pk)
    kind = connection.target
    if not kind.tests_connection:
        raise Http404(_("%(target)s accounts cannot be tested from here.") % {"target": kind.label})
    called, answer = _call_target(
        account,
        _("Test connection"),
        kind.test_connection,
        _("%(tag)s has no %(missing)s yet: add it under Edit, then test again."),
    )
    ok, message = answer if called else (False, answer)
    message = str(message)  # in the page's language
    if called and not ok:
        message = _(
            "%(tag)s: %(detail)s. Check the credentials in %(target)s, correct them here under Edit "
            "if needed, then test again."
        ) % {"tag": account.tag, "detail": str(message).rstrip(". "), "target": kind.label}
    elif ok and account.tag not in message:
        message = f"{account.tag} {message}"
    result = {"ok": ok, "message": message, "account": account}
    if request.htmx:
        return render(request, "dashboard/_account_test_result.html", result)
    (messages.success if ok else messages.error)(request, message)
    return redirect("dashboard:accounts", pk=connection.pk)


@role_required(OWNER)
@require_POST
def account_sync_templates(request, pk, account_pk):
    connection = _connection(request, pk)
    account = _account(request, connection, account_pk)
    kind = connection.target
    if not kind.has_templates:
        raise Http404(_("%(target)s has no templates to sync.") % {"target": kind.label})
    ok, answer = _call_target(
        account,
        _("Syncing the templates"),
        kind.sync_templates,
        _("%(tag)s has no %(missing)s yet: add it under Edit, then sync the templates."),
    )
    if not ok:
        return _row_answer(request, connection, account, answer, ok)
    account.refresh_from_db()
    notice = _("Templates synced for %(tag)s: %(names)s. Series in use: %(series)s.") % {
        "tag": account.tag,
        "names": ", ".join(str(t) for t in answer) or _("none"),
        "series": (account.settings or {}).get("series") or _("none chosen yet"),
    }
    return _row_answer(request, connection, account, notice, ok)


@role_required(OWNER)
@require_POST
def account_sync_master_data(request, pk, account_pk):
    """Copy the account's master data (branches, warehouses, items, …) for the mapping screens; what was
    read, or why not, is shown in the account's row."""
    connection = _connection(request, pk)
    account = _account(request, connection, account_pk)
    kind = connection.target
    if not kind.syncs_master_data:
        raise Http404(_("%(target)s has no master data to sync.") % {"target": kind.label})
    ok, answer = _call_target(
        account,
        _("Syncing the master data"),
        kind.sync_master_data,
        _("%(tag)s has no %(missing)s yet: add it under Edit, then sync the master data."),
    )
    if ok:
        summary = str(answer).strip()  # in the page's language
        answer = summary if account.tag in summary else f"{account.tag} {summary}"
    return _row_answer(request, connection, account, answer, ok)


@role_required(OWNER)
@require_POST
def account_options(request, pk, account_pk):
    """The series to issue on and publish-at-once vs drafts, kept in account.settings."""
    connection = _connection(request, pk)
    account = _account(request, connection, account_pk)
    form = AccountOptionsForm(request.POST, account=account)
    if form.is_valid():
        form.save()
        parts = []
        if "series" in form.fields:
            parts.append(_("series %(series)s") % {"series": form.cleaned_data["series"]})
        if "auto_publish" in form.fields:
            parts.append(
                _("invoices are published at once")
                if form.cleaned_data["auto_publish"]
                else _("invoices wait as drafts for an accountant")
            )
        notice = _("Saved for %(tag)s: %(what)s.") % {"tag": account.tag, "what": "; ".join(parts)}
        return _row_answer(request, connection, account, notice, True)
    errors = "; ".join(e for errs in form.errors.values() for e in errs)
    return _row_answer(request, connection, account, errors, False, options_form=form)


def _row_answer(request, connection, account, notice, ok, options_form=None):
    if request.htmx:
        fresh = _accounts(request, connection).get(pk=account.pk)
        row = _row(fresh, notice=notice, ok=ok, options_form=options_form)
        return render(
            request,
            "dashboard/_account_row.html",
            {
                "row": row,
                "connection": connection,
                "kind": connection.target,
                **_abilities(request, connection.target),
            },
        )
    (messages.success if ok else messages.error)(request, notice)
    return redirect("dashboard:accounts", pk=connection.pk)


urlpatterns = [
    path("connections/<int:pk>/accounts/", account_list, name="accounts"),
    path("connections/<int:pk>/accounts/add/", account_add, name="account_add"),
    path("connections/<int:pk>/accounts/<int:account_pk>/edit/", account_edit, name="account_edit"),
    path("connections/<int:pk>/accounts/<int:account_pk>/remove/", account_remove, name="account_remove"),
    path("connections/<int:pk>/accounts/<int:account_pk>/default/", account_default, name="account_default"),
    path("connections/<int:pk>/accounts/<int:account_pk>/test/", account_test, name="account_test"),
    path(
        "connections/<int:pk>/accounts/<int:account_pk>/templates/",
        account_sync_templates,
        name="account_sync_templates",
    ),
    path(
        "connections/<int:pk>/accounts/<int:account_pk>/master-data/",
        account_sync_master_data,
        name="account_sync_master_data",
    ),
    path("connections/<int:pk>/accounts/<int:account_pk>/options/", account_options, name="account_options"),
]
