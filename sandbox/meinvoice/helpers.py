"""What every part of the meInvoice simulator shares: MISA's error codes and envelopes, and dates,
numbers and series the way MISA writes them."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from typing import Any

from ..core import dumps

VN_TZ = timezone(timedelta(hours=7))
SERIES_RE = re.compile(r"^[1256][CK]\d{2}[TM][A-Z0-9]{2}$")

DESCRIPTIONS = {
    "InvalidAppID": "Sai thông tin AppID",
    "UnAuthorize": "Sai thông tin đăng nhập",
    "TokenExpiredCode": "Token hết hạn",
    "InvalidTokenCode": "Token lỗi cần đăng nhập lại",
    "InvalidInvoiceData": "Sai tham số đầu vào",
    "InvoiceTemplateNotExist": "Mẫu hóa đơn không tồn tại",
    "InvoiceQuantityTooLarge": "Số lượng hóa đơn gửi lên trong 1 request quá số lượng cho phép",
    "XMLTooLong": "File XML quá dài",
    "TaxRateInfo_VATRateName": "Tên loại thuế suất trong bảng tổng hợp thuế suất không hợp lệ",
    "TaxRateInfo_AmountWithoutVATOC": "Tổng tiền chưa thuế theo thuế suất không khớp với dòng hàng",
    "TaxRateInfo_VATAmountOC": "Tổng tiền thuế theo thuế suất không khớp với dòng hàng",
    "InvalidVatPercentage": "Thuế suất không hợp lệ",
    "InvalidTaxCode": "Mã số thuế không hợp lệ",
    "DuplicateInvoiceRefID": "Trùng RefID của hóa đơn",
    "InvalidInvoiceDate": "Ngày hóa đơn không hợp lệ",
    "InvoiceIssuedDateSmallerThanLastest": "Ngày hóa đơn nhỏ hơn ngày của hóa đơn đã phát hành gần nhất",
    "InvoiceNumberNotCotinuous": "Số hóa đơn không liên tục",
    "InvoiceCannotReplace": "Không thể thay thế hóa đơn đã bị thay thế",
    "InvoiceCannotAdjust": "Không thể điều chỉnh hóa đơn đã bị thay thế",
    "HasAdjustmentInvoice": "Hóa đơn đã được lập hóa đơn điều chỉnh, không thể thay thế",
    "APINotSupportTypeInvoice": "Hình thức ký không được hỗ trợ",
    "Exception": "Thực hiện bị Exception - Không rõ nguyên nhân",
}
GATEWAY_HTML = (
    "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


# --- errors and envelopes ---------------------------------------------------------------------------


def describe(code: str) -> str:
    if code in DESCRIPTIONS:
        return DESCRIPTIONS[code]
    for prefix, text in (
        ("RequireError_", "Thiếu thông tin bắt buộc: "),
        ("Invalid_", "Dữ liệu không hợp lệ: "),
        ("InvoiceDetail_", "Dòng hàng có dữ liệu không hợp lệ: "),
    ):
        if code.startswith(prefix):
            return text + code[len(prefix) :]
    return code


class Reject(Exception):
    """One invoice refused: its own ErrorCode in publishInvoiceResult."""

    def __init__(self, code: str, description: str | None = None):
        super().__init__(code)
        self.code = code
        self.description = description or describe(code)


class ApiError(Exception):
    """A whole call refused, answered in the route's envelope."""

    def __init__(
        self,
        status: int,
        code: str,
        description: str | None = None,
        errors: list | None = None,
        *,
        pascal: bool = False,
    ):
        super().__init__(code)
        self.status = status
        self.code = code
        self.description = description or describe(code)
        self.errors = errors
        self.pascal = pascal  # the shared auth filter answers PascalCase on every route


def pascal(success: bool, data: Any, code: str | None = None, errors: list | None = None) -> dict:
    """The PascalCase envelope every route but publish answers."""
    return {
        "Success": success,
        "Data": data,
        "ErrorCode": code,
        "Errors": errors or [],
        "CustomData": None,
    }


def json_text(obj: Any) -> str:
    """What ``Data`` / ``publishInvoiceResult`` hold: JSON text, a string inside the JSON answer."""
    return dumps(obj).decode("utf-8")


# --- reading requests -------------------------------------------------------------------------------


def parse_day(value: Any) -> date | None:
    """yyyy-MM-dd (optionally with a time part), yyyyMMdd or dd/MM/yyyy; None when unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    for fmt, width in (("%Y-%m-%d", 10), ("%Y%m%d", 8), ("%d/%m/%Y", 10)):
        try:
            return datetime.strptime(text[:width], fmt).date()
        except ValueError:
            continue
    return None


def lower_keys(obj: dict) -> dict:
    return {str(k).lower(): v for k, v in obj.items()}


def truthy(value: str | None) -> bool | None:
    if value is None or value == "":
        return None
    return value.strip().lower() in ("1", "true", "yes")


# --- writing answers --------------------------------------------------------------------------------


def net_date(day: date) -> str:
    """sandbox: ``InvDate`` comes back as a .NET DateTime, ``yyyy-MM-ddT00:00:00``."""
    return day.isoformat() + "T00:00:00"


def iso_vn(moment: datetime) -> str:
    """sandbox: ``PublishedTime`` and other moments are ISO 8601 with the +07:00 offset."""
    local = moment.astimezone(VN_TZ)
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}+07:00"


def series_key(series: str) -> str:
    """A series without its year digits: templates roll their year with InvDate."""
    return series[:2] + series[4:]
