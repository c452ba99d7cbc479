"""Preview links: ``invoice/unpublishview`` renders a draft (checked like a publish), ``invoice/publishview``
shows issued invoices, and ``/meinvoice/view/<token>`` serves the page for 5 minutes (410 after)."""

from __future__ import annotations

import uuid
from html import escape
from typing import TYPE_CHECKING, Any

from ..core import Request, Response, Router, json_response, text_response
from .helpers import ApiError, Reject, pascal
from .lookups import MAX_IDS_PER_LOOKUP
from .state import Account, Invoice, View
from .validation import validate

if TYPE_CHECKING:
    from .simulator import MeInvoiceSimulator


class Previews:
    def __init__(self, sim: MeInvoiceSimulator):
        self.sim = sim

    def register(self, router: Router) -> None:
        router.add("POST", "/invoice/unpublishview", self.unpublish_view)
        router.add("POST", "/invoice/publishview", self.publish_view)

    def unpublish_view(self, request: Request, context: dict, account: Account) -> Response:
        body = request.json()
        if isinstance(body, dict) and isinstance(body.get("InvoiceData"), list):
            body = body["InvoiceData"]
        if isinstance(body, list):
            if len(body) != 1:
                raise ApiError(400, "InvalidInvoiceData", "Xem trước từng hóa đơn một")
            body = body[0]
        if not isinstance(body, dict):
            raise ApiError(400, "InvalidInvoiceData", "Body must be one InvoiceData")
        with self.sim.lock:
            try:
                checked = validate(self.sim, account, body, preview=True)
            except Reject as rej:
                context["error_code"] = rej.code
                return json_response(pascal(False, None, rej.code, [rej.description]))
        html = invoice_html(account, body, checked["series"], None, draft=True)
        return json_response(pascal(True, self._new_view(request, html)))

    def publish_view(self, request: Request, context: dict, account: Account) -> Response:
        ids = request.json()
        if not isinstance(ids, list) or not ids:
            raise ApiError(400, "InvalidInvoiceData", "Body must be an array of TransactionIDs")
        if len(ids) > MAX_IDS_PER_LOOKUP:
            raise ApiError(400, "InvoiceQuantityTooLarge")
        with self.sim.lock:
            found = [account.by_tx[str(i)] for i in ids if str(i) in account.by_tx]
            pages = [invoice_html(account, inv.data, inv.inv_series, inv, draft=False) for inv in found]
        if not pages:
            return json_response(pascal(False, None, "InvalidTransactionID", ["InvalidTransactionID"]))
        return json_response(pascal(True, self._new_view(request, "<hr>".join(pages))))

    def view(self, request: Request, token: str) -> Response:
        sim = self.sim
        with sim.lock:
            view = sim.views.get(token)
            expired = view is not None and sim.clock() >= view.expires_at
        if view is None:
            return text_response("<h1>Không tìm thấy hóa đơn</h1>", 404, content_type="text/html")
        if expired:
            return text_response("<h1>Liên kết xem hóa đơn đã hết hạn</h1>", 410, content_type="text/html")
        page = f'<!doctype html><html lang="vi"><meta charset="utf-8"><body>{view.html}</body></html>'
        return text_response(page, content_type="text/html")

    def _base_url(self, request: Request) -> str:
        root = self.sim.knobs.get("public_url")
        if not root:
            host = request.headers.get("Host")
            root = f"http://{host}" if host else self.sim.public_url
        return str(root).rstrip("/") + request.prefix

    def _new_view(self, request: Request, html: str) -> str:
        sim = self.sim
        with sim.lock:
            token = uuid.UUID(int=sim.rng.getrandbits(128), version=4).hex
            sim.views[token] = View(html=html, expires_at=sim.clock() + float(sim.knobs["view_ttl_seconds"]))
        return f"{self._base_url(request)}/view/{token}"


def invoice_html(account: Account, data: dict, series: str, invoice: Invoice | None, *, draft: bool) -> str:
    def cell(value: Any) -> str:
        return f"<td>{escape('' if value is None else str(value))}</td>"

    rows = "".join(
        "<tr>"
        + "".join(
            cell(line.get(k))
            for k in (
                "LineNumber",
                "ItemName",
                "UnitName",
                "Quantity",
                "UnitPrice",
                "VATRateName",
                "Amount",
            )
        )
        + "</tr>"
        for line in data.get("OriginalInvoiceDetail") or []
        if isinstance(line, dict)
    )
    title = "BẢN XEM TRƯỚC – CHƯA PHÁT HÀNH" if draft else "HÓA ĐƠN GIÁ TRỊ GIA TĂNG"
    number = invoice.number if invoice else "(chưa cấp số)"
    lookup = f"<p>Mã tra cứu: {escape(invoice.transaction_id)}</p>" if invoice else ""
    buyer = data.get("BuyerLegalName") or data.get("BuyerFullName") or ""
    return (
        f"<section><h1>{escape(title)}</h1>"
        f"<p>Đơn vị bán: {escape(account.name)} — MST {escape(account.tax_code)}</p>"
        f"<p>Ký hiệu: {escape(series)} Số: {escape(number)} "
        f"Ngày: {escape(str(data.get('InvDate') or ''))}</p>"
        f"<p>Người mua: {escape(str(buyer))} {escape(str(data.get('BuyerTaxCode') or ''))}</p>"
        "<table><tr><th>STT</th><th>Tên hàng</th><th>ĐVT</th><th>SL</th><th>Đơn giá</th>"
        f"<th>Thuế suất</th><th>Thành tiền</th></tr>{rows}</table>"
        f"<p>Tổng tiền thanh toán: {escape(str(data.get('TotalAmount')))}</p>{lookup}</section>"
    )
