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
        with self.sim.lock:
            index = account.by_tx if input_type == "1" else account.by_ref
            rows, seen = [], set()
            for key in ids:
                invoice = index.get(str(key).strip()) if key is not None else None
                if invoice is not None and keep(invoice) and invoice.seq not in seen:
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
        with self.sim.lock:
            chosen = sorted(
                (inv for inv in account.invoices if start <= inv.inv_date <= end and keep(inv)),
                key=lambda inv: (inv.inv_date, inv.seq),
            )
            rows = []
            for invoice in chosen[skip : skip + take]:
                row = status_row(self.sim, invoice)
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
        return json_response(pascal(True, json_text(rows)))


def _with_code_filter(request: Request) -> Callable[[Invoice], bool]:
    """sandbox: ``invoiceWithCode`` selects series with (``C``) or without (``K``) a tax-authority code, so
    an invoice of a ``K`` series is not found with ``invoiceWithCode=true``; absent: both."""
    with_code = truthy(request.arg("invoiceWithCode"))
    return lambda inv: with_code is None or (inv.inv_series[1] == "C") == with_code


def status_row(sim: MeInvoiceSimulator, invoice: Invoice) -> dict:
    return {
        "RefID": invoice.ref_id,
        "InvSeries": invoice.inv_series,
        "TransactionID": invoice.transaction_id,
        "InvNo": invoice.number,
        "InvoiceCode": invoice.inv_code,
        "InvDate": net_date(invoice.inv_date),
        "PublishStatus": 1,
        "PublishedTime": iso_vn(invoice.published_wall),
        "EInvoiceStatus": invoice.einvoice_status,
        "ReferenceType": invoice.reference_type,
        "SendTaxStatus": sim.send_tax_status(invoice),
        "IsDelete": False,
    }


def control_row(sim: MeInvoiceSimulator, invoice: Invoice) -> dict:
    """A status row with what the control endpoints add: MST, original RefID, total, issue order."""
    row = status_row(sim, invoice)
    row.update(
        {
            "MST": invoice.tax_code,
            "OrgRefID": invoice.org_ref_id,
            "TotalAmount": invoice.data.get("TotalAmount"),
            "Seq": invoice.seq,
        }
    )
    return row
