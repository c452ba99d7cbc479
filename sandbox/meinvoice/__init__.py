"""A stand-in for MISA meInvoice's integration API, mounted at ``/meinvoice``, so invoices can be issued
in tests and the demo without a MISA account.

It follows MISA's integration guide (https://doc.meinvoice.vn/itg/; its "Tài liệu API Tạo hóa đơn - V2"
is copied publicly in https://github.com/ChuKhaLi/MisaConnect under docs/misa-api-reference/) and the
notes of a client run against MISA's test service (https://github.com/hubselltech-cyber/hubsell,
backend/src/integrations/invoice/); what the simulator decides where those sources are silent is marked
"sandbox:".
"""

from ..core import as_decimal
from .accounts import DEMO_ACCOUNTS, DEMO_APPID, DEMO_PASSWORD, DEMO_USERNAME, TOKEN_TTL_SECONDS
from .control import KNOBS
from .helpers import (
    DESCRIPTIONS,
    GATEWAY_HTML,
    SERIES_RE,
    VN_TZ,
    ApiError,
    Reject,
    describe,
    iso_vn,
    json_text,
    lower_keys,
    net_date,
    parse_day,
    pascal,
    series_key,
    truthy,
)
from .lookups import MAX_IDS_PER_LOOKUP, MAX_TAKE
from .publish import (
    EINVOICE_STATUS_BY_REFERENCE,
    MAX_INVOICES_PER_CALL,
    ORIGINAL_MARK_BY_REFERENCE,
    TX_ALPHABET,
)
from .simulator import API_PREFIX, MeInvoiceSimulator
from .state import Account, Invoice, Token, View
from .validation import (
    CENT,
    FIXED_VAT_RATES,
    MAX_LINES,
    ONE,
    OTHER_RATE_RE,
    TAX_CODE_RE,
    TAX_WEIGHTS,
    TOTAL_FIELDS,
    ZERO_VAT_NAMES,
    tax_code_valid,
)

__all__ = [
    "API_PREFIX",
    "CENT",
    "DEMO_ACCOUNTS",
    "DEMO_APPID",
    "DEMO_PASSWORD",
    "DEMO_USERNAME",
    "DESCRIPTIONS",
    "EINVOICE_STATUS_BY_REFERENCE",
    "FIXED_VAT_RATES",
    "GATEWAY_HTML",
    "KNOBS",
    "MAX_IDS_PER_LOOKUP",
    "MAX_INVOICES_PER_CALL",
    "MAX_LINES",
    "MAX_TAKE",
    "ONE",
    "ORIGINAL_MARK_BY_REFERENCE",
    "OTHER_RATE_RE",
    "SERIES_RE",
    "TAX_CODE_RE",
    "TAX_WEIGHTS",
    "TOKEN_TTL_SECONDS",
    "TOTAL_FIELDS",
    "TX_ALPHABET",
    "VN_TZ",
    "ZERO_VAT_NAMES",
    "Account",
    "ApiError",
    "Invoice",
    "MeInvoiceSimulator",
    "Reject",
    "Token",
    "View",
    "as_decimal",
    "describe",
    "iso_vn",
    "json_text",
    "lower_keys",
    "net_date",
    "parse_day",
    "pascal",
    "series_key",
    "tax_code_valid",
    "truthy",
]
