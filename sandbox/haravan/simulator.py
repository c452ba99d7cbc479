"""Haravan simulator: the Admin API (``/com/*.json``), OAuth (``/accounts/connect/*``), the webhook
subscription API (``/webhook/api/subscribe``) and outbound order webhooks — mounted at ``/haravan``.

Behaves like the real service as described in /work/shared/reference/haravan.md: Bearer tokens per
shop, ``{"order": {...}}`` envelopes, page + limit (≤50, larger silently capped), a leaky bucket of 80
draining 4/s with ``X-Haravan-Api-Call-Limit`` on every answer and 429 + ``Retry-After`` when full,
signed webhooks (base64 HMAC-SHA256 of the raw body with the app's client secret).

Quirks kept on purpose (the real API has them): ``order_number`` is the string "#100001" like ``name``;
``number`` equals ``id``; an address's ``name`` is "<last> <first>" (a leading space when the last name is
missing); an order without buyer details still carries an all-null address object; ``source_name``,
``gateway`` and ``gateway_code`` are null unless the API client sets them; a refund transaction's amount
is negative.

Simulator choices (not confirmed by Haravan's documentation) are marked "sandbox:".

Control endpoints (no auth) under ``/haravan/_sandbox/``: ``knobs`` (GET/POST), ``calls`` (GET, ``?since=``),
``reset`` (POST), ``webhooks`` (GET), ``webhooks/drain`` (POST), ``shops`` (POST), ``uninstall`` (POST),
``verify_webhook`` (POST), ``subscriptions`` (GET).
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import hmac
import itertools
import json
import math
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from html import escape
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from .. import demo_data
from ..core import (
    BadRequest,
    KnobError,
    Request,
    Response,
    Router,
    Simulator,
    dumps,
    json_response,
    redirect,
    text_response,
)
from ..webhooks import Sender, WebhookDispatcher

SHOP_TZ = timezone(timedelta(hours=7))  # Asia/Ho_Chi_Minh: naive filter dates are read in shop time
MAX_LIMIT = 50
ALL_SCOPES = frozenset(
    {
        "openid", "profile", "email", "org", "userinfo",
        "com.read_orders", "com.write_orders", "com.read_products", "com.write_products",
        "com.read_customers", "com.write_customers", "com.read_inventories", "com.write_inventories",
        "com.read_shop", "wh_api", "grant_service", "offline_access",
    }
)  # fmt: skip
ORDER_TOPICS = ("orders/create", "orders/updated", "orders/paid", "orders/cancelled")
CANCEL_REASONS = ("customer", "inventory", "fraud", "declined", "other")
TRANSACTION_KINDS = ("pending", "authorization", "capture", "sale", "void", "refund")
NEVER_EXPIRES_IN = 365 * 24 * 3600
TOO_MANY = "Exceeded 80 calls per second for api client. Reduce request rates to resume."
UNAUTHORIZED = "[API] Invalid API key or access token (unrecognized login or wrong password)"
BAD_GATEWAY_HTML = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


# --- small helpers ----------------------------------------------------------------------------------


class ApiProblem(Exception):
    """An answer other than success, in Haravan's error dialect."""

    def __init__(self, status: int, errors: Any, headers: dict | None = None):
        super().__init__(str(errors))
        self.status = status
        self.errors = errors
        self.headers = headers or {}


def invalid(field_name: str, message: str) -> ApiProblem:
    return ApiProblem(422, {field_name: [message]})


def not_found(what: str = "Not Found") -> ApiProblem:
    return ApiProblem(404, what)


def iso(moment: datetime) -> str:
    """Haravan's timestamps: UTC, milliseconds, a trailing Z."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_time(value: str) -> datetime:
    text = value.strip().replace(" ", "+")  # an unencoded "+07:00" arrives as " 07:00"
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=SHOP_TZ)  # sandbox: naive dates are shop time (Asia/Ho_Chi_Minh)
    return moment


def vnd(value: Any, field_name: str) -> int:
    """A whole-VND amount from a JSON number or numeric string (rounded half up)."""
    if isinstance(value, bool) or value is None or value == "":
        raise invalid(field_name, "is not a number")
    try:
        number = Decimal(str(value))
    except InvalidOperation as exc:
        raise invalid(field_name, "is not a number") from exc
    if not number.is_finite():
        raise invalid(field_name, "is not a number")
    return int(number.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def money(amount: int | float | Decimal) -> float:
    return float(amount)


def as_int(value: Any, field_name: str) -> int:
    if isinstance(value, bool):
        raise invalid(field_name, "is not an integer")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise invalid(field_name, "is not an integer") from exc
    if not number.is_finite() or number != number.to_integral_value():
        raise invalid(field_name, "is not an integer")
    return int(number)


def format_seconds(seconds: float) -> str:
    """Retry-After the way Haravan writes it: "2.0", "0.25" (rounded up to the hundredth)."""
    value = math.ceil(max(seconds, 0.01) * 100 - 1e-9) / 100
    text = f"{value:.2f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def select_fields(obj: dict, fields: str | None) -> dict:
    if not fields:
        return obj
    wanted = [f.strip() for f in fields.split(",") if f.strip()]
    return {k: obj[k] for k in wanted if k in obj}


def split_tags(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    return [t.strip() for t in str(value).split(",") if t.strip()]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sign_webhook(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


def _setting(name: str, default: Any) -> Any:
    try:
        from django.conf import settings

        if settings.configured:
            return getattr(settings, name, default)
    except Exception:  # noqa: S110 - the simulator also runs without Django
        pass
    return default


def max_calls_in_window(calls: Iterable[dict], window: float = 1.0, *, shop: Any = None) -> int:
    """The largest number of logged calls (optionally of one shop) inside any ``window`` seconds."""
    times = sorted(c["mono"] for c in calls if shop is None or str(c.get("shop")) == str(shop))
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


# --- the money: one place computes every total -------------------------------------------------------


def round_vnd(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def compute_totals(
    line_items: list[dict], discount_codes: list[dict], shipping_lines: list[dict]
) -> tuple[dict[str, int], list[dict]]:
    """Haravan's order totals from normalised parts (all whole VND ints).

    ``line_items``: ``price``, ``quantity``, ``total_discount``; ``discount_codes``: ``code``, ``type``
    (``fixed_amount`` | ``percentage`` | ``shipping``) and ``value`` (VND, or percent for ``percentage``);
    ``shipping_lines``: ``price``. Returns the totals and the codes with their resolved VND ``amount``.

    total_line_items_price = Σ price × quantity; total_discounts = Σ line discounts + Σ code amounts;
    subtotal_price = total_line_items_price − total_discounts; total_price = subtotal_price + Σ shipping.
    A code never takes more than what is left of the merchandise (subtotal stays ≥ 0); a percentage is
    taken from the merchandise after line discounts; a shipping code never exceeds the shipping charged.
    """
    line_total = sum(int(li["price"]) * int(li["quantity"]) for li in line_items)
    line_discounts = sum(
        min(int(li.get("total_discount") or 0), int(li["price"]) * int(li["quantity"])) for li in line_items
    )
    shipping = sum(int(s["price"]) for s in shipping_lines)
    base = line_total - line_discounts
    remaining, shipping_left = base, shipping
    resolved = []
    for code in discount_codes:
        kind = code.get("type") or "fixed_amount"
        value = Decimal(str(code.get("value", 0) or 0))
        if kind == "percentage":
            pct = min(max(value, Decimal(0)), Decimal(100))
            amount = round_vnd(Decimal(base) * pct / Decimal(100))
        elif kind == "shipping":
            amount = min(round_vnd(value), shipping_left)
        else:
            amount = round_vnd(value)
        amount = max(0, min(amount, remaining))
        remaining -= amount
        if kind == "shipping":
            shipping_left -= amount
        resolved.append({"code": code.get("code") or "", "amount": amount, "type": kind})
    total_discounts = line_discounts + sum(c["amount"] for c in resolved)
    subtotal = line_total - total_discounts
    totals = {
        "total_line_items_price": line_total,
        "total_discounts": total_discounts,
        "subtotal_price": subtotal,
        "total_shipping": shipping,
        "total_price": subtotal + shipping,
    }
    return totals, resolved


# --- state ------------------------------------------------------------------------------------------


@dataclass
class TokenInfo:
    org_id: int
    scopes: frozenset
    kind: str = "private"
    client_id: str = ""
    expires_at: float | None = None  # monotonic; None: never


@dataclass
class Shop:
    org_id: int
    info: dict
    locations: dict[int, dict]
    products: dict[int, dict]
    customers: dict[int, dict]
    orders: dict[int, dict] = field(default_factory=dict)
    next_number: int = 100001
    bucket_level: float = 0.0
    bucket_at: float | None = None
    subscription: dict | None = None

    def variant(self, variant_id: int) -> tuple[dict, dict] | None:
        for product in self.products.values():
            for variant in product["variants"]:
                if variant["id"] == variant_id:
                    return product, variant
        return None

    def primary_location(self) -> dict:
        return next(
            (loc for loc in self.locations.values() if loc.get("is_primary")),
            next(iter(self.locations.values())),
        )


class HaravanSimulator(Simulator):
    name = "haravan"
    DEFAULT_KNOBS = {
        "latency_ms": 0,  # sleep before answering an API call
        "error_rate": 0.0,  # probability of a 500/502 answer (nothing changed)
        "lost_response_rate": 0.0,  # probability a successful change answers 502 anyway (it did happen)
        "rate_capacity": 80,  # leaky bucket size per shop
        "rate_per_second": 4.0,  # leak rate
        "storm_seconds": 0.0,  # set N: every API call answers 429 for the next N seconds
        "duplicate_webhooks": 0.0,  # probability each webhook is delivered twice
        "webhook_url": None,  # where webhooks go (default: settings.SANDBOX_WEBHOOK_URL)
        "webhook_max_attempts": 4,
        "webhook_backoff_seconds": 1.0,  # first retry after this, doubling
        "require_subscription": False,  # deliver only to shops that called /webhook/api/subscribe
        "enforce_scopes": True,  # 403 when the token lacks the resource's scope
        "token_ttl_seconds": 0,  # OAuth access tokens expire after this (0: never)
        "oauth_redirect_uris": None,  # comma-separated allowed redirect_uri values (None: any)
    }
    PROBABILITY_KNOBS = frozenset({"error_rate", "lost_response_rate", "duplicate_webhooks"})
    CALLS_FILTER = "shop"
    CONTROL_ERRORS = (ApiProblem, BadRequest, KnobError)

    def __init__(
        self,
        *,
        seed: int | None = 20240901,
        clock: Callable[[], float] | None = None,
        now: Callable[[], datetime] | None = None,
        webhook_sender: Sender | None = None,
        webhook_background: bool = True,
        webhook_url: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        seed_orders: bool = True,
        call_log_size: int = 20000,
    ):
        super().__init__(seed=seed, clock=clock, call_log_size=call_log_size)
        self.now: Callable[[], datetime] = now or (lambda: datetime.now(UTC))
        self._client_id = client_id
        self._client_secret = client_secret
        self._webhook_url = webhook_url
        self.seed_orders = seed_orders
        self.webhooks = WebhookDispatcher(webhook_sender, background=webhook_background)
        self.router = self._api_routes()
        self._add_control_routes()
        self.reset_state()

    # --- configuration ---------------------------------------------------------------------------

    @property
    def client_id(self) -> str:
        return self._client_id or _setting("HARAVAN_CLIENT_ID", "demo-client-id")

    @property
    def client_secret(self) -> str:
        return self._client_secret or _setting("HARAVAN_CLIENT_SECRET", "demo-client-secret")

    @property
    def webhook_url(self) -> str:
        return (
            self.knobs.get("webhook_url")
            or self._webhook_url
            or _setting("SANDBOX_WEBHOOK_URL", "http://127.0.0.1:8000/webhooks/haravan/")
        )

    def set_webhook_sender(self, sender: Sender, *, background: bool | None = None) -> None:
        self.webhooks.sender = sender
        if background is not None:
            self.webhooks.background = background

    def set_knobs(self, **changes) -> dict[str, Any]:
        with self.lock:
            storm = changes.pop("storm_seconds", None)
            result = super().set_knobs(**changes)
            if storm is not None:
                seconds = self._coerce_knob("storm_seconds", storm)
                self._storm_until = self.monotonic() + seconds if seconds > 0 else 0.0
            self._apply_webhook_knobs()
            return self.get_knobs() if storm is not None else result

    def _apply_webhook_knobs(self) -> None:
        self.webhooks.max_attempts = max(1, int(self.knobs["webhook_max_attempts"]))
        self.webhooks.backoff = max(0.0, float(self.knobs["webhook_backoff_seconds"]))

    def get_knobs(self) -> dict[str, Any]:
        with self.lock:
            knobs = dict(self.knobs)
            knobs["storm_seconds"] = round(max(0.0, self._storm_until - self.monotonic()), 3)
            knobs["webhook_url"] = self.webhook_url
            return knobs

    # --- state -----------------------------------------------------------------------------------

    def reset_state(self) -> None:
        super().reset_state()
        self._apply_webhook_knobs()
        self._seq = {
            "order": itertools.count(1300000001),
            "line": itertools.count(1400000001),
            "transaction": itertools.count(1500000001),
            "fulfillment": itertools.count(1600000001),
            "refund": itertools.count(1700000001),
            "customer": itertools.count(1100000101),
            "address": itertools.count(1800000001),
            "call": itertools.count(1),
        }
        self._storm_until = 0.0
        self.shops: dict[int, Shop] = {}
        self.tokens: dict[str, TokenInfo] = {}
        self.codes: dict[str, dict] = {}
        self.refresh_tokens: dict[str, TokenInfo] = {}
        self.subscription_log: list[dict] = []
        self.skipped_webhooks = 0
        self.webhooks.clear()
        self.add_shop(demo_data.SHOP_ID, token=demo_data.DEMO_TOKEN, info=demo_data.SHOP)
        if self.seed_orders:
            self._seed_demo_orders(self.shops[demo_data.SHOP_ID])

    def close(self) -> None:
        self.webhooks.close()

    def add_shop(
        self, org_id: int, *, token: str | None = None, info: dict | None = None, name: str | None = None
    ) -> Shop:
        """A shop with the demo catalogue, customers and locations (and no orders); ``token`` opens it."""
        with self.lock:
            org_id = int(org_id)
            base = copy.deepcopy(info or demo_data.SHOP)
            base["id"] = org_id
            if info is None:
                base["name"] = name or f"Cửa hàng {org_id}"
                base["domain"] = base["myharavan_domain"] = f"shop{org_id}.myharavan.com"
            elif name:
                base["name"] = name
            shop = Shop(
                org_id=org_id,
                info=base,
                locations={loc["id"]: copy.deepcopy(loc) for loc in demo_data.LOCATIONS},
                products={p["id"]: copy.deepcopy(p) for p in demo_data.PRODUCTS},
                customers={c["id"]: copy.deepcopy(c) for c in demo_data.CUSTOMERS},
            )
            self.shops[org_id] = shop
            if token:
                self.tokens[token] = TokenInfo(org_id=org_id, scopes=ALL_SCOPES, kind="private")
            return shop

    def shop(self, org_id: int = demo_data.SHOP_ID) -> Shop:
        return self.shops[int(org_id)]

    def _next(self, kind: str) -> int:
        return next(self._seq[kind])

    def _seed_demo_orders(self, shop: Shop) -> None:
        start = self.now()
        for hours_ago, payload, events in demo_data.DEMO_ORDERS:
            at = start - timedelta(hours=hours_ago)
            order = self._create_order(shop, copy.deepcopy(payload), at=at, emit=False)
            for step, event in enumerate(events, start=1):
                later = at + timedelta(minutes=20 * step)
                if event == "pay":
                    self._add_transaction(shop, order, {"kind": "capture"}, at=later, emit=False)
                elif event == "cancel":
                    self._cancel(shop, order, {"reason": "customer", "restock": True}, at=later, emit=False)
                elif event == "close":
                    self._set_status(shop, order, "close", at=later, emit=False)
                else:
                    self._add_transaction(
                        shop, order, {"kind": "capture", "amount": event}, at=later, emit=False
                    )

    # --- entry point -----------------------------------------------------------------------------

    def handle_api(self, request: Request) -> Response:
        path = request.path
        if path.startswith("/accounts/"):
            return self._logged(request, "oauth", lambda: self._dispatch(self.router, request, path))
        if path.startswith("/webhook/"):
            return self._logged(request, "webhook_api", lambda: self._dispatch(self.router, request, path))
        if path.startswith("/com/"):
            return self._api_call(request)
        return json_response({"errors": "Not Found"}, status=404)

    def _dispatch(self, router: Router, request: Request, path: str, **context) -> Response:
        handler, params, known = router.match(request.method, path)
        if handler is None:
            return json_response(
                {"errors": "Not Found" if not known else "Method Not Allowed"}, 404 if not known else 405
            )
        try:
            return handler(request, **context, **params)
        except ApiProblem as problem:
            return json_response({"errors": problem.errors}, problem.status, problem.headers)
        except BadRequest as exc:
            return json_response({"errors": str(exc)}, status=400)
        except KnobError as exc:
            return json_response({"errors": str(exc)}, status=400)

    def _log_call(self, request: Request, kind: str, status: int, shop: int | None, started: float) -> None:
        self.calls.append(
            {
                "seq": self._next("call"),
                "kind": kind,
                "shop": shop,
                "method": request.method,
                "path": request.prefix + request.path,
                "query": urlencode(request.query, doseq=True),
                "status": status,
                "mono": started,
                "wall": time.time(),
                "at": iso(datetime.now(UTC)),
            }
        )

    def _logged(self, request: Request, kind: str, answer: Callable[[], Response]) -> Response:
        started = self.monotonic()
        response = answer()
        with self.lock:
            shop = None
            token = self.tokens.get(request.bearer_token() or "")
            if token is not None:
                shop = token.org_id
            self._log_call(request, kind, response.status, shop, started)
        return response

    def _token(self, request: Request) -> TokenInfo | None:
        info = self.tokens.get(request.bearer_token() or "")
        if info is None:
            return None
        if info.expires_at is not None and self.monotonic() >= info.expires_at:
            return None
        if info.org_id not in self.shops:
            return None
        return info

    def _api_call(self, request: Request) -> Response:
        self.sleep_latency()
        with self.lock:
            started = self.monotonic()
            info = self._token(request)
            if info is None:
                response = json_response(
                    {"errors": UNAUTHORIZED},
                    status=401,
                )
                self._log_call(request, "api", response.status, None, started)
                return response
            shop = self.shops[info.org_id]
            capacity = int(self.knobs["rate_capacity"])
            if self._storm_until > started:
                response = json_response(
                    {"errors": TOO_MANY},
                    status=429,
                    headers={"Retry-After": format_seconds(self._storm_until - started)},
                )
                used = capacity
            else:
                allowed, used, wait = self._take(shop, started)
                if not allowed:
                    response = json_response(
                        {"errors": TOO_MANY},
                        status=429,
                        headers={"Retry-After": format_seconds(wait)},
                    )
                elif self.rng.random() < float(self.knobs["error_rate"]):
                    response = self._server_error()
                else:
                    response = self._dispatch(self.router, request, request.path, shop=shop, token=info)
                    if (
                        request.method != "GET"
                        and response.status < 300
                        and self.rng.random() < float(self.knobs["lost_response_rate"])
                    ):
                        response = text_response(BAD_GATEWAY_HTML, 502, content_type="text/html")
            response.headers["X-Haravan-Api-Call-Limit"] = f"{used}/{capacity}"
            self._log_call(request, "api", response.status, shop.org_id, started)
            return response

    def _server_error(self) -> Response:
        if self.rng.random() < 0.5:
            return json_response({"errors": "Internal Server Error"}, status=500)
        return text_response(BAD_GATEWAY_HTML, 502, content_type="text/html")

    def _take(self, shop: Shop, now: float) -> tuple[bool, int, float]:
        """Leaky bucket: (allowed, calls in the bucket, seconds until one more fits)."""
        capacity = int(self.knobs["rate_capacity"])
        rate = float(self.knobs["rate_per_second"])
        level = shop.bucket_level
        if shop.bucket_at is not None:
            level = max(0.0, level - (now - shop.bucket_at) * rate)
        shop.bucket_at = now
        if level + 1 > capacity + 1e-9:
            shop.bucket_level = level
            wait = (level + 1 - capacity) / rate if rate > 0 else 60.0
            return False, capacity, wait
        shop.bucket_level = level + 1
        return True, min(capacity, math.ceil(shop.bucket_level - 1e-9)), 0.0

    # --- routes ----------------------------------------------------------------------------------

    def _api_routes(self) -> Router:
        r = Router()
        # orders (specific paths before {id})
        r.add("GET", "/com/orders.json", self.list_orders)
        r.add("POST", "/com/orders.json", self.create_order)
        r.add("GET", "/com/orders/count.json", self.count_orders)
        r.add("GET", "/com/orders/{id}.json", self.get_order)
        r.add("PUT", "/com/orders/{id}.json", self.update_order)
        r.add("POST", "/com/orders/{id}/confirm.json", self.confirm_order)
        r.add("POST", "/com/orders/{id}/close.json", self.close_order)
        r.add("POST", "/com/orders/{id}/open.json", self.open_order)
        r.add("POST", "/com/orders/{id}/cancel.json", self.cancel_order)
        r.add("POST", "/com/orders/{id}/tags.json", self.add_tags)
        r.add("DELETE", "/com/orders/{id}/tags.json", self.remove_tags)
        r.add("GET", "/com/orders/{id}/transactions.json", self.list_transactions)
        r.add("POST", "/com/orders/{id}/transactions.json", self.create_transaction)
        r.add("GET", "/com/orders/{id}/transactions/{tid}.json", self.get_transaction)
        r.add("GET", "/com/orders/{id}/refunds.json", self.list_refunds)
        # catalogue, customers, locations, shop
        r.add("GET", "/com/products.json", self.list_products)
        r.add("GET", "/com/products/count.json", self.count_products)
        r.add("GET", "/com/products/{id}.json", self.get_product)
        r.add("GET", "/com/products/{id}/variants.json", self.list_variants)
        r.add("GET", "/com/variants/{id}.json", self.get_variant)
        r.add("GET", "/com/customers.json", self.list_customers)
        r.add("GET", "/com/customers/count.json", self.count_customers)
        r.add("GET", "/com/customers/search.json", self.search_customers)
        r.add("GET", "/com/customers/{id}.json", self.get_customer)
        r.add("GET", "/com/locations.json", self.list_locations)
        r.add("GET", "/com/locations/{id}.json", self.get_location)
        r.add("GET", "/com/shop.json", self.get_shop)
        # OAuth and webhook subscriptions
        r.add("GET", "/accounts/connect/authorize", self.oauth_authorize)
        r.add("POST", "/accounts/connect/token", self.oauth_token)
        r.add(("GET", "POST", "DELETE"), "/webhook/api/subscribe", self.webhook_subscribe)
        return r

    def _add_control_routes(self) -> None:
        r = self.control
        r.add("GET", "/_sandbox/webhooks", self.ctl_webhooks)
        r.add("POST", "/_sandbox/webhooks/drain", self.ctl_drain)
        r.add("POST", "/_sandbox/shops", self.ctl_add_shop)
        r.add("POST", "/_sandbox/uninstall", self.ctl_uninstall)
        r.add("POST", "/_sandbox/verify_webhook", self.ctl_verify_webhook)
        r.add("GET", "/_sandbox/subscriptions", self.ctl_subscriptions)

    # --- scopes ----------------------------------------------------------------------------------

    def _require(self, token: TokenInfo, *scopes: str) -> None:
        if not self.knobs["enforce_scopes"] or token.scopes & set(scopes):
            return
        raise ApiProblem(403, f"[API] This action requires merchant approval for {scopes[0]} scope.")

    def _read(self, token: TokenInfo, resource: str) -> None:
        self._require(token, f"com.read_{resource}", f"com.write_{resource}")

    def _write(self, token: TokenInfo, resource: str) -> None:
        self._require(token, f"com.write_{resource}")

    # --- request helpers -------------------------------------------------------------------------

    @staticmethod
    def _body(request: Request, envelope: str | None = None, *, required: bool = True) -> dict:
        data = request.json()
        if data is None and not required:
            return {}
        if not isinstance(data, dict):
            raise ApiProblem(400, {envelope or "body": "Required parameter missing or invalid"})
        if envelope is None:
            return data
        inner = data.get(envelope)
        if not isinstance(inner, dict):
            if required:
                raise ApiProblem(400, {envelope: "Required parameter missing or invalid"})
            return {}
        return inner

    @staticmethod
    def _page(request: Request) -> tuple[int, int]:
        try:
            limit = int(request.arg("limit") or MAX_LIMIT)
            page = int(request.arg("page") or 1)
        except ValueError as exc:
            raise ApiProblem(400, {"limit": "limit and page must be integers"}) from exc
        limit = MAX_LIMIT if limit <= 0 else min(limit, MAX_LIMIT)  # larger limits are silently capped
        return limit, max(page, 1)

    @staticmethod
    def _ids(request: Request) -> set[int] | None:
        raw = request.arg("ids")
        if raw is None or not raw.strip():
            return None
        try:
            return {int(x) for x in raw.split(",") if x.strip()}
        except ValueError as exc:
            raise ApiProblem(400, {"ids": "ids must be a comma-separated list of numbers"}) from exc

    @staticmethod
    def _since_id(request: Request) -> int | None:
        raw = request.arg("since_id")
        if raw in (None, ""):
            return None
        try:
            return int(raw)
        except ValueError as exc:
            raise ApiProblem(400, {"since_id": "since_id must be a number"}) from exc

    def _order_of(self, shop: Shop, order_id: str) -> dict:
        try:
            order = shop.orders.get(int(order_id))
        except ValueError:
            order = None
        if order is None:
            raise not_found()
        return order

    def _paged(self, request: Request, items: list[dict], envelope: str) -> Response:
        limit, page = self._page(request)
        chunk = items[(page - 1) * limit : page * limit]
        fields = request.arg("fields")
        return json_response({envelope: [select_fields(i, fields) for i in chunk]})

    # --- orders: reading -------------------------------------------------------------------------

    def _filtered_orders(self, shop: Shop, request: Request) -> list[dict]:
        orders = list(shop.orders.values())
        ids = self._ids(request)
        if ids is not None:
            orders = [o for o in orders if o["id"] in ids]
        since_id = self._since_id(request)
        if since_id is not None:
            orders = [o for o in orders if o["id"] > since_id]
        for name in ("created_at", "updated_at", "processed_at"):
            for bound in ("min", "max"):
                raw = request.arg(f"{name}_{bound}")
                if not raw:
                    continue
                try:
                    limit = parse_time(raw)
                except ValueError as exc:
                    raise ApiProblem(
                        400, {f"{name}_{bound}": f"invalid date {raw!r} (ISO 8601 expected)"}
                    ) from exc
                if bound == "min":
                    orders = [o for o in orders if parse_time(o[name]) >= limit]
                else:
                    orders = [o for o in orders if parse_time(o[name]) <= limit]
        status = (request.arg("status") or "open").lower()
        if status == "open":
            orders = [
                o for o in orders if o["cancelled_status"] != "cancelled" and o["closed_status"] != "closed"
            ]
        elif status == "closed":
            orders = [o for o in orders if o["closed_status"] == "closed"]
        elif status == "cancelled":
            orders = [o for o in orders if o["cancelled_status"] == "cancelled"]
        elif status != "any":
            raise ApiProblem(400, {"status": "status must be open, closed, cancelled or any"})
        financial = (request.arg("financial_status") or "any").lower()
        if financial == "unpaid":
            orders = [
                o for o in orders if o["financial_status"] in ("pending", "authorized", "partially_paid")
            ]
        elif financial == "partiallypaid":
            orders = [o for o in orders if o["financial_status"] == "partially_paid"]
        elif financial != "any":
            orders = [o for o in orders if o["financial_status"] == financial]
        fulfillment = (request.arg("fulfillment_status") or "any").lower()
        if fulfillment in ("unshipped", "notfulfilled", "null"):
            orders = [o for o in orders if o["fulfillment_status"] in (None, "notfulfilled")]
        elif fulfillment in ("shipped", "fulfilled"):
            orders = [o for o in orders if o["fulfillment_status"] == "fulfilled"]
        elif fulfillment != "any":
            orders = [o for o in orders if o["fulfillment_status"] == fulfillment]
        return self._sorted(orders, request.arg("order"), since_id is not None)

    @staticmethod
    def _sorted(orders: list[dict], order: str | None, by_id: bool) -> list[dict]:
        if not order:
            if by_id:
                return sorted(orders, key=lambda o: o["id"])
            order = "created_at desc"  # sandbox: newest first when no order is given
        parts = order.replace("+", " ").split()
        key = parts[0] if parts else "created_at"
        direction = parts[1].lower() if len(parts) > 1 else "asc"
        if key not in ("created_at", "updated_at", "processed_at", "id") or direction not in ("asc", "desc"):
            raise ApiProblem(400, {"order": "order must be 'created_at|updated_at asc|desc'"})
        if key == "id":
            return sorted(orders, key=lambda o: o["id"], reverse=direction == "desc")
        return sorted(orders, key=lambda o: (parse_time(o[key]), o["id"]), reverse=direction == "desc")

    def list_orders(self, request, *, shop, token):
        self._read(token, "orders")
        return self._paged(request, self._filtered_orders(shop, request), "orders")

    def count_orders(self, request, *, shop, token):
        self._read(token, "orders")
        return json_response({"count": len(self._filtered_orders(shop, request))})

    def get_order(self, request, *, shop, token, id):
        self._read(token, "orders")
        return json_response({"order": select_fields(self._order_of(shop, id), request.arg("fields"))})

    # --- orders: creating ------------------------------------------------------------------------

    def create_order(self, request, *, shop, token):
        self._write(token, "orders")
        payload = self._body(request, "order")
        order = self._create_order(shop, payload, at=self.now())
        return json_response({"order": order}, status=201)

    def _create_order(self, shop: Shop, payload: dict, *, at: datetime, emit: bool = True) -> dict:
        wanted = (payload.get("financial_status") or "pending").lower()
        if wanted not in ("pending", "authorized", "paid"):
            raise invalid("financial_status", "can be pending, authorized or paid when an order is created")
        processed_at = payload.get("processed_at")
        if processed_at:
            try:
                processed_at = iso(parse_time(str(processed_at)))
            except ValueError as exc:
                raise invalid("processed_at", "is not an ISO 8601 date") from exc
        raw_lines = payload.get("line_items")
        if not isinstance(raw_lines, list) or not raw_lines:
            raise invalid("line_items", "must contain at least one line item")
        lines = [self._build_line(shop, raw, i) for i, raw in enumerate(raw_lines)]
        codes = self._parse_codes(payload.get("discount_codes"))
        shipping_lines = self._parse_shipping(payload.get("shipping_lines"))
        totals, resolved = compute_totals(
            [
                {"price": li["_price"], "quantity": li["quantity"], "total_discount": li["_discount"]}
                for li in lines
            ],
            codes,
            [{"price": s["_price"]} for s in shipping_lines],
        )
        for item in lines + shipping_lines:
            item.pop("_price")
            item.pop("_discount", None)

        location = self._location_for(shop, payload.get("location_id"))
        note_attributes = self._note_attributes(payload.get("note_attributes"))
        customer = self._customer_for(shop, payload, at)
        default_address = (customer or {}).get("default_address")
        billing = self._address(payload.get("billing_address") or default_address, with_id=True)
        shipping_addr = self._address(payload.get("shipping_address") or default_address, with_id=False)
        email = payload.get("email") or payload.get("contact_email") or (customer or {}).get("email")
        source = payload.get("source_name") or payload.get("source")
        tags = split_tags(payload.get("tags"))
        order_id = self._next("order")
        number = shop.next_number
        shop.next_number += 1
        stamp = iso(at)
        token = secrets.token_hex(16)
        order = {
            "billing_address": billing,
            "browser_ip": None,
            "buyer_accepts_marketing": False,
            "cancel_reason": None,
            "cancelled_at": None,
            "cart_token": token,
            "checkout_token": token,
            "client_details": {
                "accept_language": None,
                "browser_ip": None,
                "session_hash": None,
                "user_agent": None,
                "browser_height": None,
                "browser_width": None,
            },
            "closed_at": None,
            "created_at": stamp,
            "currency": "VND",
            "customer": copy.deepcopy(customer) if customer else None,
            "discount_codes": [
                {"code": c["code"], "amount": money(c["amount"]), "type": c["type"], "is_coupon_code": True}
                for c in resolved
            ],
            "email": email,
            "financial_status": "pending",
            "fulfillments": [],
            "fulfillment_status": "notfulfilled" if shipping_lines else None,
            "tags": ", ".join(tags) if tags else None,
            "gateway": payload.get("gateway"),
            "gateway_code": payload.get("gateway_code"),
            "id": order_id,
            "landing_site": None,
            "landing_site_ref": None,
            "source": source,
            "line_items": lines,
            "name": f"#{number}",
            "note": payload.get("note"),
            "number": order_id,
            "order_number": f"#{number}",
            "processing_method": None,
            "referring_site": None,
            "refunds": [],
            "shipping_address": shipping_addr,
            "shipping_lines": shipping_lines,
            "source_name": source,
            "subtotal_price": money(totals["subtotal_price"]),
            "tax_lines": None,
            "taxes_included": bool(shop.info.get("taxes_included", True)),
            "token": secrets.token_hex(16),
            "total_discounts": money(totals["total_discounts"]),
            "total_line_items_price": money(totals["total_line_items_price"]),
            "total_price": money(totals["total_price"]),
            "total_tax": 0.0,
            "total_weight": float(sum(li["grams"] * li["quantity"] for li in lines)),
            "updated_at": stamp,
            "transactions": [],
            "note_attributes": note_attributes,
            "confirmed_at": None,
            "closed_status": "unclosed",
            "cancelled_status": "uncancelled",
            "confirmed_status": "unconfirmed",
            "user_id": demo_data.POS_STAFF_ID if source == "pos" else 0,
            "device_id": None,
            "location_id": location["id"],
            "location_name": location["name"],
            "assigned_location_id": location["id"],
            "processed_at": processed_at or stamp,
            "ref_order_id": 0,
            "ref_order_number": None,
            "utm_source": payload.get("utm_source"),
            "utm_medium": payload.get("utm_medium"),
            "utm_campaign": payload.get("utm_campaign"),
            "utm_term": None,
            "utm_content": None,
            "contact_email": email,
        }
        # the pending transaction every order starts with, then what the client asked for
        pending = self._transaction(order, "pending", totals["total_price"], at=at)
        order["transactions"].append(pending)
        if wanted == "authorized":
            order["transactions"].append(
                self._transaction(order, "authorization", totals["total_price"], at=at, parent=pending["id"])
            )
        elif wanted == "paid" and totals["total_price"] > 0:
            order["transactions"].append(
                self._transaction(order, "capture", totals["total_price"], at=at, parent=pending["id"])
            )
        order["financial_status"] = self._financial_status(order)
        if payload.get("fulfillment_status") == "fulfilled" or payload.get("fulfillments"):
            extra = (payload.get("fulfillments") or [{}])[0]
            self._fulfill(order, extra if isinstance(extra, dict) else {}, at=at)
        shop.orders[order_id] = order
        if customer:
            stored = shop.customers[customer["id"]]
            stored["orders_count"] += 1
            stored["total_spent"] = money(int(stored["total_spent"]) + totals["total_price"])
            stored["last_order_id"] = order_id
            stored["last_order_name"] = order["name"]
            stored["last_order_date"] = stamp
            stored["updated_at"] = stamp
            order["customer"] = copy.deepcopy(stored)
        if emit:
            self._emit(shop, "orders/create", order)
            if order["financial_status"] == "paid":
                self._emit(shop, "orders/paid", order)
        return order

    def _build_line(self, shop: Shop, raw: Any, index: int) -> dict:
        where = f"line_items[{index}]"
        if not isinstance(raw, dict):
            raise invalid(where, "must be an object")
        quantity = as_int(raw.get("quantity", 1), f"{where}.quantity")
        if quantity <= 0:
            raise invalid(f"{where}.quantity", "must be greater than 0")
        found = None
        if raw.get("variant_id") not in (None, "", 0):
            found = shop.variant(as_int(raw["variant_id"], f"{where}.variant_id"))
            if found is None:
                raise invalid(f"{where}.variant_id", f"variant {raw['variant_id']} does not exist")
        elif raw.get("product_id") not in (None, "", 0):
            product = shop.products.get(as_int(raw["product_id"], f"{where}.product_id"))
            if product is None:
                raise invalid(f"{where}.product_id", f"product {raw['product_id']} does not exist")
            found = (product, product["variants"][0])
        if found:
            product, variant = found
            list_price = vnd(variant["price"], f"{where}.price")
            price = vnd(raw["price"], f"{where}.price") if raw.get("price") not in (None, "") else list_price
            title, variant_title = product["title"], variant["title"]
            details = {
                "variant_id": variant["id"],
                "product_id": product["id"],
                "sku": variant["sku"],
                "barcode": variant["barcode"],
                "vendor": product["vendor"],
                "type": product["product_type"],
                "grams": float(variant["grams"]),
                "taxable": bool(variant["taxable"]),
                "product_exists": True,
                "price_original": money(list_price),
            }
        else:
            title = raw.get("title")
            if not title:
                raise invalid(f"{where}.title", "is required for a line item without variant_id")
            if raw.get("price") in (None, ""):
                raise invalid(f"{where}.price", "is required for a line item without variant_id")
            price = vnd(raw["price"], f"{where}.price")
            variant_title = raw.get("variant_title") or "Default Title"
            details = {
                "variant_id": None,
                "product_id": None,
                "sku": raw.get("sku"),
                "barcode": raw.get("barcode"),
                "vendor": raw.get("vendor"),
                "type": raw.get("type"),
                "grams": float(raw.get("grams") or 0),
                "taxable": bool(raw.get("taxable", True)),
                "product_exists": False,
                "price_original": money(price),
            }
        if price < 0:
            raise invalid(f"{where}.price", "must not be negative")
        applied = self._applied_discounts(raw, where)
        discount = sum(a["amount"] for a in applied)
        if discount > price * quantity:
            raise invalid(f"{where}.total_discount", "is larger than the line's price × quantity")
        return {
            "fulfillable_quantity": quantity,
            "fulfillment_service": None,
            "fulfillment_status": "notfulfilled",
            "grams": details["grams"],
            "id": self._next("line"),
            "price": money(price),
            "price_original": details["price_original"],
            "price_promotion": 0.0,
            "product_id": details["product_id"],
            "quantity": quantity,
            "requires_shipping": True,
            "sku": details["sku"],
            "title": title,
            "variant_id": details["variant_id"],
            "variant_title": variant_title,
            "vendor": details["vendor"],
            "type": details["type"],
            "name": f"{title} - {variant_title}",
            "gift_card": False,
            "taxable": details["taxable"],
            "tax_lines": None,
            "product_exists": details["product_exists"],
            "barcode": details["barcode"],
            "properties": raw.get("properties") or None,
            "total_discount": money(discount),
            "applied_discounts": [
                {"description": a["description"], "amount": money(a["amount"])} for a in applied
            ],
            "image": None,
            "not_allow_promotion": False,
            "ma_cost_amount": 0.0,
            "_price": price,
            "_discount": discount,
        }

    @staticmethod
    def _applied_discounts(raw: dict, where: str) -> list[dict]:
        applied = raw.get("applied_discounts")
        out = []
        if applied:
            if not isinstance(applied, list):
                raise invalid(f"{where}.applied_discounts", "must be a list")
            for i, item in enumerate(applied):
                if not isinstance(item, dict):
                    raise invalid(f"{where}.applied_discounts[{i}]", "must be an object")
                amount = vnd(item.get("amount"), f"{where}.applied_discounts[{i}].amount")
                if amount < 0:
                    raise invalid(f"{where}.applied_discounts[{i}].amount", "must not be negative")
                out.append({"description": item.get("description") or "Giảm giá", "amount": amount})
        elif raw.get("total_discount") not in (None, "", 0, 0.0):
            amount = vnd(raw["total_discount"], f"{where}.total_discount")
            if amount < 0:
                raise invalid(f"{where}.total_discount", "must not be negative")
            out.append({"description": "Giảm giá", "amount": amount})
        return out

    @staticmethod
    def _parse_codes(raw: Any) -> list[dict]:
        if not raw:
            return []
        if not isinstance(raw, list):
            raise invalid("discount_codes", "must be a list")
        codes = []
        for i, item in enumerate(raw):
            where = f"discount_codes[{i}]"
            if not isinstance(item, dict):
                raise invalid(where, "must be an object")
            kind = (item.get("type") or "fixed_amount").lower()
            if kind not in ("fixed_amount", "percentage", "shipping"):
                raise invalid(f"{where}.type", "must be fixed_amount, percentage or shipping")
            if kind == "percentage":
                # sandbox: the percent comes in "value" (or "amount"); the order shows the VND it took
                raw_value = item.get("value", item.get("amount"))
                try:
                    value = Decimal(str(raw_value))
                except InvalidOperation as exc:
                    raise invalid(f"{where}.value", "is not a number") from exc
                if not value.is_finite() or not 0 <= value <= 100:
                    raise invalid(f"{where}.value", "must be a percentage between 0 and 100")
            else:
                value = vnd(item.get("amount", item.get("value")), f"{where}.amount")
                if value < 0:
                    raise invalid(f"{where}.amount", "must not be negative")
            codes.append({"code": str(item.get("code") or ""), "type": kind, "value": value})
        return codes

    @staticmethod
    def _parse_shipping(raw: Any) -> list[dict]:
        if not raw:
            return []
        if not isinstance(raw, list):
            raise invalid("shipping_lines", "must be a list")
        out = []
        for i, item in enumerate(raw):
            if not isinstance(item, dict):
                raise invalid(f"shipping_lines[{i}]", "must be an object")
            price = vnd(item.get("price", 0), f"shipping_lines[{i}].price")
            if price < 0:
                raise invalid(f"shipping_lines[{i}].price", "must not be negative")
            out.append(
                {
                    "code": item.get("code"),
                    "price": money(price),
                    "source": item.get("source"),
                    "title": item.get("title"),
                    "_price": price,
                }
            )
        return out

    @staticmethod
    def _location_for(shop: Shop, raw: Any) -> dict:
        if raw in (None, "", 0):
            return shop.primary_location()
        location = shop.locations.get(as_int(raw, "location_id"))
        if location is None:
            raise invalid("location_id", f"location {raw} does not exist")
        return location

    def _customer_for(self, shop: Shop, payload: dict, at: datetime) -> dict | None:
        raw = payload.get("customer")
        if raw is None:
            return None
        if not isinstance(raw, dict):
            raise invalid("customer", "must be an object or null")
        if raw.get("id") not in (None, "", 0):
            found = shop.customers.get(as_int(raw["id"], "customer.id"))
            if found is not None:
                return found
            if not any(raw.get(k) for k in ("email", "phone", "first_name", "last_name")):
                raise invalid("customer.id", f"customer {raw['id']} does not exist")
        email = (raw.get("email") or "").strip().lower()
        if email:
            for existing in shop.customers.values():
                if (existing.get("email") or "").lower() == email:
                    return existing
        if not any(raw.get(k) for k in ("email", "phone", "first_name", "last_name")):
            raise invalid("customer", "needs an email, a phone or a name")
        stamp = iso(at)
        address_raw = (
            raw.get("default_address")
            or (raw.get("addresses") or [None])[0]
            or {
                "first_name": raw.get("first_name"),
                "last_name": raw.get("last_name"),
                "phone": raw.get("phone"),
            }
        )
        address = self._address(address_raw, with_id=True)
        customer = {
            "id": self._next("customer"),
            "email": raw.get("email"),
            "phone": raw.get("phone"),
            "first_name": raw.get("first_name"),
            "last_name": raw.get("last_name"),
            "accepts_marketing": bool(raw.get("accepts_marketing", False)),
            "addresses": [address],
            "default_address": dict(address),
            "orders_count": 0,
            "total_spent": 0.0,
            "total_paid": 0.0,
            "last_order_id": None,
            "last_order_name": None,
            "last_order_date": None,
            "note": raw.get("note"),
            "tags": raw.get("tags"),
            "state": "enabled",
            "verified_email": False,
            "multipass_identifier": None,
            "group_name": None,
            "birthday": None,
            "gender": None,
            "created_at": stamp,
            "updated_at": stamp,
        }
        shop.customers[customer["id"]] = customer
        return customer

    ADDRESS_FIELDS = (
        "address1",
        "address2",
        "city",
        "company",
        "country",
        "first_name",
        "last_name",
        "phone",
        "province",
        "zip",
        "name",
        "province_code",
        "country_code",
        "district",
        "district_code",
        "ward",
        "ward_code",
    )

    def _address(self, raw: Any, *, with_id: bool) -> dict:
        raw = raw if isinstance(raw, dict) else {}
        out = {k: raw.get(k) for k in self.ADDRESS_FIELDS}
        out["country"] = out["country"] or "Vietnam"
        out["country_code"] = out["country_code"] or "VN"
        if not raw.get("name"):
            # Haravan's own spacing: "<last> <first>", a leading space when there is no last name
            out["name"] = f"{out['last_name'] or ''} {out['first_name'] or ''}"
        if with_id:
            out["id"] = raw.get("id") or self._next("address")
            out["default"] = bool(raw.get("default", True))
        else:
            out["latitude"] = 0.0
            out["longitude"] = 0.0
        return out

    @staticmethod
    def _note_attributes(raw: Any) -> list[dict]:
        if raw in (None, ""):
            return []
        if not isinstance(raw, list):
            raise invalid("note_attributes", "must be a list of {name, value}")
        out = []
        for i, item in enumerate(raw):
            if not isinstance(item, dict) or not item.get("name"):
                raise invalid(f"note_attributes[{i}]", "must be an object with a name and a value")
            value = item.get("value")
            out.append({"name": str(item["name"]), "value": None if value is None else str(value)})
        return out

    def _transaction(
        self, order: dict, kind: str, amount: int, *, at: datetime, parent: int | None = None, gateway=None
    ) -> dict:
        return {
            "amount": money(-amount if kind == "refund" else amount),
            "authorization": None,
            "created_at": iso(at),
            "device_id": None,
            "gateway": gateway or order.get("gateway"),
            "id": self._next("transaction"),
            "kind": kind,
            "order_id": order["id"],
            "receipt": None,
            "status": "success",
            "test": False,
            "user_id": order.get("user_id") or 0,
            "location_id": order.get("location_id"),
            "payment_details": None,
            "parent_id": parent,
            "currency": "VND",
            "haravan_transaction_id": None,
            "external_transaction_id": None,
            "send_email": False,
            "is_cod_gateway": (order.get("gateway_code") or "").upper() == "COD",
        }

    @staticmethod
    def _money_state(order: dict) -> tuple[int, int, int]:
        """(total, captured, refunded) in whole VND."""
        captured = refunded = 0
        for tx in order["transactions"]:
            amount = round(abs(float(tx["amount"])))
            if tx["kind"] in ("capture", "sale"):
                captured += amount
            elif tx["kind"] == "refund":
                refunded += amount
        return round(float(order["total_price"])), captured, refunded

    def _financial_status(self, order: dict) -> str:
        total, captured, refunded = self._money_state(order)
        kinds = {tx["kind"] for tx in order["transactions"]}
        if refunded > 0:
            return "refunded" if refunded >= captured else "partially_refunded"
        if captured > 0:
            return "paid" if captured >= total else "partially_paid"
        if "void" in kinds:
            return "voided"
        if "authorization" in kinds:
            return "authorized"
        if total == 0:
            return "paid"
        return "pending"

    def _fulfill(self, order: dict, extra: dict, *, at: datetime) -> None:
        stamp = iso(at)
        items = []
        for line in order["line_items"]:
            line["fulfillable_quantity"] = 0
            line["fulfillment_status"] = "fulfilled"
            items.append(
                {k: line[k] for k in ("id", "variant_id", "product_id", "sku", "title", "quantity", "price")}
            )
        order["fulfillments"].append(
            {
                "created_at": stamp,
                "id": self._next("fulfillment"),
                "order_id": order["id"],
                "receipt": None,
                "status": "success",
                "tracking_company": extra.get("tracking_company"),
                "tracking_company_code": extra.get("tracking_company_code"),
                "tracking_numbers": [extra["tracking_number"]] if extra.get("tracking_number") else [],
                "tracking_number": extra.get("tracking_number"),
                "tracking_url": None,
                "tracking_urls": [],
                "updated_at": stamp,
                "line_items": items,
                "notify_customer": False,
                "cod_amount": money(extra.get("cod_amount") or 0),
                "carrier_status_name": "Đã giao hàng",
                "carrier_status_code": "delivered",
                "carrier_cod_status_code": "none",
                "location_id": order["location_id"],
            }
        )
        order["fulfillment_status"] = "fulfilled"

    # --- orders: changing ------------------------------------------------------------------------

    def _touch(self, order: dict, at: datetime) -> None:
        order["updated_at"] = iso(at)

    def update_order(self, request, *, shop, token, id):
        self._write(token, "orders")
        order = self._order_of(shop, id)
        payload = self._body(request, "order")
        changed = False
        # Only these change; line items, totals, customer and the rest are silently ignored (as Haravan does).
        if "note" in payload and payload["note"] != order["note"]:
            order["note"] = payload["note"]
            changed = True
        if "note_attributes" in payload:
            attrs = self._note_attributes(payload["note_attributes"])
            if attrs != order["note_attributes"]:
                order["note_attributes"] = attrs
                changed = True
        if "tags" in payload:
            tags = split_tags(payload["tags"])
            value = ", ".join(tags) if tags else None
            if value != order["tags"]:
                order["tags"] = value
                changed = True
        for key, with_id in (("billing_address", True), ("shipping_address", False)):
            if isinstance(payload.get(key), dict):
                merged = {**(order[key] or {}), **payload[key]}
                if "name" not in payload[key]:
                    merged.pop("name", None)  # recomputed from the (new) first and last names
                address = self._address(merged, with_id=with_id)
                if address != order[key]:
                    order[key] = address
                    changed = True
        if changed:  # sandbox: an update that changes nothing neither bumps updated_at nor sends a webhook
            self._touch(order, self.now())
            self._emit(shop, "orders/updated", order)
        return json_response({"order": order})

    def _tags_of(self, order: dict) -> list[str]:
        return split_tags(order["tags"])

    def add_tags(self, request, *, shop, token, id):
        self._write(token, "orders")
        order = self._order_of(shop, id)
        wanted = split_tags(self._body(request).get("tags"))
        for tag in wanted:
            if len(tag) > 40:
                raise invalid("tags", f"tag {tag!r} is longer than 40 characters")
        tags = self._tags_of(order)
        added = False
        for tag in wanted:
            if tag.lower() not in {t.lower() for t in tags}:
                tags.append(tag)
                added = True
        if added:
            order["tags"] = ", ".join(tags)
            self._touch(order, self.now())
            self._emit(shop, "orders/updated", order)
        return json_response({"tags": ",".join(tags)})

    def remove_tags(self, request, *, shop, token, id):
        self._write(token, "orders")
        order = self._order_of(shop, id)
        body = self._body(request, required=False)
        unwanted = {t.lower() for t in split_tags(body.get("tags") if body else request.arg("tags"))}
        tags = self._tags_of(order)
        kept = [t for t in tags if t.lower() not in unwanted]
        if kept != tags:
            order["tags"] = ", ".join(kept) if kept else None
            self._touch(order, self.now())
            self._emit(shop, "orders/updated", order)
        return json_response({"tags": ",".join(kept)})

    def _set_status(self, shop: Shop, order: dict, action: str, *, at: datetime, emit: bool = True) -> None:
        stamp = iso(at)
        changed = False
        if action == "confirm" and order["confirmed_status"] != "confirmed":
            order["confirmed_status"], order["confirmed_at"], changed = "confirmed", stamp, True
        elif action == "close" and order["closed_status"] != "closed":
            order["closed_status"], order["closed_at"], changed = "closed", stamp, True
        elif action == "open" and order["closed_status"] == "closed":
            order["closed_status"], order["closed_at"], changed = "unclosed", None, True
        if changed:
            order["updated_at"] = stamp
            if emit:
                self._emit(shop, "orders/updated", order)

    def _status_action(self, request, shop, token, id, action):
        self._write(token, "orders")
        order = self._order_of(shop, id)
        if action in ("confirm", "open") and order["cancelled_status"] == "cancelled":
            raise invalid("base", "Đơn hàng đã bị hủy (the order is cancelled)")
        self._set_status(shop, order, action, at=self.now())
        return json_response({"order": order})

    def confirm_order(self, request, *, shop, token, id):
        return self._status_action(request, shop, token, id, "confirm")

    def close_order(self, request, *, shop, token, id):
        return self._status_action(request, shop, token, id, "close")

    def open_order(self, request, *, shop, token, id):
        return self._status_action(request, shop, token, id, "open")

    def cancel_order(self, request, *, shop, token, id):
        self._write(token, "orders")
        order = self._order_of(shop, id)
        payload = self._body(request, required=False)
        self._cancel(shop, order, payload, at=self.now())
        return json_response({"order": order})

    def _cancel(self, shop: Shop, order: dict, payload: dict, *, at: datetime, emit: bool = True) -> None:
        if order["cancelled_status"] == "cancelled":
            raise invalid("base", "Đơn hàng đã bị hủy (the order is already cancelled)")
        reason = (payload.get("reason") or "other").lower()
        if reason not in CANCEL_REASONS:
            raise invalid("reason", f"must be one of {', '.join(CANCEL_REASONS)}")
        total, captured, refunded = self._money_state(order)
        refund_amount = 0
        if payload.get("amount") not in (None, ""):
            refund_amount = vnd(payload["amount"], "amount")
        elif isinstance(payload.get("refund"), dict):
            for i, tx in enumerate(payload["refund"].get("transactions") or []):
                refund_amount += vnd((tx or {}).get("amount"), f"refund.transactions[{i}].amount")
        if refund_amount < 0 or refund_amount > captured - refunded:
            raise invalid("amount", f"can refund at most {captured - refunded} VND")
        stamp = iso(at)
        if refund_amount > 0:
            tx = self._transaction(order, "refund", refund_amount, at=at)
            order["transactions"].append(tx)
            order["refunds"].append(
                {
                    "created_at": stamp,
                    "id": self._next("refund"),
                    "note": payload.get("note"),
                    "refund_line_items": [],
                    "restock": bool(payload.get("restock")),
                    "user_id": order.get("user_id") or 0,
                    "order_id": order["id"],
                    "location_id": order["location_id"],
                    "transactions": [dict(tx)],
                }
            )
        elif captured == 0:
            order["transactions"].append(self._transaction(order, "void", total, at=at))
        order["cancelled_status"] = "cancelled"
        order["cancelled_at"] = stamp
        order["cancel_reason"] = reason
        if payload.get("restock"):
            for line in order["line_items"]:
                line["fulfillable_quantity"] = 0
                if line["fulfillment_status"] == "fulfilled":
                    line["fulfillment_status"] = "restock"
        order["financial_status"] = self._financial_status(order)
        order["updated_at"] = stamp
        if emit:
            self._emit(shop, "orders/cancelled", order)

    def list_transactions(self, request, *, shop, token, id):
        self._read(token, "orders")
        order = self._order_of(shop, id)
        fields = request.arg("fields")
        return json_response({"transactions": [select_fields(t, fields) for t in order["transactions"]]})

    def get_transaction(self, request, *, shop, token, id, tid):
        self._read(token, "orders")
        order = self._order_of(shop, id)
        found = next((t for t in order["transactions"] if str(t["id"]) == tid), None)
        if found is None:
            raise not_found()
        return json_response({"transaction": found})

    def list_refunds(self, request, *, shop, token, id):
        self._read(token, "orders")
        return json_response({"refunds": self._order_of(shop, id)["refunds"]})

    def create_transaction(self, request, *, shop, token, id):
        self._write(token, "orders")
        order = self._order_of(shop, id)
        payload = self._body(request, "transaction")
        tx = self._add_transaction(shop, order, payload, at=self.now())
        return json_response({"transaction": tx}, status=201)

    def _add_transaction(
        self, shop: Shop, order: dict, payload: dict, *, at: datetime, emit: bool = True
    ) -> dict:
        kind = str(payload.get("kind") or "").strip().lower()
        if kind not in TRANSACTION_KINDS:
            raise invalid("kind", f"must be one of {', '.join(TRANSACTION_KINDS)}")
        total, captured, refunded = self._money_state(order)
        cancelled = order["cancelled_status"] == "cancelled"
        if kind in ("capture", "sale", "authorization", "pending") and cancelled:
            raise invalid("base", "Đơn hàng đã bị hủy (the order is cancelled)")
        if kind in ("capture", "sale"):
            limit = total - captured
            if limit <= 0:
                raise invalid("amount", "the order is already paid")
        elif kind == "refund":
            limit = captured - refunded
            if limit <= 0:
                raise invalid("amount", "nothing was captured that could be refunded")
        elif kind == "void":
            if captured > 0:
                raise invalid("kind", "a captured order cannot be voided; refund it instead")
            limit = total
        else:
            limit = total
        amount = limit if payload.get("amount") in (None, "") else vnd(payload["amount"], "amount")
        if amount <= 0 and kind != "void":
            raise invalid("amount", "must be greater than 0")
        if amount > limit:
            raise invalid("amount", f"must not exceed {limit} VND")
        parent = next(
            (t["id"] for t in reversed(order["transactions"]) if t["kind"] in ("authorization", "pending")),
            None,
        )
        tx = self._transaction(
            order,
            kind,
            amount,
            at=at,
            parent=parent if kind != "refund" else None,
            gateway=payload.get("gateway"),
        )
        before = order["financial_status"]
        order["transactions"].append(tx)
        order["financial_status"] = self._financial_status(order)
        order["updated_at"] = iso(at)
        if emit:
            if order["financial_status"] == "paid" and before != "paid":
                self._emit(shop, "orders/paid", order)
            else:
                self._emit(shop, "orders/updated", order)
        return tx

    # --- catalogue, customers, locations, shop ----------------------------------------------------

    def _filtered(self, request: Request, items: Iterable[dict]) -> list[dict]:
        items = sorted(items, key=lambda i: i["id"])
        ids = self._ids(request)
        if ids is not None:
            items = [i for i in items if i["id"] in ids]
        since_id = self._since_id(request)
        if since_id is not None:
            items = [i for i in items if i["id"] > since_id]
        return items

    def _products(self, shop: Shop, request: Request) -> list[dict]:
        items = self._filtered(request, shop.products.values())
        for key, attr in (("product_type", "product_type"), ("vendor", "vendor")):
            if request.arg(key):
                items = [p for p in items if (p.get(attr) or "").lower() == request.arg(key).lower()]
        return items

    def list_products(self, request, *, shop, token):
        self._read(token, "products")
        return self._paged(request, self._products(shop, request), "products")

    def count_products(self, request, *, shop, token):
        self._read(token, "products")
        return json_response({"count": len(self._products(shop, request))})

    def get_product(self, request, *, shop, token, id):
        self._read(token, "products")
        product = shop.products.get(int(id)) if id.isdigit() else None
        if product is None:
            raise not_found()
        return json_response({"product": select_fields(product, request.arg("fields"))})

    def list_variants(self, request, *, shop, token, id):
        self._read(token, "products")
        product = shop.products.get(int(id)) if id.isdigit() else None
        if product is None:
            raise not_found()
        return json_response({"variants": product["variants"]})

    def get_variant(self, request, *, shop, token, id):
        self._read(token, "products")
        found = shop.variant(int(id)) if id.isdigit() else None
        if found is None:
            raise not_found()
        return json_response({"variant": found[1]})

    def list_customers(self, request, *, shop, token):
        self._read(token, "customers")
        return self._paged(request, self._filtered(request, shop.customers.values()), "customers")

    def count_customers(self, request, *, shop, token):
        self._read(token, "customers")
        return json_response({"count": len(shop.customers)})

    def search_customers(self, request, *, shop, token):
        self._read(token, "customers")
        query = (request.arg("query") or "").strip().lower()

        def text(c: dict) -> str:
            company = (c.get("default_address") or {}).get("company") or ""
            parts = [
                c.get("email"),
                c.get("phone"),
                c.get("first_name"),
                c.get("last_name"),
                company,
                c.get("note"),
            ]
            return " ".join(p or "" for p in parts).lower()

        found = [c for c in sorted(shop.customers.values(), key=lambda c: c["id"]) if query in text(c)]
        return self._paged(request, found, "customers")

    def get_customer(self, request, *, shop, token, id):
        self._read(token, "customers")
        customer = shop.customers.get(int(id)) if id.isdigit() else None
        if customer is None:
            raise not_found()
        return json_response({"customer": customer})

    def list_locations(self, request, *, shop, token):
        self._require(token, "com.read_shop", "com.read_inventories")
        return json_response({"locations": sorted(shop.locations.values(), key=lambda loc: loc["id"])})

    def get_location(self, request, *, shop, token, id):
        self._require(token, "com.read_shop", "com.read_inventories")
        location = shop.locations.get(int(id)) if id.isdigit() else None
        if location is None:
            raise not_found()
        return json_response({"location": location})

    def get_shop(self, request, *, shop, token):
        self._require(token, "com.read_shop", "org")
        return json_response({"shop": shop.info})

    # --- webhooks out ----------------------------------------------------------------------------

    def _emit(self, shop: Shop, topic: str, payload: dict) -> None:
        """Queue a signed webhook; never blocks the API answer."""
        if self.knobs["require_subscription"] and not (shop.subscription or {}).get("subscribed"):
            self.skipped_webhooks += 1
            return
        body = dumps(payload)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Haravan-Topic": topic,
            "X-Haravan-Org-Id": str(shop.org_id),
            "X-Haravan-HmacSha256": sign_webhook(body, self.client_secret),
        }
        meta = {"org_id": shop.org_id, "order_id": payload.get("id") if topic.startswith("orders/") else None}
        url = self.webhook_url
        self.webhooks.enqueue(topic=topic, url=url, headers=headers, body=body, meta=meta)
        if self.rng.random() < float(self.knobs["duplicate_webhooks"]):
            self.webhooks.enqueue(topic=topic, url=url, headers=headers, body=body, meta=meta, duplicate=True)

    def webhook_subscribe(self, request):
        with self.lock:
            info = self._token(request)
            if info is None:
                raise ApiProblem(401, "Unauthorized: a valid Bearer token is required")
            self._require(info, "wh_api")
            shop = self.shops[info.org_id]
            stamp = iso(self.now())
            if request.method == "POST":
                shop.subscription = {"subscribed": True, "subscribed_at": stamp, "client_id": info.client_id}
            elif request.method == "DELETE":
                shop.subscription = {
                    "subscribed": False,
                    "unsubscribed_at": stamp,
                    "client_id": info.client_id,
                }
            subscribed = bool((shop.subscription or {}).get("subscribed"))
            self.subscription_log.append({"org_id": shop.org_id, "method": request.method, "at": stamp})
            data = {
                "org_id": shop.org_id,
                "subscribed": subscribed,
                "topics": [*ORDER_TOPICS, "app/uninstalled"] if subscribed else [],
                "callback_url": self.webhook_url,
            }
            return json_response({"error": False, "message": None, "data": data})

    # --- OAuth -----------------------------------------------------------------------------------

    def oauth_authorize(self, request):
        q = request.arg
        if q("client_id") != self.client_id:
            raise ApiProblem(400, "invalid_client: unknown client_id")
        redirect_uri = q("redirect_uri") or ""
        parts = urlsplit(redirect_uri)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ApiProblem(400, "invalid_request: redirect_uri must be an absolute http(s) URL")
        allowed = self.knobs.get("oauth_redirect_uris")
        if allowed and redirect_uri not in [u.strip() for u in allowed.split(",")]:
            raise ApiProblem(400, "invalid_request: redirect_uri is not registered for this client")
        state = q("state")
        response_type = set((q("response_type") or "").split())
        if "code" not in response_type:
            return redirect(_with_query(redirect_uri, {"error": "unsupported_response_type", "state": state}))
        scopes = set((q("scope") or "").split())
        if "openid" not in scopes:
            return redirect(_with_query(redirect_uri, {"error": "invalid_scope", "state": state}))
        with self.lock:
            org_id = int(q("orgid")) if (q("orgid") or "").isdigit() else demo_data.SHOP_ID
            if org_id not in self.shops:
                self.add_shop(org_id)  # sandbox: any org id "exists" and approves
            code = secrets.token_urlsafe(24)
            self.codes[code] = {
                "org_id": org_id,
                "client_id": self.client_id,
                "redirect_uri": redirect_uri,
                "scopes": frozenset(scopes & ALL_SCOPES),
                "nonce": q("nonce"),
                "expires_at": self.monotonic() + 300,
                "used": False,
            }
            answer = {
                "code": code,
                "scope": " ".join(sorted(scopes)),
                "state": state,
                "session_state": b64url(secrets.token_bytes(12)),
            }
            if "id_token" in response_type:
                answer["id_token"] = self._id_token(org_id, q("nonce"))
        if q("response_mode") == "form_post":
            fields = "".join(
                f'<input type="hidden" name="{escape(k)}" value="{escape(str(v))}"/>'
                for k, v in answer.items()
                if v is not None
            )
            page = (
                '<html><body onload="document.forms[0].submit()">'
                f'<form method="post" action="{escape(redirect_uri)}">{fields}'
                "<noscript><button>Continue</button></noscript></form></body></html>"
            )
            return text_response(page, content_type="text/html")
        return redirect(_with_query(redirect_uri, answer))

    def _id_token(self, org_id: int, nonce: str | None) -> str:
        now = int(time.time())
        shop = self.shops[org_id]
        claims = {
            "iss": "https://accounts.haravan.com",
            "aud": self.client_id,
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "auth_time": now,
            "sub": str(demo_data.POS_STAFF_ID),
            "idp": "local",
            "orgid": str(org_id),
            "orgname": shop.info.get("name"),
            "name": shop.info.get("shop_owner") or "Chủ cửa hàng",
            "email": shop.info.get("email"),
            "role": ["admin"],
            "locale": "vi",
            "amr": ["pwd"],
        }
        if nonce:
            claims["nonce"] = nonce
        header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
        payload = b64url(json.dumps(claims, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
        signature = b64url(
            hmac.new(self.client_secret.encode(), f"{header}.{payload}".encode(), "sha256").digest()
        )
        return f"{header}.{payload}.{signature}"

    def oauth_token(self, request):
        form = request.form()
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        basic = request.headers.get("Authorization") or ""
        if basic.lower().startswith("basic "):
            with contextlib.suppress(ValueError, UnicodeDecodeError):
                client_id, _, client_secret = base64.b64decode(basic[6:].strip()).decode().partition(":")
        if client_id != self.client_id or not hmac.compare_digest(
            (client_secret or "").encode(), self.client_secret.encode()
        ):
            return json_response({"error": "invalid_client"}, status=400)
        grant = form.get("grant_type")
        with self.lock:
            if grant == "authorization_code":
                code = self.codes.get(form.get("code") or "")
                if (
                    code is None
                    or code["used"]
                    or code["expires_at"] < self.monotonic()
                    or code["redirect_uri"] != form.get("redirect_uri")
                ):
                    return json_response({"error": "invalid_grant"}, status=400)
                code["used"] = True
                return self._issue_tokens(code["org_id"], code["scopes"], code["nonce"])
            if grant == "refresh_token":
                previous = self.refresh_tokens.get(form.get("refresh_token") or "")
                if previous is None or previous.org_id not in self.shops:
                    return json_response({"error": "invalid_grant"}, status=400)
                return self._issue_tokens(
                    previous.org_id, previous.scopes, None, refresh_token=form["refresh_token"]
                )
        return json_response({"error": "unsupported_grant_type"}, status=400)

    def _issue_tokens(
        self, org_id: int, scopes: frozenset, nonce: str | None, refresh_token: str | None = None
    ):
        ttl = int(self.knobs["token_ttl_seconds"])
        access = secrets.token_hex(32)
        info = TokenInfo(
            org_id=org_id,
            scopes=scopes,
            kind="oauth",
            client_id=self.client_id,
            expires_at=self.monotonic() + ttl if ttl > 0 else None,
        )
        self.tokens[access] = info
        refresh = refresh_token or secrets.token_hex(32)
        self.refresh_tokens[refresh] = info
        return json_response(
            {
                "id_token": self._id_token(org_id, nonce),
                "access_token": access,
                "expires_in": ttl if ttl > 0 else NEVER_EXPIRES_IN,
                "token_type": "Bearer",
                "refresh_token": refresh,
                "scope": " ".join(sorted(scopes)),
            }
        )

    # --- control endpoints -----------------------------------------------------------------------

    def control_error(self, status: int, message: Any) -> Response:
        return json_response({"errors": message}, status)

    def control_failure(self, exc: Exception) -> Response:
        if isinstance(exc, ApiProblem):
            return json_response({"errors": exc.errors}, exc.status, exc.headers)
        return super().control_failure(exc)

    def control_body(self, request: Request) -> dict:
        return self._body(request, required=False)

    def calls_context(self) -> dict[str, Any]:
        return {
            "monotonic_now": self.monotonic(),
            "rate_capacity": self.knobs["rate_capacity"],
            "rate_per_second": self.knobs["rate_per_second"],
        }

    def ctl_webhooks(self, request):
        return json_response(
            {
                "webhooks": self.webhooks.deliveries(),
                "pending": self.webhooks.pending(),
                "skipped": self.skipped_webhooks,
                "url": self.webhook_url,
            }
        )

    def ctl_drain(self, request):
        body = self._body(request, required=False)
        idle = self.webhooks.wait_idle(timeout=float(body.get("timeout", 5.0)))
        return json_response({"idle": idle, "pending": self.webhooks.pending()})

    def ctl_add_shop(self, request):
        body = self._body(request)
        if not str(body.get("org_id", "")).isdigit():
            raise ApiProblem(400, "org_id (a number) is required")
        token = body.get("token") or f"token-{body['org_id']}"
        with self.lock:
            shop = self.add_shop(int(body["org_id"]), token=token, name=body.get("name"))
            if body.get("domain"):
                shop.info["domain"] = body["domain"]
            return json_response({"shop": shop.info, "token": token}, status=201)

    def ctl_uninstall(self, request):
        body = self._body(request, required=False)
        org_id = int(body.get("org_id") or demo_data.SHOP_ID)
        with self.lock:
            shop = self.shops.get(org_id)
            if shop is None:
                raise not_found(f"shop {org_id} does not exist")
            revoked = 0
            if body.get("revoke_tokens", True):
                for store in (self.tokens, self.refresh_tokens):
                    for key in [k for k, v in store.items() if v.org_id == org_id]:
                        del store[key]
                        revoked += 1
            shop.subscription = None
            self._emit_always(shop, "app/uninstalled", shop.info)
            return json_response({"uninstalled": org_id, "revoked_tokens": revoked})

    def _emit_always(self, shop: Shop, topic: str, payload: dict) -> None:
        required = self.knobs["require_subscription"]
        self.knobs["require_subscription"] = False
        try:
            self._emit(shop, topic, payload)
        finally:
            self.knobs["require_subscription"] = required

    def ctl_verify_webhook(self, request):
        """Haravan's registration handshake: GET {callback}?hub.mode=subscribe&hub.verify_token=…
        &hub.challenge=…, answered with the challenge when the verify token matches."""
        body = self._body(request, required=False)
        challenge = secrets.token_hex(8)
        token = body.get("verify_token") or _setting("HARAVAN_VERIFY_TOKEN", "demo-verify-token")
        url = _with_query(
            body.get("url") or self.webhook_url,
            {"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": challenge},
        )
        try:
            status, text = self.webhooks.sender("GET", url, {}, b"")
        except Exception as exc:
            return json_response(
                {"ok": False, "error": f"{type(exc).__name__}: {exc}", "url": url}, status=502
            )
        ok = status == 200 and text.strip() == challenge
        return json_response({"ok": ok, "status": status, "answer": text[:200], "challenge": challenge})

    def ctl_subscriptions(self, request):
        with self.lock:
            return json_response(
                {
                    "subscriptions": {str(k): s.subscription for k, s in self.shops.items()},
                    "log": list(self.subscription_log),
                }
            )


def _with_query(url: str, params: dict) -> str:
    parts = urlsplit(url)
    extra = urlencode({k: v for k, v in params.items() if v is not None})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
