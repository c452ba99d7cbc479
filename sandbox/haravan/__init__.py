"""A stand-in for Haravan (Admin API, app install over OAuth, webhooks), mounted at ``/haravan``, so the
product can be tested and shown without a real shop.

It follows Haravan's public documentation (https://docs.haravan.com/docs/omni-apis/ and the tutorials
under https://docs.haravan.com/docs/tutorials/) and Haravan's samples (https://github.com/Haravan);
what the simulator decides where those sources are silent is marked "sandbox:".
"""

from .control import KNOBS
from .helpers import (
    SHOP_TZ,
    ApiProblem,
    as_int,
    compute_totals,
    invalid,
    iso,
    money,
    not_found,
    parse_time,
    round_vnd,
    split_tags,
    vnd,
)
from .oauth import NEVER_EXPIRES_IN, b64url
from .orders import CANCEL_REASONS
from .payments import TRANSACTION_KINDS
from .rate_limit import TOO_MANY, format_seconds, max_calls_in_window
from .reading import MAX_LIMIT, select_fields
from .simulator import BAD_GATEWAY_HTML, UNAUTHORIZED, HaravanSimulator
from .state import ALL_SCOPES, Shop, TokenInfo
from .webhooks import ORDER_TOPICS, sign_webhook

__all__ = [
    "ALL_SCOPES",
    "BAD_GATEWAY_HTML",
    "CANCEL_REASONS",
    "KNOBS",
    "MAX_LIMIT",
    "NEVER_EXPIRES_IN",
    "ORDER_TOPICS",
    "SHOP_TZ",
    "TOO_MANY",
    "TRANSACTION_KINDS",
    "UNAUTHORIZED",
    "ApiProblem",
    "HaravanSimulator",
    "Shop",
    "TokenInfo",
    "as_int",
    "b64url",
    "compute_totals",
    "format_seconds",
    "invalid",
    "iso",
    "max_calls_in_window",
    "money",
    "not_found",
    "parse_time",
    "round_vnd",
    "select_fields",
    "sign_webhook",
    "split_tags",
    "vnd",
]
