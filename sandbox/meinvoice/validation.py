"""The checks MISA runs on each InvoiceData of a publish (or preview), and the ErrorCode each failure
answers in ``publishInvoiceResult``: one invoice's problem never fails the others of its batch."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..core import as_decimal
from .helpers import SERIES_RE, Reject, parse_day
from .state import Account, Invoice

if TYPE_CHECKING:
    from .simulator import MeInvoiceSimulator

MAX_LINES = 200  # an invoice needs fewer than 200 lines (XMLTooLong otherwise)
TAX_CODE_RE = re.compile(r"^(\d{10})(?:-(\d{3}))?$")
TAX_WEIGHTS = (31, 29, 23, 19, 17, 13, 7, 5, 3)
FIXED_VAT_RATES = {"0%": Decimal(0), "5%": Decimal(5), "8%": Decimal(8), "10%": Decimal(10)}
ZERO_VAT_NAMES = ("KCT", "KKKNT")  # not subject to VAT / not declared: no VAT amount
OTHER_RATE_RE = re.compile(r"^KHAC:(\d{1,2}(?:[.,]\d{1,2})?)%$")
TOTAL_FIELDS = (
    "TotalSaleAmount",
    "TotalDiscountAmount",
    "TotalAmountWithoutVAT",
    "TotalVATAmount",
    "TotalAmount",
)
CENT = Decimal("0.01")
ONE = Decimal(1)
# The 2 % VAT reduction (10 % → 8 %), per decree: 15/2022, 44/2023, 94/2023, 72/2024, 180/2024, 174/2025.
TAX_REDUCTION_WINDOWS = (
    (date(2022, 2, 1), date(2022, 12, 31)),
    (date(2023, 7, 1), date(2023, 12, 31)),
    (date(2024, 1, 1), date(2024, 6, 30)),
    (date(2024, 7, 1), date(2024, 12, 31)),
    (date(2025, 1, 1), date(2025, 6, 30)),
    (date(2025, 7, 1), date(2026, 12, 31)),
)
# sandbox: what the XML cannot carry (MISA answers InvalidXMLContainEmoji): characters outside the BMP
# (surrogate pairs in .NET), the emoji blocks of the BMP, variation selectors, zero-width joiner, keycap
EMOJI_RE = re.compile(
    "[\U00010000-\U0010ffff\u2600-\u27bf\u2b00-\u2bff\u2300-\u23ff\ufe00-\ufe0f\u200d\u20e3]"
)
# sandbox: an address as MISA's e-mail check reads it (ASCII, a dotted domain)
EMAIL_RE = re.compile(
    r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}$"
)
REDUCED_RATE = "8%"


def validate(sim: MeInvoiceSimulator, account: Account, raw: Any, *, preview: bool) -> dict:
    """Raise Reject with MISA's code for the first problem found; else the facts needed to issue."""
    if not isinstance(raw, dict):
        raise Reject("InvalidInvoiceData", "InvoiceData phải là một đối tượng")
    ref_id = raw.get("RefID")
    ref_id = str(ref_id).strip() if ref_id is not None else ""
    if not ref_id and not preview:
        raise Reject("RequireError_RefID")
    if not preview and ref_id in account.by_ref:
        raise Reject("DuplicateInvoiceRefID")

    series = str(raw.get("InvSeries") or "").strip().upper()
    if not series:
        raise Reject("RequireError_InvSeries")
    template = account.template_for(series) if SERIES_RE.match(series) else None
    if template is None or template["Inactive"]:
        raise Reject("InvoiceTemplateNotExist", f"Không tìm thấy ký hiệu {series} đang sử dụng")

    if raw.get("InvDate") in (None, ""):
        raise Reject("RequireError_InvDate")
    day = parse_day(raw.get("InvDate"))
    if day is None or day > sim.today():
        raise Reject("InvalidInvoiceDate", f"Ngày hóa đơn {raw.get('InvDate')!r} không hợp lệ")
    # sandbox: the year digits of the series roll with InvDate (1C24TAA dated 2025 is issued as 1C25TAA)
    issued_series = series[:2] + f"{day.year % 100:02d}" + series[4:]

    reference_type, original = _reference(account, raw, preview=preview)
    _check_text(raw)
    _check_buyer(raw)
    _check_emails(raw)
    _check_summary(raw, template)
    rate = _number(raw.get("ExchangeRate"), "Invalid_[Invoice.ExchangeRate]") or ONE
    if rate <= 0:
        raise Reject("Invalid_[Invoice.ExchangeRate]")
    is_vat = series[0] == "1"
    sums = _check_lines(raw, rate, is_vat=is_vat)
    _check_totals(raw, rate, sums, is_vat=is_vat)
    if is_vat:
        _check_tax_rate_info(raw, sums["by_rate"])
    _check_reduction(sim, raw, day, reference_type, is_vat=is_vat)

    if not preview:
        latest = account.last_date.get(issued_series)
        if latest is not None and day < latest:
            raise Reject(
                "InvoiceIssuedDateSmallerThanLastest",
                f"Ngày hóa đơn {day.isoformat()} nhỏ hơn ngày {latest.isoformat()} của hóa đơn "
                f"đã phát hành gần nhất theo ký hiệu {issued_series}",
            )
        if sim.rng.random() < float(sim.knobs["not_continuous_rate"]):
            raise Reject("InvoiceNumberNotCotinuous")
    return {
        "ref_id": ref_id,
        "series": issued_series,
        "date": day,
        "reference_type": reference_type,
        "original": original,
        "template": template,
    }


def tax_code_valid(code: str) -> bool:
    """A buyer's tax code: 10 digits (check digit) or 10-3 (branch), or a 12-digit personal identification
    number (individuals and household businesses since 1 July 2025, Circular 86/2024/TT-BTC)."""
    code = code.strip()
    if re.fullmatch(r"\d{12}", code):  # sandbox: a personal number has no check digit to verify
        return True
    match = TAX_CODE_RE.match(code)
    if not match:
        return False
    main, branch = match.groups()
    if main[2:9] == "0000000" or branch == "000":
        return False
    check = 10 - sum(int(d) * w for d, w in zip(main[:9], TAX_WEIGHTS, strict=True)) % 11
    return check != 10 and check == int(main[9])


def _number(value: Any, code: str) -> Decimal | None:
    try:
        return as_decimal(value)
    except ValueError as exc:
        raise Reject(code) from exc


def _reference(account: Account, raw: dict, *, preview: bool) -> tuple[int, Invoice | None]:
    """ReferenceType 0 original, 1 replacement, 2 adjustment; find the original when it exists
    (MISA does not insist that it does)."""
    value = raw.get("ReferenceType")
    if value in (None, ""):
        return 0, None
    try:
        reference_type = int(str(value))
    except ValueError as exc:
        raise Reject("Invalid_[Invoice.ReferenceType]") from exc
    if reference_type not in (0, 1, 2):
        raise Reject("Invalid_[Invoice.ReferenceType]")
    if reference_type == 0:
        return 0, None
    for name in ("OrgInvSeries", "OrgInvNo", "OrgInvDate"):
        if raw.get(name) in (None, ""):
            raise Reject(f"RequireError_{name}")
    if parse_day(raw.get("OrgInvDate")) is None:
        raise Reject("Invalid_[Invoice.OrgInvDate]")
    original = _find_original(account, raw)
    if original is not None and not preview:
        if original.einvoice_status == 7:
            raise Reject("InvoiceCannotReplace" if reference_type == 1 else "InvoiceCannotAdjust")
        if original.einvoice_status == 8 and reference_type == 1:
            raise Reject("HasAdjustmentInvoice")
    return reference_type, original


def _find_original(account: Account, raw: dict) -> Invoice | None:
    org_ref = raw.get("OrgRefID")
    if org_ref and str(org_ref) in account.by_ref:
        return account.by_ref[str(org_ref)]
    org_tx = raw.get("OrgTransactionID")
    if org_tx and str(org_tx) in account.by_tx:
        return account.by_tx[str(org_tx)]
    org_series = str(raw.get("OrgInvSeries") or "").strip().upper()
    template_no = str(raw.get("OrgInvTemplateNo") or "").strip()
    try:
        org_no = int(str(raw.get("OrgInvNo")).strip())
    except ValueError:
        return None
    for invoice in reversed(account.invoices):
        if invoice.inv_no != org_no:
            continue
        if len(org_series) == 7 and invoice.inv_series != org_series:
            continue
        if len(org_series) != 7 and invoice.inv_series[1:] != org_series:
            continue
        if template_no and invoice.inv_series[0] != template_no:
            continue
        return invoice
    return None


def _strings(value: Any):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _check_text(raw: dict) -> None:
    for text in _strings(raw):
        if EMOJI_RE.search(text):
            raise Reject(
                "InvalidXMLContainEmoji", f"Dữ liệu có ký tự đặc biệt (biểu tượng cảm xúc): {text!r}"
            )


def _check_emails(raw: dict) -> None:
    """BuyerEmail: one address; ReceiverEmail: addresses separated by ";" (MISA's guide)."""
    buyer = str(raw.get("BuyerEmail") or "").strip()
    if buyer and not EMAIL_RE.match(buyer):
        raise Reject("Invalid_[Invoice.BuyerEmail]", f"Email người mua {buyer!r} không hợp lệ")
    receivers = str(raw.get("ReceiverEmail") or "").strip()
    if receivers:
        for address in receivers.split(";"):
            if not EMAIL_RE.match(address.strip()):
                raise Reject(
                    "Invalid_[Invoice.ReceiverEmail]", f"Email nhận hóa đơn {address!r} không hợp lệ"
                )


def _check_summary(raw: dict, template: dict) -> None:
    """IsInvoiceSummary must be what the template says (IsSendSummary): sent by summary table or not."""
    wanted = bool(template.get("IsSendSummary"))
    given = raw.get("IsInvoiceSummary")
    if not isinstance(given, bool) or given != wanted:
        raise Reject(
            "Invalid_[Invoice.IsInvoiceSummary]",
            f"IsInvoiceSummary {given!r} khác thiết lập của mẫu {template['InvSeries']} "
            f"(IsSendSummary {wanted})",
        )


def _check_reduction(
    sim: MeInvoiceSimulator, raw: dict, day: date, reference_type: int, *, is_vat: bool
) -> None:
    """An invoice applying the 2 % reduction must say so (IsTaxReduction43) and be dated within a decree's
    window (TaxReductionDateInValid); a VAT invoice says so exactly when a line is at 8 %."""
    flag = raw.get("IsTaxReduction43")
    if flag not in (None, True, False):
        raise Reject("Invalid_[Invoice.IsTaxReduction43]", f"IsTaxReduction43 {flag!r} không hợp lệ")
    lines = [d for d in raw.get("OriginalInvoiceDetail") or [] if isinstance(d, dict)]
    at_reduced = any(
        d.get("VATRateName") == REDUCED_RATE and d.get("ItemType", 1) not in (2, 4) for d in lines
    )
    reduced = bool(flag) or (is_vat and at_reduced)
    if reduced:
        deciding = day
        if reference_type in (1, 2) and sim.knobs.get("reduction_date_of_changes", "original") == "original":
            deciding = parse_day(raw.get("OrgInvDate")) or day
        if not any(start <= deciding <= end for start, end in TAX_REDUCTION_WINDOWS):
            raise Reject(
                "TaxReductionDateInValid",
                f"Ngày hóa đơn giảm thuế {deciding.isoformat()} không nằm trong thời gian giảm thuế",
            )
    if is_vat and bool(flag) != at_reduced:
        raise Reject(
            "Invalid_[Invoice.IsTaxReduction43]",
            "Hóa đơn có thuế suất 8% phải có IsTaxReduction43 = true"
            if at_reduced
            else "IsTaxReduction43 = true nhưng không có dòng hàng thuế suất 8%",
        )


# Decree 70 buyer identifiers (MISA's web-app guide: CitizenIDNumber "12 numeric characters, no check of
# the detailed structure", PassportNumber "up to 20 characters", RelatedUnitCode "7 characters; name and
# address required with it"). sandbox: the publish API's field names and the Invalid_[Invoice.…] codes
# answered for them are unconfirmed.
ID_NUMBER_RE = re.compile(r"^\d{12}$")
PASSPORT_MAX = 20
BUDGET_CODE_RE = re.compile(r"^\d{7}$")


def _check_buyer(raw: dict) -> None:
    id_number = str(raw.get("BuyerIDNumber") or "").strip()
    if id_number and not ID_NUMBER_RE.match(id_number):
        raise Reject("Invalid_[Invoice.BuyerIDNumber]", f"Số định danh cá nhân {id_number} không hợp lệ")
    passport = str(raw.get("BuyerPassport") or "").strip()
    if len(passport) > PASSPORT_MAX:
        raise Reject("Invalid_[Invoice.BuyerPassport]", f"Số hộ chiếu dài quá {PASSPORT_MAX} ký tự")
    budget_code = str(raw.get("BuyerBudgetCode") or "").strip()
    if budget_code and not BUDGET_CODE_RE.match(budget_code):
        raise Reject(
            "Invalid_[Invoice.BuyerBudgetCode]",
            f"Mã số đơn vị có quan hệ với ngân sách {budget_code} không hợp lệ",
        )
    tax_code = str(raw.get("BuyerTaxCode") or "").strip()
    if tax_code and not tax_code_valid(tax_code):
        raise Reject("InvalidTaxCode", f"Mã số thuế người mua {tax_code} không hợp lệ")
    if tax_code or budget_code:
        for name in ("BuyerLegalName", "BuyerAddress"):
            if not str(raw.get(name) or "").strip():
                raise Reject(f"RequireError_{name}")


def _check_lines(raw: dict, rate: Decimal, *, is_vat: bool) -> dict:
    lines = raw.get("OriginalInvoiceDetail")
    if not isinstance(lines, list) or not lines:
        raise Reject("RequireError_OriginalInvoiceDetail")
    if len(lines) >= MAX_LINES:
        raise Reject("XMLTooLong", f"Hóa đơn có {len(lines)} dòng hàng; tối đa {MAX_LINES - 1}")
    total_without_vat = Decimal(0)
    total_vat = Decimal(0)
    by_rate: dict[str, list[Decimal]] = {}
    for line in lines:
        if not isinstance(line, dict):
            raise Reject("InvalidInvoiceData", "Mỗi dòng hàng phải là một đối tượng")
        item_type = line.get("ItemType", 1)
        if isinstance(item_type, bool) or item_type not in (1, 2, 3, 4, 5):
            raise Reject("InvoiceDetail_ItemType")
        if item_type == 4:  # a note line: text only, VATRateName null
            continue
        rate_name = line.get("VATRateName")
        vat_percent: Decimal | None = None
        if is_vat:
            vat_percent = _vat_percent(rate_name)
        amount = _line_value(line, "Amount", rate)
        if amount is None:
            raise Reject("InvoiceDetail_Amount")
        quantity = _number(line.get("Quantity"), "InvoiceDetail_Quantity")
        price = _number(line.get("UnitPrice"), "InvoiceDetail_UnitPrice")
        # Quantity 0 / UnitPrice 0 lines carry an amount alone (adjustments of amount only).
        priced = quantity is not None and price is not None and not (quantity == 0 and price == 0)
        if priced and abs(quantity * price * rate - amount) >= ONE:
            raise Reject(
                "InvoiceDetail_Amount",
                f"Thành tiền {amount} khác Số lượng × Đơn giá = {quantity * price * rate}",
            )
        discount = _line_value(line, "DiscountAmount", rate) or Decimal(0)
        without_vat = _line_value(line, "AmountWithoutVAT", rate)
        if without_vat is None or abs(amount - discount - without_vat) > CENT:
            raise Reject(
                "InvoiceDetail_AmountWithoutVAT",
                f"Thành tiền chưa thuế {without_vat} khác Thành tiền − Chiết khấu = {amount - discount}",
            )
        vat = _line_value(line, "VATAmount", rate)
        if not is_vat and vat:
            raise Reject("InvoiceDetail_VATAmount", "Hóa đơn bán hàng không có tiền thuế GTGT")
        if is_vat:
            if vat is None:
                raise Reject("InvoiceDetail_VATAmount")
            # sandbox: the VAT of a line is its rate applied to its net amount, ±1 đồng of rounding
            if vat_percent is not None and abs(without_vat * vat_percent / 100 - vat) >= ONE:
                raise Reject(
                    "InvoiceDetail_VATAmount",
                    f"Tiền thuế {vat} khác {rate_name} × {without_vat}",
                )
        vat = vat or Decimal(0)
        sign = {1: 1, 2: 0, 3: -1, 5: 1}[item_type]  # promotion lines stay out of the totals
        total_without_vat += sign * without_vat
        total_vat += sign * vat
        if is_vat and sign:
            oc_without = _line_oc(line, "AmountWithoutVAT", rate)
            oc_vat = _line_oc(line, "VATAmount", rate)
            acc = by_rate.setdefault(str(rate_name), [Decimal(0), Decimal(0)])
            acc[0] += sign * oc_without
            acc[1] += sign * oc_vat
    return {"without_vat": total_without_vat, "vat": total_vat, "by_rate": by_rate}


def _vat_percent(rate_name: Any) -> Decimal | None:
    """The percentage of a VATRateName (0 for KCT/KKKNT); Reject when MISA does not know the name."""
    if not isinstance(rate_name, str):
        raise Reject("InvalidVatPercentage", f"VATRateName {rate_name!r} không hợp lệ")
    if rate_name in FIXED_VAT_RATES:
        return FIXED_VAT_RATES[rate_name]
    if rate_name in ZERO_VAT_NAMES:
        return Decimal(0)
    other = OTHER_RATE_RE.match(rate_name)
    if other:
        return Decimal(other.group(1).replace(",", "."))
    raise Reject("InvalidVatPercentage", f"VATRateName {rate_name!r} không hợp lệ")


def _line_value(line: dict, name: str, rate: Decimal) -> Decimal | None:
    """A line's converted amount; sandbox: lines may give the original-currency value alone."""
    value = _number(line.get(name), f"InvoiceDetail_{name}")
    if value is None:
        oc = _number(line.get(name + "OC"), f"InvoiceDetail_{name}OC")
        value = None if oc is None else (oc * rate).quantize(CENT)
    return value


def _line_oc(line: dict, name: str, rate: Decimal) -> Decimal:
    oc = _number(line.get(name + "OC"), f"InvoiceDetail_{name}OC")
    if oc is None:
        converted = _number(line.get(name), f"InvoiceDetail_{name}") or Decimal(0)
        oc = converted / rate
    return oc


def _check_totals(raw: dict, rate: Decimal, sums: dict, *, is_vat: bool) -> dict:
    totals: dict[str, Decimal] = {}
    for name in TOTAL_FIELDS:
        code = f"Invalid_[Invoice.{name}]"
        converted = _number(raw.get(name), code)
        oc = _number(raw.get(name + "OC"), code)
        if converted is None:
            both_missing_ok = oc is None and (
                name == "TotalDiscountAmount" or (name == "TotalVATAmount" and not is_vat)
            )
            if not both_missing_ok:
                raise Reject(code, f"Thiếu {name} (số tiền quy đổi) — chỉ có {name}OC không đủ")
            converted = Decimal(0)
        if oc is not None and abs(oc * rate - converted) >= ONE:
            raise Reject(code, f"{name} = {converted} khác {name}OC × ExchangeRate = {oc * rate}")
        totals[name] = converted
    if not is_vat and totals["TotalVATAmount"]:
        raise Reject("Invalid_[Invoice.TotalVATAmount]", "Hóa đơn bán hàng không có tiền thuế GTGT")
    if abs(totals["TotalAmountWithoutVAT"] + totals["TotalVATAmount"] - totals["TotalAmount"]) > CENT:
        raise Reject(
            "Invalid_[Invoice.TotalAmount]",
            f"TotalAmount {totals['TotalAmount']} khác TotalAmountWithoutVAT + TotalVATAmount = "
            f"{totals['TotalAmountWithoutVAT'] + totals['TotalVATAmount']}",
        )
    if abs(totals["TotalAmountWithoutVAT"] - sums["without_vat"]) > CENT:
        raise Reject(
            "Invalid_[Invoice.TotalAmountWithoutVAT]",
            f"TotalAmountWithoutVAT {totals['TotalAmountWithoutVAT']} khác tổng dòng hàng "
            f"{sums['without_vat']}",
        )
    if is_vat and abs(totals["TotalVATAmount"] - sums["vat"]) > CENT:
        raise Reject(
            "Invalid_[Invoice.TotalVATAmount]",
            f"TotalVATAmount {totals['TotalVATAmount']} khác tổng tiền thuế dòng hàng {sums['vat']}",
        )
    return totals


def _check_tax_rate_info(raw: dict, expected: dict[str, list[Decimal]]) -> None:
    info = raw.get("TaxRateInfo")
    if not isinstance(info, list) or not info:
        raise Reject("TaxRateInfo_VATRateName", "Thiếu bảng tổng hợp thuế suất TaxRateInfo")
    seen: dict[str, tuple[Decimal, Decimal]] = {}
    for entry in info:
        if not isinstance(entry, dict):
            raise Reject("TaxRateInfo_VATRateName")
        name = entry.get("VATRateName")
        try:
            _vat_percent(name)
        except Reject as exc:
            raise Reject("TaxRateInfo_VATRateName", f"VATRateName {name!r} không hợp lệ") from exc
        if name in seen:
            raise Reject("TaxRateInfo_VATRateName", f"VATRateName {name} xuất hiện hai lần")
        without = entry.get("AmountWithoutVATOC", entry.get("AmountWithoutVAT"))
        vat = entry.get("VATAmountOC", entry.get("VATAmount"))
        seen[name] = (
            _number(without, "TaxRateInfo_AmountWithoutVATOC") or Decimal(0),
            _number(vat, "TaxRateInfo_VATAmountOC") or Decimal(0),
        )
    for name in sorted(set(expected) | set(seen)):
        want = expected.get(name, [Decimal(0), Decimal(0)])
        if name not in seen:
            raise Reject("TaxRateInfo_VATRateName", f"Bảng tổng hợp thuế suất thiếu thuế suất {name}")
        got = seen[name]
        if abs(got[0] - want[0]) > CENT:
            raise Reject(
                "TaxRateInfo_AmountWithoutVATOC",
                f"Thuế suất {name}: AmountWithoutVATOC {got[0]} khác tổng dòng hàng {want[0]}",
            )
        if abs(got[1] - want[1]) > CENT:
            raise Reject(
                "TaxRateInfo_VATAmountOC",
                f"Thuế suất {name}: VATAmountOC {got[1]} khác tổng dòng hàng {want[1]}",
            )
