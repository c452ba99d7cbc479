"""Invoices (maventa-severa.md §3): ``GET /v1/invoices`` filtered by ``invoiceStatusGuids`` (the key repeated
per value), ``changedSince`` (last change ≥ it), ``customerGuids``, ``numbers``, paged by ``rowCount`` and
``pageToken`` with the next page's token in the ``NextPageToken`` response header; one invoice; its rows
(``/invoicerows``, paged the same way), its ``/invoicesettings`` (reverse charge), its ``/pdf``; and the
status change by JSON Patch (``PATCH /v1/invoices/{guid}``, ``application/json-patch+json``).

Sandbox choices where Severa is silent or Unconfirmed: ``rowCount`` defaults to 20 and is at most 100 on
both lists (more is an InvalidParameter); pages are offsets into the list as it is when the page is read,
ordered by last change then number, so an invoice that leaves the filter between two pages shifts the next
page (the poll after catches it); a page token belongs to the query it came from (another query answers
InvalidParameter). The status is changed by ``[{"op": "replace", "path": "/status/guid", "value": guid}]``
(the path is the knob ``status_patch_path``; any other path, op or a status that does not exist is an
InvalidParameter); ops are matched case-insensitively (the spec's enum is ``Replace``); a content type other
than ``application/json-patch+json`` answers 415. The answer is a one-element list of the changed invoice
(the spec's ``[InvoiceOutputModel]``). The PDF comes as ``application/pdf`` bytes."""

from __future__ import annotations

import secrets
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from ..core import Request, Response, json_response
from .helpers import (
    CENT,
    SeveraError,
    amount,
    count_param,
    guid,
    invalid,
    iso,
    not_found,
    parse_moment,
)
from .state import Invoice

if TYPE_CHECKING:
    from .simulator import SeveraSimulator

DEFAULT_ROWS = 20
MAX_ROWS = 100
PATCH_TYPE = "application/json-patch+json"
PATCH_OPS = ("add", "copy", "move", "remove", "replace")


def row_net(row: dict) -> Decimal:
    return (Decimal(str(row["quantity"])) * Decimal(str(row["unitPrice"]["amount"]))).quantize(
        CENT, ROUND_HALF_UP
    )


def totals(invoice: Invoice) -> tuple[Decimal, Decimal]:
    """(total excluding tax, tax): nets per row, tax per VAT rate on the group's net."""
    groups: dict[Decimal, Decimal] = {}
    for row in invoice.rows:
        rate = Decimal(str(row["vatRate"]))
        groups[rate] = groups.get(rate, Decimal(0)) + row_net(row)
    net = sum(groups.values(), Decimal(0))
    tax = sum(((g * r / 100).quantize(CENT, ROUND_HALF_UP) for r, g in groups.items()), Decimal(0))
    return net, tax


def pdf_bytes(invoice: Invoice) -> bytes:
    """A small but well-formed one-page PDF naming the invoice."""
    text = f"Invoice {invoice.number} ({invoice.guid})".encode("latin-1", "replace")
    stream = b"BT /F1 12 Tf 72 720 Td (" + text + b") Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


class Invoices:
    def __init__(self, sim: SeveraSimulator):
        self.sim = sim

    def register(self, router) -> None:
        router.add("GET", "/v1/invoices", self.list, scope="invoices:read")
        router.add("GET", "/v1/invoices/{guid}/invoicerows", self.rows, scope="invoices:read")
        router.add("GET", "/v1/invoices/{guid}/invoicesettings", self.settings, scope="invoices:read")
        router.add("GET", "/v1/invoices/{guid}/pdf", self.pdf, scope="files:read")
        router.add("GET", "/v1/invoices/{guid}", self.one, scope="invoices:read")
        router.add("PATCH", "/v1/invoices/{guid}", self.patch, scope="invoices:write")

    # --- views -----------------------------------------------------------------------------------

    def invoice_json(self, invoice: Invoice) -> dict:
        sim = self.sim
        status = sim.statuses[invoice.status]
        customer = sim.customers[invoice.customer]
        currency = invoice.header["currency"]["code"]
        net, tax = totals(invoice)
        out = {"guid": invoice.guid, "number": invoice.number}
        out.update(invoice.header)
        out.update(
            {
                "status": {
                    "guid": status["guid"],
                    "name": status["name"],
                    "isSent": status["isSent"],
                    "isWaitingPayment": status["isWaitingPayment"],
                    "isPaid": status["isPaid"],
                },
                "customer": {
                    "guid": invoice.customer,
                    "name": customer["name"],
                    "number": customer["number"],
                },
                "billingCustomer": {
                    "guid": invoice.customer,
                    "name": customer["name"],
                    "number": customer["number"],
                },
                "totalExcludingTax": amount(net, currency),
                "totalTax": amount(tax, currency),
                "totalIncludingTax": amount(net + tax, currency),
                "lastUpdatedDateTime": iso(invoice.updated),
                "canBeDeleted": not status["hasInvoiceNumber"],
            }
        )
        return out

    def _find(self, value: str) -> Invoice:
        key = guid(value, "guid")
        invoice = self.sim.invoices.get(key)
        if invoice is None:
            raise not_found("Invoice", key)
        return invoice

    def _page(self, request: Request, kind: str, items: list, default: int) -> tuple[list, dict]:
        """One page of `items` and the headers that come with it (``NextPageToken`` when there is more)."""
        sim = self.sim
        size = count_param(request.arg("rowCount"), "rowCount", default=default, maximum=MAX_ROWS)
        signature = (
            kind,
            tuple(
                sorted((k, tuple(v)) for k, v in request.query.items() if k not in ("pageToken", "rowCount"))
            ),
        )
        offset = 0
        token = request.arg("pageToken")
        if token:
            found = sim.page_tokens.pop(token, None)
            if found is None or found[0] != signature:
                raise invalid("Parameter pageToken is not valid for this query")
            offset = found[1]
        page = items[offset : offset + size]
        headers = {}
        if offset + size < len(items):
            following = secrets.token_urlsafe(18)
            sim.page_tokens[following] = (signature, offset + size)
            headers["NextPageToken"] = following
        return page, headers

    def list(self, request: Request) -> Response:
        sim = self.sim
        statuses = {
            guid(v, "invoiceStatusGuids") for v in request.query.get("invoiceStatusGuids", []) if v != ""
        }
        customers = {guid(v, "customerGuids") for v in request.query.get("customerGuids", []) if v != ""}
        numbers = set()
        for value in request.query.get("numbers", []):
            try:
                numbers.add(int(value))
            except ValueError as exc:
                raise invalid(f"Parameter numbers must be integers: {value!r}") from exc
        since = request.arg("changedSince")
        since = parse_moment(since, "changedSince") if since else None
        with sim.lock:
            chosen = sorted(
                (
                    inv
                    for inv in sim.invoices.values()
                    if (not statuses or inv.status in statuses)
                    and (not customers or inv.customer in customers)
                    and (not numbers or inv.number in numbers)
                    and (since is None or inv.updated >= since)
                ),
                key=lambda inv: (inv.updated, inv.number or 0, inv.guid),
            )
            page, headers = self._page(request, "invoices", chosen, DEFAULT_ROWS)
            return json_response([self.invoice_json(inv) for inv in page], headers=headers)

    def one(self, request: Request, guid: str) -> Response:
        with self.sim.lock:
            return json_response(self.invoice_json(self._find(guid)))

    def rows(self, request: Request, guid: str) -> Response:
        row_type = request.arg("rowType")
        with self.sim.lock:
            invoice = self._find(guid)
            rows = [dict(r) for r in invoice.rows if not row_type or r["rowType"] == row_type]
            page, headers = self._page(request, f"rows:{invoice.guid}", rows, DEFAULT_ROWS)
            return json_response(page, headers=headers)

    def settings(self, request: Request, guid: str) -> Response:
        with self.sim.lock:
            return json_response(dict(self._find(guid).settings))

    def pdf(self, request: Request, guid: str) -> Response:
        invoice_type = request.arg("invoiceType") or "Invoice"
        if invoice_type not in ("Invoice", "Reminder"):
            raise invalid("Parameter invoiceType must be Invoice or Reminder")
        options = request.arg("pdfGetOptions") or "All"
        if options not in ("All", "InvoiceOnly", "AttachmentAndBreakdown"):
            raise invalid("Parameter pdfGetOptions must be All, InvoiceOnly or AttachmentAndBreakdown")
        with self.sim.lock:
            invoice = self._find(guid)
            invoice.pdf_requests += 1
            body = pdf_bytes(invoice)
        return Response(
            200,
            {
                "Content-Type": "application/pdf",
                "Content-Disposition": f'attachment; filename="{invoice.number}.pdf"',
            },
            body,
        )

    def patch(self, request: Request, guid: str) -> Response:
        sim = self.sim
        content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type != PATCH_TYPE:
            raise SeveraError(
                415, "InvalidRequest", f"Content type must be {PATCH_TYPE}, not {content_type or 'none'}"
            )
        ops = request.json()
        if not isinstance(ops, list) or not ops:
            raise invalid("The body must be a JSON Patch document: a non-empty array of operations")
        wanted_path = sim.knobs["status_patch_path"]
        new_status = None
        for op in ops:
            if (
                not isinstance(op, dict)
                or not isinstance(op.get("op"), str)
                or not isinstance(op.get("path"), str)
            ):
                raise invalid("Every JSON Patch operation needs op and path")
            name = op["op"].lower()
            if name not in PATCH_OPS:
                raise invalid(f"Unknown JSON Patch op {op['op']!r}")
            if not op["path"].startswith("/"):
                raise invalid(f"JSON Patch path must start with '/': {op['path']!r}")
            if name != "replace" or op["path"].lower() != wanted_path.lower():
                raise invalid(f"Property {op['path']!r} cannot be changed with {op['op']!r}")
            if "value" not in op or not isinstance(op["value"], str):
                raise invalid(f"JSON Patch operation on {op['path']} needs a string value")
            new_status = op["value"]
        with sim.lock:
            invoice = self._find(guid)
            status_key = new_status.lower()
            status = sim.statuses.get(status_key)
            if status is None or not status["isActive"]:
                raise invalid(f"Invoice status {new_status} does not exist or is not active")
            sim.move(invoice, status_key)
            return json_response([self.invoice_json(invoice)])
