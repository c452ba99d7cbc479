"""The Haravan simulator's knobs and its own control endpoints (no auth) under ``/haravan/_sandbox/``,
next to the shared ``knobs``, ``calls`` and ``reset``: ``webhooks`` (GET), ``webhooks/drain`` (POST),
``shops`` (POST; with ``webhook_secret``, a private app's shop whose deliveries are signed with it),
``uninstall`` (POST), ``verify_webhook`` (POST), ``subscriptions`` (GET), ``orders/{id}`` (GET), and what a
carrier does to an order, which the Admin API has no call for: ``orders/{id}/fulfil`` (POST ``{cod_amount?,
tracking_company?, tracking_number?, real_shipping_fee?}``: ship and deliver what is left) and
``orders/{id}/cod_received`` (POST: the carrier's COD money reached the shop)."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from .. import demo_data
from ..core import Request, Response, Router, json_response
from .helpers import ApiProblem, invalid, iso, money, not_found, setting, with_query
from .new_order import COD_STATUS_NAMES, fulfil, unpaid
from .payments import add_transaction
from .reading import read_body
from .webhooks import emit, emit_always

if TYPE_CHECKING:
    from .simulator import HaravanSimulator

KNOBS = {
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
    "refund_transaction_status": "Thành công",  # how a refund's transactions say they succeeded (or not)
}
PROBABILITY_KNOBS = frozenset({"error_rate", "lost_response_rate", "duplicate_webhooks"})


class Controls:
    def __init__(self, sim: HaravanSimulator):
        self.sim = sim

    def register(self, router: Router) -> None:
        router.add("GET", "/_sandbox/webhooks", self.webhooks)
        router.add("POST", "/_sandbox/webhooks/drain", self.drain)
        router.add("POST", "/_sandbox/shops", self.add_shop)
        router.add("POST", "/_sandbox/uninstall", self.uninstall)
        router.add("POST", "/_sandbox/verify_webhook", self.verify_webhook)
        router.add("GET", "/_sandbox/subscriptions", self.subscriptions)
        router.add("GET", "/_sandbox/orders/{id}", self.order)
        router.add("POST", "/_sandbox/orders/{id}/fulfil", self.fulfil)
        router.add("POST", "/_sandbox/orders/{id}/cod_received", self.cod_received)

    def webhooks(self, request: Request) -> Response:
        sim = self.sim
        return json_response(
            {
                "webhooks": sim.webhooks.deliveries(),
                "pending": sim.webhooks.pending(),
                "skipped": sim.skipped_webhooks,
                "url": sim.webhook_url,
            }
        )

    def order(self, request: Request, id: str) -> Response:
        """An order of any shop as it stands, for a test to watch without spending the shop's API calls."""
        for shop in self.sim.shops.values():
            if id.isdigit() and int(id) in shop.orders:
                return json_response({"order": shop.orders[int(id)]})
        return json_response({"errors": "Not Found"}, status=404)

    def _find(self, id: str):
        for shop in self.sim.shops.values():
            if id.isdigit() and int(id) in shop.orders:
                return shop, shop.orders[int(id)]
        raise not_found(f"order {id} does not exist")

    def fulfil(self, request: Request, id: str) -> Response:
        """The carrier picks up and delivers what is left of the order (one fulfilment, COD fields set)."""
        sim = self.sim
        body = read_body(request, required=False)
        with sim.lock:
            shop, order = self._find(id)
            if order["cancelled_status"] == "cancelled":
                raise invalid("base", "Đơn hàng đã bị hủy (the order is cancelled)")
            at = sim.now()
            fulfillment = fulfil(sim, order, body, at=at)
            order["updated_at"] = iso(at)
            emit(sim, shop, "orders/updated", order)
            return json_response({"fulfillment": fulfillment, "order": order})

    def cod_received(self, request: Request, id: str) -> Response:
        """The carrier's COD money reached the shop: the fulfilment's COD status becomes "codreceipt" with
        ``cod_paid_date`` and ``cod_receipt_date``, and, as Haravan records a reconciled COD, a "Capture"
        transaction through the order's gateway, written "Thành công", for what the order still owed
        (sandbox: Haravan's reconciliation screen is not an API; the capture it adds is what readers see)."""
        sim = self.sim
        with sim.lock:
            shop, order = self._find(id)
            waiting = [
                f
                for f in order["fulfillments"]
                if f.get("carrier_cod_status_code") == "codpending" and float(f.get("cod_amount") or 0) > 0
            ]
            if not waiting:
                raise invalid("fulfillments", "no fulfilment of this order is waiting for COD money")
            at = sim.now()
            stamp = iso(at)
            collected = 0
            for fulfillment in waiting:
                fulfillment["carrier_cod_status_code"] = "codreceipt"
                fulfillment["carrier_cod_status_name"] = COD_STATUS_NAMES["codreceipt"]
                fulfillment["cod_paid_date"] = fulfillment["cod_receipt_date"] = stamp
                fulfillment["updated_at"] = stamp
                collected += round(float(fulfillment["cod_amount"]))
            amount = min(collected, unpaid(order))
            transaction = None
            if amount > 0:
                transaction = add_transaction(
                    sim,
                    shop,
                    order,
                    {"kind": "capture", "amount": amount, "gateway": order.get("gateway")},
                    at=at,
                    status="Thành công",
                )
            else:
                order["updated_at"] = stamp
                emit(sim, shop, "orders/updated", order)
            return json_response({"collected": money(collected), "transaction": transaction, "order": order})

    def drain(self, request: Request) -> Response:
        body = read_body(request, required=False)
        idle = self.sim.webhooks.wait_idle(timeout=float(body.get("timeout", 5.0)))
        return json_response({"idle": idle, "pending": self.sim.webhooks.pending()})

    def add_shop(self, request: Request) -> Response:
        body = read_body(request)
        if not str(body.get("org_id", "")).isdigit():
            raise ApiProblem(400, "org_id (a number) is required")
        token = body.get("token") or f"token-{body['org_id']}"
        with self.sim.lock:
            shop = self.sim.add_shop(
                int(body["org_id"]),
                token=token,
                name=body.get("name"),
                webhook_secret=body.get("webhook_secret"),
            )
            if body.get("domain"):
                shop.info["domain"] = body["domain"]
            return json_response({"shop": shop.info, "token": token}, status=201)

    def uninstall(self, request: Request) -> Response:
        """The merchant removes the app: its tokens stop working and ``app/uninstalled`` goes out."""
        sim = self.sim
        body = read_body(request, required=False)
        org_id = int(body.get("org_id") or demo_data.SHOP_ID)
        with sim.lock:
            shop = sim.shops.get(org_id)
            if shop is None:
                raise not_found(f"shop {org_id} does not exist")
            revoked = 0
            if body.get("revoke_tokens", True):
                for store in (sim.tokens, sim.refresh_tokens):
                    for key in [k for k, v in store.items() if v.org_id == org_id]:
                        del store[key]
                        revoked += 1
            shop.subscription = None
            emit_always(sim, shop, "app/uninstalled", shop.info)
            return json_response({"uninstalled": org_id, "revoked_tokens": revoked})

    def verify_webhook(self, request: Request) -> Response:
        """Haravan's registration handshake: GET {callback}?hub.mode=subscribe&hub.verify_token=…
        &hub.challenge=…, answered with the challenge when the verify token matches."""
        sim = self.sim
        body = read_body(request, required=False)
        challenge = secrets.token_hex(8)
        token = body.get("verify_token") or setting("HARAVAN_VERIFY_TOKEN", "demo-verify-token")
        url = with_query(
            body.get("url") or sim.webhook_url,
            {"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": challenge},
        )
        try:
            status, text = sim.webhooks.sender("GET", url, {}, b"")
        except Exception as exc:
            return json_response(
                {"ok": False, "error": f"{type(exc).__name__}: {exc}", "url": url}, status=502
            )
        ok = status == 200 and text.strip() == challenge
        return json_response({"ok": ok, "status": status, "answer": text[:200], "challenge": challenge})

    def subscriptions(self, request: Request) -> Response:
        sim = self.sim
        with sim.lock:
            return json_response(
                {
                    "subscriptions": {str(k): s.subscription for k, s in sim.shops.items()},
                    "log": list(sim.subscription_log),
                }
            )
