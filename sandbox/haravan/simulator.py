"""The Haravan simulator: what its resources share (shops, tokens, ids, knobs, the webhook queue) and
the Admin API's front door every call passes (Bearer token, scopes, rate limit, faults, call log)."""

from __future__ import annotations

import copy
import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from .. import demo_data
from ..core import BadRequest, KnobError, Request, Response, Router, Simulator, json_response, text_response
from ..webhooks import Sender, WebhookDispatcher
from .catalogue import Catalogue
from .control import KNOBS, PROBABILITY_KNOBS, Controls
from .customers import Customers
from .helpers import ApiProblem, iso, setting
from .inventory_adjustments import InventoryAdjustments
from .inventory_balances import InventoryBalances
from .inventory_controls import InventoryControls
from .inventory_transfers import InventoryTransfers
from .locations import Locations
from .oauth import OAuth
from .orders import Orders
from .payments import Transactions
from .purchases import Purchases
from .rate_limit import TOO_MANY, format_seconds, take
from .reading import read_body
from .refunds import Refunds
from .state import ALL_SCOPES, Shop, TokenInfo
from .webhooks import Subscriptions

UNAUTHORIZED = "[API] Invalid API key or access token (unrecognized login or wrong password)"
BAD_GATEWAY_HTML = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


class HaravanSimulator(Simulator):
    name = "haravan"
    DEFAULT_KNOBS = KNOBS
    PROBABILITY_KNOBS = PROBABILITY_KNOBS
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
        self._orders = Orders(self)
        self.router = Router()
        for resource in (
            self._orders,
            Transactions(self),
            Refunds(self),
            Catalogue(self),
            Customers(self),
            Locations(self),
            OAuth(self),
            Subscriptions(self),
            # inventory documents and stock (reference amis.md §13)
            InventoryAdjustments(self),
            InventoryTransfers(self),
            Purchases(self),
            InventoryBalances(self),
        ):
            resource.register(self.router)
        Controls(self).register(self.control)
        InventoryControls(self).register(self.control)
        self.reset_state()

    # --- configuration ---------------------------------------------------------------------------

    @property
    def client_id(self) -> str:
        return self._client_id or setting("HARAVAN_CLIENT_ID", "demo-client-id")

    @property
    def client_secret(self) -> str:
        return self._client_secret or setting("HARAVAN_CLIENT_SECRET", "demo-client-secret")

    @property
    def webhook_url(self) -> str:
        return (
            self.knobs.get("webhook_url")
            or self._webhook_url
            or setting("SANDBOX_WEBHOOK_URL", "http://127.0.0.1:8000/webhooks/haravan/")
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

    def get_knobs(self) -> dict[str, Any]:
        with self.lock:
            knobs = dict(self.knobs)
            knobs["storm_seconds"] = round(max(0.0, self._storm_until - self.monotonic()), 3)
            knobs["webhook_url"] = self.webhook_url
            return knobs

    def _apply_webhook_knobs(self) -> None:
        self.webhooks.max_attempts = max(1, int(self.knobs["webhook_max_attempts"]))
        self.webhooks.backoff = max(0.0, float(self.knobs["webhook_backoff_seconds"]))

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
            self._orders.seed_demo(self.shops[demo_data.SHOP_ID])

    def close(self) -> None:
        self.webhooks.close()

    def add_shop(
        self,
        org_id: int,
        *,
        token: str | None = None,
        info: dict | None = None,
        name: str | None = None,
        webhook_secret: str | None = None,
    ) -> Shop:
        """A shop with the demo catalogue, customers and locations (and no orders); ``token`` opens it.
        With ``webhook_secret`` its webhooks are a private app's, signed with that secret."""
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
                webhook_secret=webhook_secret or None,
            )
            self.shops[org_id] = shop
            if token:
                self.tokens[token] = TokenInfo(org_id=org_id, scopes=ALL_SCOPES, kind="private")
            return shop

    def shop(self, org_id: int = demo_data.SHOP_ID) -> Shop:
        return self.shops[int(org_id)]

    def next_id(self, kind: str) -> int:
        """The next id of an order, line, transaction, fulfillment, refund, customer or address."""
        return next(self._seq[kind])

    # --- the front door --------------------------------------------------------------------------

    def handle_api(self, request: Request) -> Response:
        path = request.path
        if path.startswith("/accounts/"):
            return self._logged(request, "oauth", lambda: self._dispatch(request))
        if path.startswith("/webhook/"):
            return self._logged(request, "webhook_api", lambda: self._dispatch(request))
        if path.startswith("/com/"):
            return self._api_call(request)
        return json_response({"errors": "Not Found"}, status=404)

    def _dispatch(self, request: Request, **context) -> Response:
        handler, params, known = self.router.match(request.method, request.path)
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
                "seq": self.next_id("call"),
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

    def token_for(self, request: Request) -> TokenInfo | None:
        """The request's Bearer token when it is known, unexpired and its shop still exists."""
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
            info = self.token_for(request)
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
                allowed, used, wait = take(shop, started, capacity, float(self.knobs["rate_per_second"]))
                if not allowed:
                    response = json_response(
                        {"errors": TOO_MANY},
                        status=429,
                        headers={"Retry-After": format_seconds(wait)},
                    )
                elif self.rng.random() < float(self.knobs["error_rate"]):
                    response = self._server_error()
                else:
                    response = self._dispatch(request, shop=shop, token=info)
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

    # --- scopes ----------------------------------------------------------------------------------

    def require_scope(self, token: TokenInfo, *scopes: str) -> None:
        """403 unless the token holds one of ``scopes`` (or the ``enforce_scopes`` knob is off)."""
        if not self.knobs["enforce_scopes"] or token.scopes & set(scopes):
            return
        raise ApiProblem(403, f"[API] This action requires merchant approval for {scopes[0]} scope.")

    def require_read(self, token: TokenInfo, resource: str) -> None:
        self.require_scope(token, f"com.read_{resource}", f"com.write_{resource}")

    def require_write(self, token: TokenInfo, resource: str) -> None:
        self.require_scope(token, f"com.write_{resource}")

    # --- control endpoints, in Haravan's error dialect --------------------------------------------

    def control_error(self, status: int, message: Any) -> Response:
        return json_response({"errors": message}, status)

    def control_failure(self, exc: Exception) -> Response:
        if isinstance(exc, ApiProblem):
            return json_response({"errors": exc.errors}, exc.status, exc.headers)
        return super().control_failure(exc)

    def control_body(self, request: Request) -> dict:
        return read_body(request, required=False)

    def calls_context(self) -> dict[str, Any]:
        return {
            "monotonic_now": self.monotonic(),
            "rate_capacity": self.knobs["rate_capacity"],
            "rate_per_second": self.knobs["rate_per_second"],
        }
