"""Vouchers: ``save`` (proposals keyed by (company, ``org_refid``); a resend updates a waiting proposal,
after generation it answers ``IsCreatedVoucher``), ``delete`` (HTTP DELETE with a JSON body) and the
accountant who turns a proposal into a real voucher (amis.md §3–§7, §11)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from ..core import Request, Response, as_decimal
from .companies import new_id
from .dictionary import apply_items, check_item_accounts, check_items, find
from .helpers import AmisError, as_int, key, ok, parse_moment, text, vn
from .inventory import move
from .state import Company, Proposal

if TYPE_CHECKING:
    from .simulator import AmisSimulator

MAX_VOUCHERS = 100  # amis.md §3
MAX_DETAIL_LINES = 500
# voucher_type → accepted reftypes (amis.md §5, the [M] rows)
REFTYPES = {
    13: {3530, 3531, 3532, 3534, 3535, 3536, 3537, 3538},
    20: {3520},
    5: {1010},
    1: {1500},
    # sandbox: Unconfirmed at MISA — the sales return (hàng bán trả lại, sa_return) as amis.md §5 / §6.5
    # guess it: voucher_type 12 (two secondary sources), reftype 3540 (MISA's UI API); no accepted payload
    12: {3540},
    # the purchase with stock receipt (pu_voucher): MISA's own reftypes that receive stock [M]
    18: {302, 307, 308, 309, 310, 318, 319, 320, 321, 322},
    # sandbox: Unconfirmed at MISA — the stock receipt (in_inward): 2014 as one client copies a doc sample,
    # 2010 as one Nhanh.vn client sends for goods coming back (amis.md §5, §6.6)
    7: {2010, 2014},
    # sandbox: Unconfirmed — the stock issue (in_outward): 2020 (xuất bán, [R]), 2023 (MISA's UI API)
    8: {2020, 2023},
    # sandbox: Unconfirmed — the transfer (in_transfer?) as one test harness sends it: 9 / 2030 (amis.md §6.7)
    9: {2030},
    # sandbox: Unconfirmed — a purchase return: no source names one; 16 / 3030 is the product's default guess
    16: {3030},
}
STOCK_TYPES = (18, 7, 8, 9, 16)  # lines of goods in a warehouse: item, stock code and a positive quantity
NO_PARTY_TYPES = (7, 8, 9)  # amis.md §6.6: the account object of a stock receipt / issue is optional
TRANSFER_TYPE = 9
# sandbox: PBH paid in cash books its lines on 111x, by transfer on 112x, unpaid on 131 (amis.md §6.1);
# a sales return debits a revenue deduction (521x: 5212 returns, 5211 / 5213 discounts, amis.md §6.5)
DEBIT_BY_REFTYPE = {3530: "131", 3531: "111", 3537: "112", 3540: "521"}
# sandbox: what a sales return may credit: the buyer's receivable or the cash / bank that paid back (§6.5)
CREDIT_BY_REFTYPE = {3540: ("131", "111", "112")}
OUTWARD_REFTYPE = 2020
# sandbox: Unconfirmed — the stock receipt nested in a sales return (nhập kho hàng bán trả lại); 2010 is what
# one Nhanh.vn → AMIS client sends for it (amis.md §0, id 60975617687)
RETURN_INWARD_REFTYPE = 2010
REFNO_PREFIX = {
    13: "BH",
    20: "DDH",
    5: "PT",
    1: "BC",
    12: "TL",
    18: "MH",
    7: "NK",
    8: "XK",
    9: "CK",
    16: "TLM",
}
# sandbox: a purchase on credit (302) books its lines to the payable (amis.md §6.6: credit 331)
CREDIT_BY_REFTYPE_STOCK = {302: ("331",)}
HEADER_REQUIRED = (
    "voucher_type",
    "org_refid",
    "org_refno",
    "org_reftype",
    "reftype",
    "refdate",
    "posted_date",
    "currency_id",
    "total_amount",
)  # amis.md §4
LINE_REQUIRED = ("amount", "debit_account", "credit_account")
SALE_TYPES = (13, 20, 12)  # lines of goods: item codes, quantities, discounts and VAT


class Invalid(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _money(value, field: str, where: str) -> Decimal:
    try:
        number = as_decimal(value)
    except ValueError as exc:
        raise Invalid("InvalidParam", f"{where}: {field} không phải là số") from exc
    if number is None:
        return Decimal(0)
    if number != number.to_integral_value():
        raise Invalid("InvalidParam", f"{where}: {field} phải là số nguyên (VND)")
    return number


def _stock_line(voucher: dict, line: dict, label: str, amount: Decimal, known) -> None:
    """A line of goods in a warehouse (7, 8, 9, 18, 16): its item and warehouse(s) exist in the company's
    dictionary (or come in the same save), its quantity is a positive number and its amount is quantity ×
    unit price (to the đồng). A transfer line names two different warehouses."""
    item = text(line.get("inventory_item_code"))
    if not item:
        raise Invalid("InvalidParam", f"{label}: thiếu inventory_item_code")
    if not known(2, 3, item):
        raise Invalid("InvalidParam", f"{label}: Mã hàng {item} không tồn tại")
    if as_int(voucher.get("voucher_type")) == TRANSFER_TYPE:
        stocks = [text(line.get(name) or voucher.get(name)) for name in ("from_stock_code", "to_stock_code")]
        if not all(stocks):
            raise Invalid("InvalidParam", f"{label}: thiếu from_stock_code / to_stock_code")
        if key(stocks[0]) == key(stocks[1]):
            raise Invalid("InvalidParam", f"{label}: kho xuất và kho nhập trùng nhau ({stocks[0]})")
    else:
        stocks = [text(line.get("stock_code"))]
        if not stocks[0]:
            raise Invalid("InvalidParam", f"{label}: thiếu stock_code")
    for stock in stocks:
        if not known(3, 5, stock):
            raise Invalid("InvalidParam", f"{label}: Mã kho {stock} không tồn tại")
    raw = line.get("quantity")
    try:
        quantity = as_decimal(raw)
    except (TypeError, ValueError) as exc:
        raise Invalid("InvalidParam", f"{label}: quantity không phải là số") from exc
    if isinstance(raw, bool) or quantity is None or not quantity.is_finite() or quantity <= 0:
        raise Invalid("InvalidParam", f"{label}: quantity phải là số dương")
    if line.get("unit_price") is not None:
        try:
            expected = quantity * as_decimal(line.get("unit_price"))
        except (TypeError, ValueError) as exc:
            raise Invalid("InvalidParam", f"{label}: unit_price không hợp lệ") from exc
        if abs(expected - amount) > 1:  # sandbox: one đồng of rounding allowed
            raise Invalid("InvalidParam", f"{label}: amount {amount} khác quantity × unit_price {expected}")


class Vouchers:
    def __init__(self, sim: AmisSimulator):
        self.sim = sim

    def register(self, router) -> None:
        router.add("POST", "save", self.save)
        router.add(("DELETE", "POST"), "delete", self.delete)

    # --- save ------------------------------------------------------------------------------------

    def save(self, request: Request, body: dict, company: Company) -> Response:
        sim = self.sim
        vouchers = body.get("voucher")
        if not isinstance(vouchers, list) or not vouchers or not all(isinstance(v, dict) for v in vouchers):
            raise AmisError("InvalidParam", "voucher phải là một mảng chứng từ")
        if len(vouchers) > MAX_VOUCHERS:
            raise AmisError("InvalidParam", f"Mỗi lần chỉ được gửi tối đa {MAX_VOUCHERS} chứng từ")
        items = check_items(body.get("dictionary"))
        callback_mode = sim.knobs["business_errors"] == "callback"
        with sim.lock:
            check_item_accounts(company, items)
            errors: list[dict] = []
            accepted: list[dict] = []
            seen: set[str] = set()
            for index, voucher in enumerate(vouchers, 1):
                refid = text(voucher.get("org_refid"))
                try:
                    if refid and key(refid) in seen:
                        raise Invalid("InvalidParam", f"org_refid {refid} bị trùng trong cùng một lần gửi")
                    seen.add(key(refid))
                    self._structure(voucher, index)
                except Invalid as bad:  # a malformed call is refused at once in both modes
                    raise AmisError(bad.code, bad.message) from bad
                try:
                    self._business(company, voucher, items)
                    accepted.append(voucher)
                except Invalid as bad:
                    errors.append(
                        {
                            "org_refid": refid,
                            "voucher_type": as_int(voucher.get("voucher_type")),
                            "error_code": bad.code,
                            "error_message": bad.message,
                        }
                    )
            if errors and not callback_mode:
                first = errors[0]
                raise AmisError(
                    first["error_code"], "; ".join(e["error_message"] for e in errors), data=errors
                )
            apply_items(sim, company, items)
            session = new_id(sim)
            results = [self._store(company, v, session) for v in accepted]
            results += [
                {
                    "org_refid": e["org_refid"],
                    "success": False,
                    "error_code": e["error_code"],
                    "error_message": e["error_message"],
                    "session_id": session,
                    "error_call_back_message": None,
                    "voucher_type": e["voucher_type"],
                }
                for e in errors
            ]
            sim.callbacks.schedule(company, 1, results)
        return ok(None)

    def _structure(self, voucher: dict, index: int) -> None:
        where = f"Chứng từ thứ {index}"
        for name in HEADER_REQUIRED:
            if voucher.get(name) in (None, ""):
                raise Invalid("InvalidParam", f"{where}: thiếu {name}")
        voucher_type = as_int(voucher.get("voucher_type"))
        reftype = as_int(voucher.get("reftype"))
        if voucher_type not in REFTYPES:
            raise Invalid(
                "InvalidParam", f"{where}: voucher_type {voucher.get('voucher_type')!r} không hỗ trợ"
            )
        if reftype not in REFTYPES[voucher_type]:
            raise Invalid(
                "InvalidParam",
                f"{where}: reftype {voucher.get('reftype')!r} không hợp lệ với voucher_type {voucher_type}",
            )
        if as_int(voucher.get("org_reftype")) is None:
            raise Invalid("InvalidParam", f"{where}: org_reftype không hợp lệ")
        for name in ("refdate", "posted_date"):
            if parse_moment(voucher.get(name)) is None:
                raise Invalid("InvalidParam", f"{where}: {name} không đúng định dạng ngày")
        if text(voucher.get("currency_id")).upper() != "VND":
            raise Invalid("InvalidParam", f"{where}: sandbox chỉ nhận currency_id VND")
        party = text(voucher.get("account_object_code")) or text(voucher.get("account_object_id"))
        if not party and voucher_type not in NO_PARTY_TYPES:
            raise Invalid("InvalidParam", f"{where}: thiếu account_object_code")
        detail = voucher.get("detail")
        if not isinstance(detail, list) or not detail or not all(isinstance(d, dict) for d in detail):
            raise Invalid("InvalidParam", f"{where}: detail phải là một mảng dòng chi tiết")
        if len(detail) > MAX_DETAIL_LINES:
            raise Invalid("InvalidParam", f"{where}: tối đa {MAX_DETAIL_LINES} dòng chi tiết")
        for number, line in enumerate(detail, 1):
            for name in LINE_REQUIRED:
                if line.get(name) in (None, ""):
                    raise Invalid("InvalidParam", f"{where}, dòng {number}: thiếu {name}")
        if voucher_type == 13 and voucher.get("is_sale_with_outward"):
            outward = voucher.get("in_outward")
            if not isinstance(outward, dict):
                raise Invalid("InvalidParam", f"{where}: is_sale_with_outward cần in_outward")
            if as_int(outward.get("reftype")) != OUTWARD_REFTYPE:
                raise Invalid("InvalidParam", f"{where}: in_outward.reftype phải là {OUTWARD_REFTYPE}")
            if outward.get("voucher_type") not in (None, 8):
                raise Invalid("InvalidParam", f"{where}: in_outward.voucher_type phải là 8")
        if voucher_type == 12 and voucher.get("is_return_with_inward"):
            inward = voucher.get("in_inward")
            if not isinstance(inward, dict):
                raise Invalid("InvalidParam", f"{where}: is_return_with_inward cần in_inward")
            if as_int(inward.get("reftype")) != RETURN_INWARD_REFTYPE:
                raise Invalid("InvalidParam", f"{where}: in_inward.reftype phải là {RETURN_INWARD_REFTYPE}")
            if inward.get("voucher_type") not in (None, 7):
                raise Invalid("InvalidParam", f"{where}: in_inward.voucher_type phải là 7")

    def _business(self, company: Company, voucher: dict, items: list[dict]) -> None:
        where = f"Chứng từ {text(voucher.get('org_refid'))}"
        voucher_type = as_int(voucher["voucher_type"])
        reftype = as_int(voucher["reftype"])
        pending = {
            (as_int(i.get("dictionary_type")), key(i.get(f)))
            for i in items
            for f in ("account_object_code", "inventory_item_code", "stock_code")
        }

        def known(data_type: int, save_type: int, code: str) -> bool:
            return find(company, data_type, code) is not None or (save_type, key(code)) in pending

        def account(number, label: str) -> None:
            if find(company, 5, text(number)) is None:
                raise Invalid("InvalidParam", f"{label}: tài khoản {number} không tồn tại")

        existing = company.proposals.get(key(voucher["org_refid"]))
        if existing is not None and existing.status == "generated":
            raise Invalid("IsCreatedVoucher", f"{where}: Đã sinh chứng từ kế toán, không thể cập nhật được")
        if (
            existing is not None
            and existing.status == "deleted"
            and not self.sim.knobs["reuse_deleted_refid"]
        ):
            # sandbox: amis.md §11 [R] — after a delete the replacement takes a new org_refid
            raise Invalid("InvalidParam", f"{where}: org_refid đã bị xóa, hãy dùng org_refid mới")
        party = text(voucher.get("account_object_code"))
        if party and not known(1, 1, party):
            raise Invalid("InvalidParam", f"{where}: Mã đối tượng {party} không tồn tại")
        sale = discount = vat = Decimal(0)
        stocked = 0
        outward = voucher_type == 13 and bool(voucher.get("is_sale_with_outward"))
        prefix = DEBIT_BY_REFTYPE.get(reftype)
        credits = CREDIT_BY_REFTYPE.get(reftype)
        if voucher_type == 18:
            credits = CREDIT_BY_REFTYPE_STOCK.get(reftype)
        for number, line in enumerate(voucher["detail"], 1):
            label = f"{where}, dòng {number}"
            amount = _money(line.get("amount"), "amount", label)
            account(line["debit_account"], label)
            account(line["credit_account"], label)
            if prefix and not text(line["debit_account"]).startswith(prefix):
                raise Invalid("InvalidParam", f"{label}: reftype {reftype} cần tài khoản nợ {prefix}")
            if credits and not text(line["credit_account"]).startswith(credits):
                raise Invalid(
                    "InvalidParam", f"{label}: reftype {reftype} cần tài khoản có {', '.join(credits)}"
                )
            for name in ("vat_account", "cost_account", "stock_account"):
                if line.get(name) not in (None, ""):
                    account(line[name], label)
            if voucher_type in SALE_TYPES and not line.get("is_description"):
                item = text(line.get("inventory_item_code"))
                if not item:
                    raise Invalid("InvalidParam", f"{label}: thiếu inventory_item_code")
                if not known(2, 3, item):
                    raise Invalid("InvalidParam", f"{label}: Mã hàng {item} không tồn tại")
                stock = text(line.get("stock_code"))
                entry = find(company, 2, item)
                service = as_int(line.get("inventory_item_type")) == 2 or (
                    entry is not None and as_int(entry.get("inventory_item_type")) == 2
                )
                if outward and not service and not stock and not text(line.get("stock_id")):
                    raise Invalid("InvalidParam", f"{label}: thiếu stock_code")  # goods leave a warehouse
                if stock:
                    stocked += 1
                if stock and not known(3, 5, stock):
                    raise Invalid("InvalidParam", f"{label}: Mã kho {stock} không tồn tại")
                quantity, price = line.get("quantity"), line.get("unit_price")
                if quantity is not None and price is not None:
                    try:
                        expected = as_decimal(quantity) * as_decimal(price)
                    except (TypeError, ValueError) as exc:
                        raise Invalid("InvalidParam", f"{label}: quantity/unit_price không hợp lệ") from exc
                    # sandbox (Unconfirmed): a return line of quantity 0 and unit price 0 is money given
                    # back with no goods, its value in amount (as meInvoice's value-only lines)
                    value_only = voucher_type == 12 and as_decimal(quantity) == 0 == as_decimal(price)
                    if not value_only and abs(expected - amount) > 1:  # sandbox: one đồng of rounding allowed
                        raise Invalid(
                            "InvalidParam", f"{label}: amount {amount} khác quantity × unit_price {expected}"
                        )
                discount += _money(line.get("discount_amount"), "discount_amount", label)
                vat += _money(line.get("vat_amount"), "vat_amount", label)
            elif voucher_type in STOCK_TYPES and not line.get("is_description"):
                _stock_line(voucher, line, label, amount, known)
            sale += amount
        if voucher_type == 12 and bool(voucher.get("is_return_with_inward")) != bool(stocked):
            # sandbox: goods come back into a warehouse exactly when the return says it receives stock
            raise Invalid(
                "InvalidParam",
                f"{where}: is_return_with_inward cần ít nhất một dòng có stock_code"
                if stocked == 0
                else f"{where}: dòng có stock_code cần is_return_with_inward và in_inward",
            )
        total = _money(voucher.get("total_amount"), "total_amount", where)
        if voucher_type in SALE_TYPES:
            for name, value in (
                ("total_sale_amount", sale),
                ("total_discount_amount", discount),
                ("total_vat_amount", vat),
            ):
                if voucher.get(name) is not None and _money(voucher[name], name, where) != value:
                    raise Invalid(
                        "InvalidParam", f"{where}: {name} {voucher[name]} khác tổng chi tiết {value}"
                    )
            expected_total = sale - discount + vat
        else:
            expected_total = sale
        if total != expected_total:
            raise Invalid("InvalidParam", f"{where}: total_amount {total} khác {expected_total}")
        for name in ("total_amount", "total_sale_amount", "total_discount_amount", "total_vat_amount"):
            oc = voucher.get(name + "_oc")
            if (
                oc is not None
                and voucher.get(name) is not None
                and _money(oc, name + "_oc", where) != _money(voucher[name], name, where)
            ):
                raise Invalid("InvalidParam", f"{where}: {name}_oc khác {name} (VND, tỷ giá 1)")

    def _store(self, company: Company, voucher: dict, session: str) -> dict:
        """Add or update the proposal; the accepted result item of the save callback."""
        sim = self.sim
        now = sim.clock()
        refid = text(voucher["org_refid"])
        existing = company.proposals.get(key(refid))
        auto = float(sim.knobs["auto_generate_seconds"]) if sim.knobs["auto_generate"] else None
        if existing is not None and existing.status == "proposal":
            existing.voucher = voucher
            existing.voucher_type = as_int(voucher["voucher_type"])
            existing.reftype = as_int(voucher["reftype"])
            existing.session_id = session
            existing.received_at = now
            existing.versions += 1
            existing.generate_at = now + auto if auto is not None else None
        else:
            company.proposals[key(refid)] = Proposal(
                company=company.code,
                org_refid=refid,
                voucher_type=as_int(voucher["voucher_type"]),
                reftype=as_int(voucher["reftype"]),
                voucher=voucher,
                session_id=session,
                received_at=now,
                generate_at=now + auto if auto is not None else None,
            )
        return {
            "org_refid": refid,
            "success": True,
            "error_code": None,
            "error_message": None,
            "session_id": session,
            "error_call_back_message": None,
            "voucher_type": as_int(voucher["voucher_type"]),
        }

    # --- delete ----------------------------------------------------------------------------------

    def delete(self, request: Request, body: dict, company: Company) -> Response:
        """amis.md §3: HTTP DELETE ``{app_id, org_company_code, voucher:[{voucher_type, org_refid}]}``;
        sandbox: POST only with the ``delete_allows_post`` knob (whether MISA takes it is Unconfirmed).
        All or nothing: an unknown proposal answers VoucherNotFound, a generated one IsCreatedVoucher."""
        sim = self.sim
        if request.method == "POST" and not sim.knobs["delete_allows_post"]:
            raise AmisError(
                "InvalidParam", "The requested resource does not support http method 'POST'.", status=405
            )
        wanted = body.get("voucher")
        if not isinstance(wanted, list) or not wanted or not all(isinstance(v, dict) for v in wanted):
            raise AmisError("InvalidParam", "voucher phải là một mảng {voucher_type, org_refid}")
        if len(wanted) > MAX_VOUCHERS:
            raise AmisError("InvalidParam", f"Mỗi lần chỉ được xóa tối đa {MAX_VOUCHERS} chứng từ")
        with sim.lock:
            found: list[Proposal] = []
            for item in wanted:
                refid = text(item.get("org_refid"))
                if not refid or as_int(item.get("voucher_type")) is None:
                    raise AmisError("InvalidParam", "Thiếu voucher_type hoặc org_refid")
                proposal = company.proposals.get(key(refid))
                if (
                    proposal is None
                    or proposal.status == "deleted"
                    or proposal.voucher_type != as_int(item.get("voucher_type"))
                ):
                    raise AmisError(
                        "VoucherNotFound", f"Không tìm thấy đề nghị sinh chứng từ kế toán {refid}"
                    )
                if proposal.status == "generated":
                    raise AmisError(
                        "IsCreatedVoucher", f"Chứng từ {refid} đã sinh chứng từ kế toán, không thể xóa"
                    )
                found.append(proposal)
            session = new_id(sim)
            results = []
            for proposal in found:
                proposal.status = "deleted"
                proposal.generate_at = None
                results.append(
                    {
                        "org_refid": proposal.org_refid,
                        "success": True,
                        "error_code": None,
                        "error_message": None,
                        "session_id": session,
                        "error_call_back_message": None,
                        "voucher_type": proposal.voucher_type,
                    }
                )
            sim.callbacks.schedule(company, 2, results)
        return ok(None)

    # --- the accountant --------------------------------------------------------------------------

    def generate(self, company: Company, proposal: Proposal, at: float | None = None) -> dict:
        """Turn a waiting proposal into a real voucher (its AMIS refid/refno and line ids) and schedule
        the data_type 18 callback (amis.md §10 [R]) from ``at`` (default now). Call with the lock held."""
        sim = self.sim
        if proposal.status != "proposal":
            raise ValueError(f"{proposal.org_refid} is {proposal.status}, not a waiting proposal")
        prefix = REFNO_PREFIX[proposal.voucher_type]
        company.next_refno[prefix] = company.next_refno.get(prefix, 0) + 1
        proposal.status = "generated"
        proposal.generate_at = None
        given = text(proposal.voucher.get("refid"))
        keep = proposal.voucher.get("is_get_new_id") is False and given
        proposal.refid = given if keep else new_id(sim)
        proposal.refno = f"{prefix}{company.next_refno[prefix]:05d}"
        proposal.detail_ids = [
            text(d.get("ref_detail_id")) if keep and text(d.get("ref_detail_id")) else new_id(sim)
            for d in proposal.voucher["detail"]
        ]
        proposal.generated_wall = vn(sim.wall())
        move(company, proposal.voucher)
        detail = [
            {**line, "refid": proposal.refid, "ref_detail_id": detail_id}
            for line, detail_id in zip(proposal.voucher["detail"], proposal.detail_ids, strict=True)
        ]
        result = {
            "org_refid": proposal.org_refid,
            "success": True,
            "error_code": None,
            "error_message": None,
            "session_id": proposal.session_id,
            "error_call_back_message": None,
            "voucher_type": proposal.voucher_type,
            "refid": proposal.refid,
            "refno": proposal.refno,
            "detail": detail,
        }
        sim.callbacks.schedule(company, 18, [result], at)
        return result
