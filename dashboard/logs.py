"""The logs: one row per document, filters, a CSV of them, and one document's timeline with its actions."""

import csv
import json
import logging
from urllib.parse import urlencode

from django.contrib import messages
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from django.views.decorators.http import require_POST

from connectors.http import ApiError
from connectors.middleware import scoped, scoped_object_or_404
from syncjobs.models import RETRYABLE_BY_PERSON, SyncAttempt, SyncDocument

from .access import ACCOUNTANT, can_retry, role_required
from .connection import source_label, source_of
from .filters import DocumentFilterForm
from .forms import CorrectionReferenceForm

log = logging.getLogger(__name__)

State = SyncDocument.State


# --- the list ---------------------------------------------------------------------------------------------


def list_context(request, form, page, *, url: str) -> dict:
    """The filter, the page and the links around it: what the results partials render."""
    query = urlencode(form.query_pairs())

    def link(**cursor):
        return f"{url}?{urlencode([*form.query_pairs(), *cursor.items()])}"

    if page.cursor_ignored:
        messages.info(request, _("That page link was no longer valid: here are the newest documents."))
    return {
        "form": form,
        "page": page,
        "query": query,
        "first_url": f"{url}?{query}",
        "next_url": link(after=page.next_cursor) if page.next_cursor else "",
        "prev_url": link(before=page.prev_cursor) if page.prev_cursor else "",
    }


def render_list(request, context, *, page_template: str, partial_template: str, target: str):
    """The whole page, or only the results when htmx asks for them (filters, pages)."""
    partial = request.htmx and request.htmx.target == target and not request.htmx.history_restore_request
    response = render(request, partial_template if partial else page_template, context)
    patch_vary_headers(response, ("HX-Request", "HX-Target"))
    return response


@role_required()
def document_list(request):
    form = DocumentFilterForm(request.GET, request=request)
    page = form.page(after=request.GET.get("after"), before=request.GET.get("before"))
    context = list_context(request, form, page, url=reverse("dashboard:logs"))
    context["export_url"] = f"{reverse('dashboard:logs_export')}?{context['query']}"
    return render_list(
        request,
        context,
        page_template="dashboard/logs.html",
        partial_template="dashboard/_logs_results.html",
        target="logs-results",
    )


# --- CSV --------------------------------------------------------------------------------------------------


class _Echo:
    def write(self, value):
        return value


def _cell(value) -> str:
    """Text as Excel must show it: never a formula (a cell starting with = + - @ is one)."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@role_required()
def export_csv(request):
    form = DocumentFilterForm(request.GET, request=request)
    if not form.is_valid():
        messages.error(request, _("The filter has a problem (see below): nothing was exported."))
        return redirect(f"{reverse('dashboard:logs')}?{urlencode(form.query_pairs())}")
    writer = csv.writer(_Echo())
    header = [
        pgettext("sales order", "Order"),
        _("Account"),
        _("Connection"),
        _("Kind"),
        _("State"),
        _("Attempts"),
        _("Last error"),
        _("Updated"),
        _("Document"),
        _("Source id"),
    ]

    def lines():
        yield "\ufeff" + writer.writerow(header)  # the BOM tells Excel the file is UTF-8 (Vietnamese text)
        for doc in form.iter_rows(chunk=2000):
            yield writer.writerow(
                [
                    _cell(doc.source_label or doc.source_id),
                    _cell(doc.tag),
                    _cell(doc.connection.name),
                    _cell(doc.kind_label),
                    _cell(doc.get_state_display()),
                    doc.attempts,
                    _cell(doc.error_display),
                    timezone.localtime(doc.updated_at).strftime("%Y-%m-%d %H:%M:%S"),
                    doc.pk,
                    _cell(doc.source_id),
                ]
            )

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="ledgerlink-documents-{stamp}.csv"'
    return response


# --- one document -----------------------------------------------------------------------------------------


def _pretty(value) -> str:
    if value in (None, "", {}, []):
        return ""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)


def source_link(document) -> str | None:
    """The object in the source's own admin screens, as the source adapter builds it."""
    source = source_of(document.connection)
    return source.admin_url(document.connection, document) if source else None


def lookup_link(document) -> tuple[str, str | None]:
    """(lookup code, the page where anyone can look the issued document up with it), as the target says."""
    found = document.connection.target.lookup_link(document)
    return found or ("", None)


@role_required()
def document_detail(request, pk):
    return _document_page(request, pk)


def _document_page(request, pk, bound_form=None):
    document = get_object_or_404(
        scoped(request, SyncDocument).select_related("account__connection", "connection"), pk=pk
    )
    timeline = list(scoped(request, SyncAttempt).filter(document=document).order_by("created_at", "id"))
    for attempt in timeline:
        attempt.request_json, attempt.response_json = _pretty(attempt.request), _pretty(attempt.response)
    target = document.connection.target
    code, lookup_url = lookup_link(document)
    may_act = can_retry(request)
    context = {
        "document": document,
        "timeline": timeline,
        "target_label": target.label,
        "source_label": source_label(document.connection),
        "kind_label": target.kind_label(document.kind),
        "payload_json": _pretty(document.payload),
        "result_json": _pretty(document.result),
        "source_url": source_link(document),
        "lookup_code": code,
        "lookup_url": lookup_url,
        "can_retry_document": may_act and document.state in RETRYABLE_BY_PERSON and target.processes,
        "can_publish": may_act and document.state == State.DRAFT and target.has_drafts,
        "can_view_draft": bool(
            document.payload
            and document.state in (State.DRAFT, State.QUEUED, State.BLOCKED)
            and target.has_drafts
        ),
    }
    if target.document_template:
        context["target_document_template"] = target.document_template
        context["target_document"] = target.document_context(document)
    if may_act and target.wants_correction_reference(document):
        context["reference_form"] = bound_form or CorrectionReferenceForm()
    return render(request, "dashboard/document.html", context, status=400 if bound_form else 200)


def _document(request, pk) -> SyncDocument:
    return scoped_object_or_404(request, SyncDocument, pk=pk)


def _words(document) -> dict:
    return {"order": document.source_label or document.source_id, "tag": document.tag}


@role_required(ACCOUNTANT)
@require_POST
def document_retry(request, pk):
    document = _document(request, pk)
    kind = document.connection.target
    if not kind.processes:
        messages.error(
            request, _("%(target)s documents cannot be retried from here.") % {"target": kind.label}
        )
    elif document.state not in RETRYABLE_BY_PERSON:
        messages.warning(
            request,
            _("Order %(order)s on %(tag)s is %(state)s: there is nothing to retry.")
            % {**_words(document), "state": str(document.get_state_display()).lower()},
        )
    elif kind.retry([document], user=request.user):
        messages.success(
            request,
            _("Order %(order)s on %(tag)s will be sent again in a moment; its timeline shows how it goes.")
            % _words(document),
        )
    else:
        document.refresh_from_db()
        messages.warning(
            request,
            _(
                "Order %(order)s on %(tag)s was not retried: it has no account to go to, or it changed "
                "meanwhile (now %(state)s). Check the routing explanation below."
            )
            % {**_words(document), "state": str(document.get_state_display()).lower()},
        )
    return redirect("dashboard:document", pk=document.pk)


@role_required(ACCOUNTANT)
@require_POST
def document_publish(request, pk):
    document = _document(request, pk)
    kind = document.connection.target
    if not kind.has_drafts:
        messages.error(request, _("%(target)s has no drafts to publish.") % {"target": kind.label})
    elif document.state != State.DRAFT:
        messages.warning(
            request,
            _("Order %(order)s on %(tag)s is not a draft any more (now %(state)s): nothing was published.")
            % {**_words(document), "state": str(document.get_state_display()).lower()},
        )
    elif kind.publish_drafts([document]):
        messages.success(
            request,
            _("The draft of order %(order)s is queued for publishing on %(tag)s.") % _words(document),
        )
    else:
        messages.warning(request, _("Nothing was published: the draft changed meanwhile. Look again."))
    return redirect("dashboard:document", pk=document.pk)


@role_required(ACCOUNTANT)
@require_POST
def document_reference(request, pk):
    """The reference of the agreement (or notice) a held correction rests on: stored, then it goes on."""
    document = _document(request, pk)
    target = document.connection.target
    if not target.wants_correction_reference(document):
        messages.warning(
            request,
            _("Order %(order)s on %(tag)s does not wait for an agreement reference (now %(state)s).")
            % {**_words(document), "state": str(document.get_state_display()).lower()},
        )
        return redirect("dashboard:document", pk=document.pk)
    form = CorrectionReferenceForm(request.POST)
    if not form.is_valid():
        return _document_page(request, pk, bound_form=form)
    if target.provide_correction_reference(
        document, text=form.cleaned_data["text"], date=form.cleaned_data["date"], user=request.user
    ):
        document.refresh_from_db()
        messages.success(
            request,
            _("Agreement reference saved for order %(order)s on %(tag)s: the document is now %(state)s.")
            % {**_words(document), "state": str(document.get_state_display()).lower()},
        )
    else:
        messages.warning(request, _("Nothing was saved: the document changed meanwhile. Look again."))
    return redirect("dashboard:document", pk=document.pk)


@role_required()
def document_draft_view(request, pk):
    """The target's own rendering of the draft: a short-lived link asked for when a person clicks."""
    document = scoped_object_or_404(request, SyncDocument, pk=pk)
    kind = document.connection.target
    words = {**_words(document), "target": kind.label}
    if not kind.has_drafts:
        messages.error(request, _("%(target)s cannot show drafts.") % words)
    elif document.account_id is None:
        messages.error(
            request,
            _(
                "Order %(order)s has no account yet, so %(target)s cannot show its draft: fix the routing "
                "(or the default account) and retry the document."
            )
            % words,
        )
    else:
        try:
            return redirect(kind.draft_view_link(document))
        except (ApiError, ValueError) as exc:
            log.info("draft view of document %s failed: %s", document.pk, exc)
            messages.error(
                request,
                _(
                    "%(target)s could not show the draft of order %(order)s on %(tag)s: %(error)s. Try again "
                    "in a minute; if it keeps failing, check this account's credentials on its connection."
                )
                % {**words, "error": exc},
            )
    return redirect("dashboard:document", pk=document.pk)


urlpatterns = [
    path("logs/", document_list, name="logs"),
    path("logs/export.csv", export_csv, name="logs_export"),
    path("documents/<int:pk>/", document_detail, name="document"),
    path("documents/<int:pk>/retry/", document_retry, name="document_retry"),
    path("documents/<int:pk>/publish/", document_publish, name="document_publish"),
    path("documents/<int:pk>/reference/", document_reference, name="document_reference"),
    path("documents/<int:pk>/draft/", document_draft_view, name="document_draft_view"),
]
