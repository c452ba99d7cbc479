"""Haravan's webhooks: the subscription API an app calls after install, and the signed deliveries it then
receives (https://docs.haravan.com/docs/tutorials/webhooks/connect-webhook/; signature check as in
https://github.com/Haravan/haravan-validate)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import TYPE_CHECKING

from ..core import Request, Response, Router, dumps, json_response
from .helpers import ApiProblem, iso
from .state import Shop

if TYPE_CHECKING:
    from .simulator import HaravanSimulator

ORDER_TOPICS = ("orders/create", "orders/updated", "orders/paid", "orders/cancelled")


def sign_webhook(body: bytes, secret: str) -> str:
    """Base64 HMAC-SHA256 of the raw body, keyed with the app's client secret (a private webhook's: with
    the shop's webhook secret, https://docs.haravan.com/docs/tutorials/webhooks/private-webhook/)."""
    return base64.b64encode(hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


def emit(sim: HaravanSimulator, shop: Shop, topic: str, payload: dict) -> None:
    """Queue a signed webhook; never blocks the API answer."""
    if sim.knobs["require_subscription"] and not (shop.subscription or {}).get("subscribed"):
        sim.skipped_webhooks += 1
        return
    body = dumps(payload)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "X-Haravan-Topic": topic,
        "X-Haravan-Org-Id": str(shop.org_id),
        "X-Haravan-HmacSha256": sign_webhook(body, shop.webhook_secret or sim.client_secret),
    }
    meta = {"org_id": shop.org_id, "order_id": payload.get("id") if topic.startswith("orders/") else None}
    url = sim.webhook_url
    sim.webhooks.enqueue(topic=topic, url=url, headers=headers, body=body, meta=meta)
    if sim.rng.random() < float(sim.knobs["duplicate_webhooks"]):
        sim.webhooks.enqueue(topic=topic, url=url, headers=headers, body=body, meta=meta, duplicate=True)


def emit_always(sim: HaravanSimulator, shop: Shop, topic: str, payload: dict) -> None:
    """Queue a webhook even to a shop without a subscription (``app/uninstalled``)."""
    required = sim.knobs["require_subscription"]
    sim.knobs["require_subscription"] = False
    try:
        emit(sim, shop, topic, payload)
    finally:
        sim.knobs["require_subscription"] = required


class Subscriptions:
    """``/webhook/api/subscribe``: POST subscribes the token's shop, DELETE unsubscribes, GET reads."""

    def __init__(self, sim: HaravanSimulator):
        self.sim = sim

    def register(self, router: Router) -> None:
        router.add(("GET", "POST", "DELETE"), "/webhook/api/subscribe", self.subscribe)

    def subscribe(self, request: Request) -> Response:
        sim = self.sim
        with sim.lock:
            info = sim.token_for(request)
            if info is None:
                raise ApiProblem(401, "Unauthorized: a valid Bearer token is required")
            sim.require_scope(info, "wh_api")
            shop = sim.shops[info.org_id]
            stamp = iso(sim.now())
            if request.method == "POST":
                shop.subscription = {"subscribed": True, "subscribed_at": stamp, "client_id": info.client_id}
            elif request.method == "DELETE":
                shop.subscription = {
                    "subscribed": False,
                    "unsubscribed_at": stamp,
                    "client_id": info.client_id,
                }
            subscribed = bool((shop.subscription or {}).get("subscribed"))
            sim.subscription_log.append({"org_id": shop.org_id, "method": request.method, "at": stamp})
            data = {
                "org_id": shop.org_id,
                "subscribed": subscribed,
                "topics": [*ORDER_TOPICS, "app/uninstalled"] if subscribed else [],
                "callback_url": sim.webhook_url,
            }
            return json_response({"error": False, "message": None, "data": data})
