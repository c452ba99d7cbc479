"""Publishing with MISA's server-side HSM signing (``POST invoice``): every invoice of a batch succeeds or
fails on its own, numbers run per (MST, series), and an answer can get lost after the invoices were
issued, which is the case a client must survive."""

from __future__ import annotations

import json
import string
import time
from typing import TYPE_CHECKING, Any

from ..core import Request, Response, Router, json_response, text_response
from .helpers import GATEWAY_HTML, ApiError, Reject, iso_vn, json_text, net_date
from .lookups import answer_form, is_cash_register
from .state import Account, Invoice
from .validation import validate

if TYPE_CHECKING:
    from .simulator import MeInvoiceSimulator

MAX_INVOICES_PER_CALL = 50  # more answer HTTP 400 InvoiceQuantityTooLarge (knob max_invoices_per_call)
HSM_SIGN_TYPES = (2, 3)  # MISA's HSM, synchronous and asynchronous
CASH_REGISTER_SIGN_TYPES = (5, 6)  # series generated from cash registers (5th character M)
TX_ALPHABET = string.ascii_uppercase + string.digits
EINVOICE_STATUS_BY_REFERENCE = {0: 1, 1: 3, 2: 5}  # original, replacement, adjustment
ORIGINAL_MARK_BY_REFERENCE = {1: 7, 2: 8}  # replaced, adjusted


class Publishing:
    def __init__(self, sim: MeInvoiceSimulator):
        self.sim = sim

    def register(self, router: Router) -> None:
        router.add("POST", "/invoice", self.publish)

    def publish(self, request: Request, context: dict, account: Account) -> Response:
        sim = self.sim
        body = request.json()
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("InvoiceData"), list)
            or not body["InvoiceData"]
        ):
            raise ApiError(400, "InvalidInvoiceData", "Body must be {SignType, InvoiceData: [...]}")
        invoices = body["InvoiceData"]
        most = int(sim.knobs["max_invoices_per_call"])
        if len(invoices) > most:
            raise ApiError(
                400, "InvoiceQuantityTooLarge", f"Tối đa {most} hóa đơn mỗi lần gọi (đã gửi {len(invoices)})"
            )
        most_lines = int(sim.knobs["max_lines_per_call"])
        lines = sum(
            len(raw.get("OriginalInvoiceDetail") or []) if isinstance(raw, dict) else 0 for raw in invoices
        )
        if most_lines and lines > most_lines:
            raise ApiError(
                400, "InvoiceQuantityTooLarge", f"Dữ liệu quá lớn: {lines} dòng hàng (tối đa {most_lines})"
            )
        sign_type = body.get("SignType")
        if isinstance(sign_type, bool) or sign_type not in HSM_SIGN_TYPES + CASH_REGISTER_SIGN_TYPES:
            raise ApiError(
                200,
                "APINotSupportTypeInvoice",
                f"SignType {sign_type!r} không được hỗ trợ (2, 3; 5, 6 cho máy tính tiền)",
            )
        with sim.lock:  # one publish call is atomic for its MST (and for the whole simulator)
            too_soon = self._too_soon(account, invoices)
            results = [
                answer_form(sim, self._publish_one(account, raw, sign_type, too_soon)) for raw in invoices
            ]
            lost = sim.roll(float(sim.knobs["timeout_after_commit_rate"]))
            mode = sim.knobs["lost_answer_mode"]
            hold = float(sim.knobs["timeout_after_commit_seconds"])
        failed = [r["ErrorCode"] for r in results if r["ErrorCode"]]
        if failed:
            context["error_code"] = ",".join(sorted(set(failed)))
        response = json_response(
            {
                "success": True,
                "errorCode": None,
                "descriptionErrorCode": None,
                "createInvoiceResult": None,
                "publishInvoiceResult": json_text(results),
            }
        )
        if lost:
            context["lost"] = True
            if mode == "504":
                return text_response(
                    GATEWAY_HTML.format(code=504, reason="Gateway Time-out"), 504, content_type="text/html"
                )
            time.sleep(hold)  # the client gave up long ago; whatever it reads now is too late
        return response

    def _too_soon(self, account: Account, invoices: list) -> set[str]:
        """The series of this call published less than ``min_series_gap_seconds`` ago (MISA's guide asks
        for 1–3 s between the calls of a series); this call's moment is remembered for each series."""
        gap = float(self.sim.knobs["min_series_gap_seconds"])
        now = self.sim.clock()
        series = {
            str(raw.get("InvSeries") or "").strip().upper() for raw in invoices if isinstance(raw, dict)
        }
        soon = {s for s in series if gap > 0 and now - account.last_call.get(s, -gap) < gap}
        for name in series:
            account.last_call[name] = now
        return soon

    def _publish_one(self, account: Account, raw: Any, sign_type: int = 2, too_soon=frozenset()) -> dict:
        """One item of publishInvoiceResult; sandbox: a success has a null ErrorCode and description."""
        ref_id = raw.get("RefID") if isinstance(raw, dict) else None
        ref_id = str(ref_id).strip() if ref_id not in (None, "") else None
        result = {
            "RefID": ref_id,
            "TransactionID": None,
            "InvNo": None,
            "InvSeries": raw.get("InvSeries") if isinstance(raw, dict) else None,
            "InvCode": None,
            "InvDate": None,
            "ErrorCode": None,
            "DescriptionErrorCode": None,
        }
        try:
            _check_sign_type(result["InvSeries"], sign_type)
            if str(result["InvSeries"] or "").strip().upper() in too_soon:
                raise Reject("InvoiceNumberNotCotinuous", "Phát hành quá nhanh theo ký hiệu: thử lại sau")
            checked = validate(self.sim, account, raw, preview=False)
        except Reject as rej:
            result["ErrorCode"] = rej.code
            result["DescriptionErrorCode"] = rej.description
            account.rejected.append({"RefID": ref_id, "ErrorCode": rej.code, "at": iso_vn(self.sim.wall())})
            return result
        invoice = self._issue(account, raw, checked)
        result.update(
            {
                "TransactionID": invoice.transaction_id,
                "InvNo": invoice.number,
                "InvSeries": invoice.inv_series,
                "InvCode": invoice.inv_code,
                "InvDate": net_date(invoice.inv_date),
            }
        )
        return result

    def _issue(self, account: Account, raw: dict, checked: dict) -> Invoice:
        sim = self.sim
        series = checked["series"]
        number = account.last_no.get(series, 0) + 1
        account.last_no[series] = number
        day = checked["date"]
        account.last_date[series] = max(day, account.last_date.get(series, day))
        reference_type = checked["reference_type"]
        fate = 3 if sim.rng.random() < float(sim.knobs["tax_reject_rate"]) else 2
        invoice = Invoice(
            seq=sim.next_id("invoice"),
            tax_code=account.tax_code,
            ref_id=checked["ref_id"],
            transaction_id=self._new_transaction_id(),
            inv_series=series,
            inv_no=number,
            inv_code=self._new_tax_authority_code() if series[1] == "C" else "",
            inv_date=day,
            published_at=sim.clock(),
            published_wall=sim.wall(),
            reference_type=reference_type,
            einvoice_status=EINVOICE_STATUS_BY_REFERENCE[reference_type],
            tax_fate=fate,
            data=json.loads(json.dumps(raw)),
        )
        original = checked.get("original")
        if original is not None:
            original.einvoice_status = ORIGINAL_MARK_BY_REFERENCE[reference_type]
            invoice.org_ref_id = original.ref_id
        account.invoices.append(invoice)
        account.by_ref[invoice.ref_id] = invoice
        account.by_tx[invoice.transaction_id] = invoice
        return invoice

    def _new_transaction_id(self) -> str:
        """The buyer's lookup code: 13 capitals and digits, unique across the simulator."""
        while True:
            value = "".join(self.sim.rng.choice(TX_ALPHABET) for _ in range(13))
            if value not in self.sim.transaction_ids:
                self.sim.transaction_ids.add(value)
                return value

    def _new_tax_authority_code(self) -> str:
        return "00" + f"{self.sim.rng.getrandbits(128):032X}"  # 34 characters like the tax authority's codes


def _check_sign_type(series: Any, sign_type: int) -> None:
    """A cash-register series (``1C25MYY``) is published with SignType 5 (or 6), any other with 2 (or 3).
    sandbox: MISA's exact answer to a mismatch is not documented; it refuses the invoice on its own."""
    cash_register = isinstance(series, str) and is_cash_register(series.strip().upper())
    wanted = CASH_REGISTER_SIGN_TYPES if cash_register else HSM_SIGN_TYPES
    if sign_type not in wanted:
        kind = "máy tính tiền" if cash_register else "thường"
        raise Reject(
            "APINotSupportTypeInvoice",
            f"Ký hiệu {series} ({kind}) phát hành với SignType {' hoặc '.join(map(str, wanted))}, "
            f"không phải {sign_type}",
        )
