"""What every part of the AMIS simulator shares: MISA's error codes and envelope, .NET ticks, money.

Error codes and their texts are MISA's table (copied in public clients, see /work/shared/reference/amis.md
§11); the envelope is ``{Success, ErrorCode, ErrorMessage, Data}`` with ``Data`` JSON text (§1)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from ..core import Response, dumps, json_response

VN_TZ = timezone(timedelta(hours=7))
TICKS_AT_UNIX_EPOCH = 621355968000000000  # .NET DateTime ticks (100 ns since 0001-01-01) of 1970-01-01

DESCRIPTIONS = {
    "Exception": "Lỗi chưa xác định được nguyên nhân",
    "InvalidAppID": "Lỗi sai AppID",
    "InvalidToken": "Lỗi do token không hợp lệ",
    "ExpiredToken": "Lỗi do token đã hết hạn",
    "InvalidParam": "Tham số không hợp lệ",
    "IsCreatedVoucher": "Đã sinh chứng từ kế toán, không thể cập nhật được",
    "VoucherNotFound": "Không tìm thấy đề nghị sinh chứng từ kế toán",
    "DBAmisNotConnectDBACT": "Chưa thiết lập kết nối với dữ liệu kế toán nào",
    "InvalidAccessToken": "Lỗi do mã truy cập không hợp lệ",
    "AppIDDisconnect": "Đã ngắt kết nối ứng dụng",
}


class AmisError(Exception):
    """A call refused: HTTP 200 (unless ``status`` says otherwise) with ``Success:false``."""

    def __init__(self, code: str, message: str | None = None, *, data: Any = None, status: int = 200):
        super().__init__(code)
        self.code = code
        self.message = message or DESCRIPTIONS.get(code, code)
        self.data = data
        self.status = status


def json_text(obj: Any) -> str:
    """JSON text, as ``Data`` and a callback's ``data`` carry it (a string inside the JSON)."""
    return dumps(obj).decode("utf-8")


def envelope(
    success: bool, data: Any = None, code: str | None = None, message: str | None = None, **extra: Any
) -> dict:
    return {"Success": success, "ErrorCode": code, "ErrorMessage": message, "Data": data, **extra}


def ok(data: Any = None, *, as_text: bool = True, **extra: Any) -> Response:
    """A success answer; ``Data`` as JSON text unless ``as_text`` is false (or it is None)."""
    payload = json_text(data) if as_text and data is not None else data
    return json_response(envelope(True, payload, **extra))


def failure(err: AmisError) -> Response:
    data = json_text(err.data) if err.data is not None else None
    return json_response(envelope(False, data, err.code, err.message), err.status)


def net_ticks(moment: datetime) -> int:
    """.NET ticks of a naive DateTime with ``moment``'s clock reading (its own tzinfo's wall time)."""
    naive = moment.replace(tzinfo=UTC)
    delta = naive - datetime(1970, 1, 1, tzinfo=UTC)
    micros = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    return TICKS_AT_UNIX_EPOCH + micros * 10


def net_time(moment: datetime) -> str:
    """A .NET DateTime without offset, ``yyyy-MM-ddTHH:mm:ss`` (as MISA's connect answers it)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def vn(moment: datetime) -> datetime:
    return moment.astimezone(VN_TZ)


def parse_moment(value: Any) -> datetime | None:
    """``yyyy-MM-dd``, ``yyyy-MM-dd HH:mm:ss``, ISO with or without an offset; naive = Vietnam time."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=VN_TZ)


def as_int(value: Any) -> int | None:
    """An integer given as a JSON number or digits; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def text(value: Any) -> str:
    """A code field as text ('' when missing); codes compare case-insensitively (``key``)."""
    return "" if value is None else str(value).strip()


def key(value: Any) -> str:
    return text(value).casefold()


def setting(name: str, default: Any) -> Any:
    """A Django setting when Django is configured; the simulator also runs without it."""
    try:
        from django.conf import settings

        if settings.configured:
            return getattr(settings, name, default)
    except Exception:  # noqa: S110 - the simulator also runs without Django
        pass
    return default
