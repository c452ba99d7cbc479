"""A stand-in for MISA AMIS Kế toán's open API ("actopen"), mounted at ``/amis``, so vouchers can be
pushed to several AMIS companies in tests and the demo without a MISA account.

It follows /work/shared/reference/amis.md (MISA's sample client ``ManSteel/OpenAPIDemo``, MISA's error
table and callback notes copied in public clients, and production clients); what the simulator decides
where those sources are silent is marked "sandbox:"."""

from .callbacks import sign
from .companies import (
    DEMO_ACCESS_CODE,
    DEMO_ACCOUNT_OBJECTS,
    DEMO_ACCOUNTS,
    DEMO_APP_ID,
    DEMO_COMPANIES,
    DEMO_ITEMS,
    DEMO_STOCKS,
    TOKEN_TTL_SECONDS,
)
from .control import KNOBS
from .dictionary import MAX_DICTIONARY_ITEMS, MAX_TAKE
from .helpers import DESCRIPTIONS, TICKS_AT_UNIX_EPOCH, VN_TZ, AmisError
from .simulator import CONNECT_PATH, SYNC_PREFIXES, TOKEN_HEADER, AmisSimulator
from .state import Company, Proposal, Token
from .vouchers import MAX_DETAIL_LINES, MAX_VOUCHERS, REFTYPES

__all__ = [
    "CONNECT_PATH",
    "DEMO_ACCESS_CODE",
    "DEMO_ACCOUNTS",
    "DEMO_ACCOUNT_OBJECTS",
    "DEMO_APP_ID",
    "DEMO_COMPANIES",
    "DEMO_ITEMS",
    "DEMO_STOCKS",
    "DESCRIPTIONS",
    "KNOBS",
    "MAX_DETAIL_LINES",
    "MAX_DICTIONARY_ITEMS",
    "MAX_TAKE",
    "MAX_VOUCHERS",
    "REFTYPES",
    "SYNC_PREFIXES",
    "TICKS_AT_UNIX_EPOCH",
    "TOKEN_HEADER",
    "TOKEN_TTL_SECONDS",
    "VN_TZ",
    "AmisError",
    "AmisSimulator",
    "Company",
    "Proposal",
    "Token",
    "sign",
]
