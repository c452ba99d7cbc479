"""Looking issued invoices up: ``invoice/status`` by TransactionID or RefID (how a client learns whether
a lost publish went through) and ``invoice/paging`` by date, with the tax authority's answer
(``SendTaxStatus``) as it stands on the simulator clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..core import Request, Response, Router, json_response
from .helpers import ApiError, iso_vn, json_text, lower_keys, net_date, parse_day, pascal, truthy
from .state import Account, Invoice

if TYPE_CHECKING:
    from .simulator import MeInvoiceSimulator

MAX_IDS_PER_LOOKUP = 50  # sandbox: more answer HTTP 400 InvoiceQuantityTooLarge
MAX_TAKE = 100


class Lookups:
    def __init__(self, sim: MeInvoiceSimulator):
        self.sim = sim

    def register(self, router: Router) -> None:
        router.add("POST", "/invoice/status", self.status)
        router.add("POST", "/invoice/paging", self.paging)

    def status(self, request: Request, context: dict, account: Account) -> Response:
        ids = request.json()
        if not isinstance(ids, list):
            raise ApiError(400, "InvalidInvoiceData", "Body must be a JSON array of ids")
        if len(ids) > MAX_IDS_PER_LOOKUP:
            raise ApiError(400, "InvoiceQuantityTooLarge", f"Tối đa {MAX_IDS_PER_LOOKUP} mã mỗi lần tra cứu")
        input_type = request.arg("inputType") or "1"
        if input_type not in ("1", "2"):
            raise ApiError(400, "InvalidInvoiceData", "inputType is 1 (TransactionID) or 2 (RefID)")
        keep = _with_code_filter(request)
        calcu = _calcu_filter(request)
        with self.sim.lock:
            rows, seen = [], set()
            for key in ids:
                if key is None:
                    continue
                key = str(key).strip()
                invoice = account.by_tx.get(key) if input_type == "1" else account.find_ref(key)
                if invoice is not None and keep(invoice) and calcu(invoice) and invoice.seq not in seen:
                    seen.add(invoice.seq)
                    rows.append(status_row(self.sim, invoice))
        return json_response(pascal(True, json_text(rows)))

    def paging(self, request: Request, context: dict, account: Account) -> Response:
        body = request.json()
        if not isinstance(body, dict):
            raise ApiError(400, "InvalidInvoiceData", "Body must be {FromDate, ToDate, Skip, Take}")
        fields = lower_keys(body)
        start, end = parse_day(fields.get("fromdate")), parse_day(fields.get("todate"))
        if start is None or end is None:
            raise ApiError(400, "InvalidInvoiceData", "FromDate and ToDate are yyyyMMdd dates")
        try:
            skip = int(fields.get("skip") or 0)
            take = int(fields.get("take") if fields.get("take") is not None else MAX_TAKE)
        except (TypeError, ValueError) as exc:
            raise ApiError(400, "InvalidInvoiceData", "Skip and Take are integers") from exc
        if skip < 0 or take < 1 or take > MAX_TAKE:
            raise ApiError(400, "InvalidInvoiceData", f"Take is between 1 and {MAX_TAKE}")
        keep = _with_code_filter(request)
        calcu = _calcu_filter(request, default=None)
        with self.sim.lock:
            chosen = sorted(
                (
                    inv
                    for inv in account.invoices
                    if start <= inv.inv_date <= end and keep(inv) and calcu(inv) and not inv.deleted
                ),
                key=lambda inv: (inv.inv_date, inv.seq),
            )
            rows = []
            for invoice in chosen[skip : skip + take]:
                row = status_row(self.sim, invoice)
                row["InvDate"] = net_date(invoice.inv_date)
                data = invoice.data
                for name in (
                    "BuyerLegalName",
                    "BuyerFullName",
                    "BuyerTaxCode",
                    "CurrencyCode",
                    "TotalAmountWithoutVAT",
                    "TotalVATAmount",
                    "TotalAmount",
                ):
                    row[name] = data.get(name)
                rows.append(row)
        # MISA's paging answer: one page and how many invoices the whole range holds
        return json_response(pascal(True, json_text({"PageData": rows, "TotalCount": len(chosen)})))


def _with_code_filter(request: Request) -> Callable[[Invoice], bool]:
    """sandbox: ``invoiceWithCode`` selects series with (``C``) or without (``K``) a tax-authority code, so
    an invoice of a ``K`` series is not found with ``invoiceWithCode=true``; absent: both."""
    with_code = truthy(request.arg("invoiceWithCode"))
    return lambda inv: with_code is None or (inv.inv_series[1] == "C") == with_code


def _calcu_filter(request: Request, default: bool | None = False) -> Callable[[Invoice], bool]:
    """sandbox: ``invoiceCalcu=true`` asks about invoices of cash-register series (5th character ``M``)
    and only those; ``false`` (the default on ``invoice/status``) about the others — an ``M`` invoice
    asked without ``invoiceCalcu=true`` is not found."""
    calcu = truthy(request.arg("invoiceCalcu"))
    calcu = default if calcu is None else calcu
    return lambda inv: calcu is None or is_cash_register(inv.inv_series) == calcu


def is_cash_register(series: str) -> bool:
    return len(series) == 7 and series[4] == "M"


def answer_form(sim: MeInvoiceSimulator, row: dict) -> dict:
    """A row as MISA words it (knobs ``series_form``, ``upper_ref_ids``): the series split into
    ``InvTemplateNo`` + 6 characters, the RefID upper-case."""
    series = row.get("InvSeries")
    if sim.knobs["series_form"] == "split" and isinstance(series, str) and len(series) == 7:
        row = {**row, "InvTemplateNo": series[0], "InvSeries": series[1:]}
    if sim.knobs["upper_ref_ids"] and isinstance(row.get("RefID"), str):
        row = {**row, "RefID": row["RefID"].upper()}
    return row


def status_row(sim: MeInvoiceSimulator, invoice: Invoice, *, as_misa: bool = True) -> dict:
    """An ``invoice/status`` row: no ``InvDate`` (MISA's rows carry ``PublishedTime``), in MISA's
    wording (`answer_form`) unless ``as_misa`` is false (the control endpoints)."""
    row = {
        "RefID": invoice.ref_id,
        "InvSeries": invoice.inv_series,
        "TransactionID": invoice.transaction_id,
        "InvNo": invoice.number,
        "InvoiceCode": invoice.inv_code,
        "PublishStatus": 1,
        "PublishedTime": iso_vn(invoice.published_wall),
        "EInvoiceStatus": invoice.einvoice_status,
        "ReferenceType": invoice.reference_type,
        "SendTaxStatus": sim.send_tax_status(invoice),
        "IsDelete": invoice.deleted,
    }
    return answer_form(sim, row) if as_misa else row


def control_row(sim: MeInvoiceSimulator, invoice: Invoice) -> dict:
    """A status row with what the control endpoints add: MST, original RefID, total, issue order."""
    row = status_row(sim, invoice, as_misa=False)
    row.update(
        {
            "InvDate": net_date(invoice.inv_date),
            "MST": invoice.tax_code,
            "OrgRefID": invoice.org_ref_id,
            "TotalAmount": invoice.data.get("TotalAmount"),
            "Seq": invoice.seq,
        }
    )
    return row
