"""Keeps a simulated Haravan shop busy: realistic orders created, paid and cancelled through the HTTP API.

``OrderGenerator(base_url, token)`` talks to ``{base_url}/com/...`` exactly like any API client would
(``base_url`` is the simulator's root, e.g. ``http://127.0.0.1:8100/haravan`` — the same value as
``settings.HARAVAN_API_URL``), so the orders it makes go through validation, totals, rate limits and
webhooks like real ones. Cash-on-delivery orders are settled as a carrier does: shipped, then their COD money
received (the simulator's ``/_sandbox/orders/{id}/fulfil`` and ``…/cod_received`` controls, which the
Admin API has no call for), so their fulfilments carry COD fields and their capture comes from the carrier.

Every ``inventory_every`` rounds it also moves stock at the shop's locations, with the catalogue's SKUs: a
purchase receive (through the simulator's controls: Haravan documents no create for receives; some start as a
draft, or fill a purchase order first, and are booked a little later), an adjustment (``adjustorset.json``),
a transfer between two locations (``transfer.json``, received a little later through the API) and now and then
a purchase return of part of an earlier receive. Decreases never exceed what the balances say is on hand.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import requests

from . import demo_data

log = logging.getLogger(__name__)

SOURCES = (("web", 0.5), ("pos", 0.3), ("shopee", 0.2))
CODES_FIXED = (("GIAM20K", 20000), ("GIAM50K", 50000), ("KHAITRUONG100K", 100000))
CODES_PERCENT = (("SALE5", 5), ("SALE10", 10), ("VIP15", 15))


class GeneratorError(Exception):
    pass


@dataclass
class _Pending:
    order_id: int
    due: float
    name: str = ""
    extra: dict = field(default_factory=dict)


class OrderGenerator:
    def __init__(
        self,
        base_url: str,
        token: str = demo_data.DEMO_TOKEN,
        seed: int | None = None,
        *,
        session: requests.Session | None = None,
        timeout: float = 10.0,
        max_retries: int = 3,
        business_share: float = 0.3,
        pay_share: float = 0.85,
        cancel_share: float = 0.08,
        cod_via_carrier: bool = True,
        inventory_every: int = 4,
    ):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.rng = random.Random(seed)
        self.session = session or requests.Session()
        self.timeout = timeout
        self.max_retries = max_retries
        self.business_share = business_share
        self.pay_share = pay_share
        self.cancel_share = cancel_share
        self.cod_via_carrier = cod_via_carrier
        self._catalog: dict[str, Any] | None = None
        self.pending: list[_Pending] = []
        self.stats = {"created": 0, "paid": 0, "cancelled": 0, "errors": 0}
        # Stock moves have their own random stream: a seed makes the same orders with or without them.
        self.inventory_every = inventory_every
        self.stock_rng = random.Random(None if seed is None else seed + 1)
        self.stock_turn = 0
        self.stock_pending: list[tuple[float, str, int]] = []  # (due, "receive" | "transfer", id)
        self.received: list[dict] = []  # booked receives a return may send goods of back
        self.stats.update({"receives": 0, "transfers": 0, "adjustments": 0, "returns": 0})

    # --- HTTP --------------------------------------------------------------------------------------

    def _call(self, method: str, path: str, *, params=None, json=None) -> dict:
        """One API call; waits out 429s (Retry-After) and retries 5xx a few times."""
        url = f"{self.base_url}/com/{path.lstrip('/')}"
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        for attempt in range(1, self.max_retries + 2):
            resp = self.session.request(
                method, url, params=params, json=json, headers=headers, timeout=self.timeout
            )
            if resp.status_code == 429 or resp.status_code >= 500:
                if attempt > self.max_retries:
                    break
                try:
                    wait = float(resp.headers.get("Retry-After") or 0.5 * attempt)
                except ValueError:
                    wait = 0.5 * attempt
                time.sleep(min(wait, 10.0))
                continue
            if resp.status_code >= 400:
                raise GeneratorError(f"{method} {path}: HTTP {resp.status_code} {resp.text[:300]}")
            return resp.json() if resp.content else {}
        raise GeneratorError(f"{method} {path}: HTTP {resp.status_code} after {self.max_retries} retries")

    def _control(self, path: str, body: dict | None = None) -> dict:
        """A POST to the simulator's own controls (``{base_url}/_sandbox/…``: no token, no rate limit)."""
        url = f"{self.base_url}/_sandbox/{path.lstrip('/')}"
        resp = self.session.post(url, json=body or {}, timeout=self.timeout)
        if resp.status_code >= 400:
            raise GeneratorError(f"POST _sandbox/{path}: HTTP {resp.status_code} {resp.text[:300]}")
        return resp.json() if resp.content else {}

    def _list(self, path: str, envelope: str) -> list[dict]:
        items, page = [], 1
        while True:
            chunk = self._call("GET", path, params={"limit": 50, "page": page}).get(envelope, [])
            items.extend(chunk)
            if len(chunk) < 50:
                return items
            page += 1

    def catalog(self) -> dict[str, Any]:
        """Products, customers and locations, read once through the API."""
        if self._catalog is None:
            products = self._list("products.json", "products")
            self._catalog = {
                "variants": [(p, v) for p in products for v in p["variants"]],
                "customers": self._list("customers.json", "customers"),
                "locations": self._call("GET", "locations.json").get("locations", []),
            }
        return self._catalog

    # --- building orders ---------------------------------------------------------------------------

    def build_order(self) -> dict:
        """A random, realistic ``{"order": {...}}`` payload (nothing is sent)."""
        rng = self.rng
        cat = self.catalog()
        source = rng.choices([s for s, _ in SOURCES], weights=[w for _, w in SOURCES])[0]
        location_ids = [loc["id"] for loc in cat["locations"]] or [1001]
        if source == "web":
            location_id = location_ids[0] if rng.random() < 0.7 else rng.choice(location_ids)
        else:
            location_id = rng.choice(location_ids)

        variants = rng.sample(cat["variants"], k=min(len(cat["variants"]), rng.randint(1, 4)))
        lines = []
        for product, variant in variants:
            is_book = product.get("product_type") == "Sách"
            quantity = rng.randint(1, 5 if is_book else 3)
            if is_book and rng.random() < 0.1:
                quantity = rng.randint(10, 30)  # a school or company buying in bulk
            line: dict[str, Any] = {"variant_id": variant["id"], "quantity": quantity}
            price = round(float(variant["price"]))
            if rng.random() < 0.2:
                share = rng.choice((0.05, 0.1, 0.15, 0.2))
                amount = max(1000, round(price * quantity * share / 1000) * 1000)
                line["applied_discounts"] = [{"description": "Khuyến mãi sản phẩm", "amount": amount}]
            lines.append(line)
        merchandise = sum(
            round(float(v["price"])) * ln["quantity"]
            - sum(d["amount"] for d in ln.get("applied_discounts", []))
            for (_, v), ln in zip(variants, lines, strict=True)
        )

        order: dict[str, Any] = {"source_name": source, "location_id": location_id, "line_items": lines}
        if rng.random() < 0.25:
            if rng.random() < 0.5:
                code, amount = rng.choice(CODES_FIXED)
                if amount < merchandise:
                    order["discount_codes"] = [{"code": code, "type": "fixed_amount", "amount": amount}]
            else:
                code, pct = rng.choice(CODES_PERCENT)
                order["discount_codes"] = [{"code": code, "type": "percentage", "value": pct}]

        customers = cat["customers"]
        customer = None
        if source == "pos" and rng.random() < 0.6:
            order["customer"] = None  # a walk-in buyer at the counter
        else:
            customer = rng.choice(customers) if customers else None
            order["customer"] = {"id": customer["id"]} if customer else None

        if source in ("web", "shopee"):
            carrier = rng.choice(demo_data.SHIPPING_CARRIERS)
            order["shipping_lines"] = [{**carrier, "price": rng.randrange(15000, 46000, 1000)}]
        if source == "web":
            gateway = "cod" if rng.random() < 0.6 else "bank"
        elif source == "pos":
            gateway = "cash" if rng.random() < 0.7 else "card"
            order["fulfillment_status"] = "fulfilled"  # handed over at the counter
        else:
            gateway = "shopee"
        order["gateway"], order["gateway_code"] = demo_data.GATEWAYS[gateway]

        attributes = []
        if source == "shopee":
            attributes.append({"name": "shopee_order_sn", "value": f"{rng.randint(10**13, 10**14 - 1)}"})
        if rng.random() < self.business_share:
            buyer = (demo_data.buyer_for_customer(customer["id"]) if customer else None) or rng.choice(
                demo_data.BUSINESS_BUYERS
            )
            attributes.extend(demo_data.vat_note_attributes(buyer))
            if customer is None and source != "pos":
                order["email"] = buyer["email"]
        if attributes:
            order["note_attributes"] = attributes
        if rng.random() < 0.1:
            order["note"] = rng.choice(("Giao giờ hành chính", "Gọi trước khi giao", "Gói quà giúp em"))
        return {"order": order}

    # --- actions through the API -------------------------------------------------------------------

    def create_random_order(self) -> dict:
        payload = self.build_order()
        order = self._call("POST", "orders.json", json=payload)["order"]
        self.stats["created"] += 1
        return order

    def pay(self, order_id: int, amount: int | None = None) -> dict:
        tx = {"kind": "capture"}
        if amount is not None:
            tx["amount"] = amount
        result = self._call("POST", f"orders/{order_id}/transactions.json", json={"transaction": tx})
        self.stats["paid"] += 1
        return result["transaction"]

    def deliver_cod(self, order_id: int) -> dict:
        """The carrier delivers a COD order and pays its money to the shop: a fulfilment with COD fields,
        then a "Capture" for what the buyer owed."""
        carrier = self.rng.choice(demo_data.SHIPPING_CARRIERS)
        self._control(
            f"orders/{order_id}/fulfil",
            {
                "tracking_company": carrier.get("title"),
                "tracking_company_code": carrier.get("code"),
                "tracking_number": f"{self.rng.randint(10**9, 10**10 - 1)}",
                "real_shipping_fee": self.rng.randrange(15000, 40000, 100),
            },
        )
        result = self._control(f"orders/{order_id}/cod_received")
        self.stats["paid"] += 1
        return result

    def refund(self, order_id: int, lines: dict[int, int] | None = None, money: int = 0, **extra) -> dict:
        """A refund as a shop makes one: ``lines`` (line id → units) back, ``money`` given back, or both."""
        body = {
            "refund_line_items": [{"line_item_id": k, "quantity": q} for k, q in (lines or {}).items()],
            "transactions": [{"kind": "refund", "amount": money}] if money else [],
            **extra,
        }
        return self._call("POST", f"orders/{order_id}/refunds.json", json={"refund": body})["refund"]

    def cancel(self, order_id: int, reason: str = "customer") -> dict:
        result = self._call(
            "POST", f"orders/{order_id}/cancel.json", json={"reason": reason, "restock": True}
        )
        self.stats["cancelled"] += 1
        return result["order"]

    def settle_due(self, now: float | None = None) -> None:
        """Pay most of the orders whose time has come, cancel a few, leave the rest pending."""
        now = time.monotonic() if now is None else now
        due = [p for p in self.pending if p.due <= now]
        self.pending = [p for p in self.pending if p.due > now]
        for item in due:
            roll = self.rng.random()
            try:
                if roll < self.cancel_share:
                    self.cancel(item.order_id, reason=self.rng.choice(("customer", "inventory", "other")))
                elif roll < self.cancel_share + self.pay_share:
                    if item.extra.get("cod") and self.cod_via_carrier:
                        self.deliver_cod(item.order_id)
                    else:
                        self.pay(item.order_id)
            except (GeneratorError, requests.RequestException, KeyError, ValueError) as exc:
                self.stats["errors"] += 1
                log.warning("Order generator: settling order %s failed: %s", item.order_id, exc)

    # --- stock ---------------------------------------------------------------------------------------

    STOCK_TURNS = ("receive", "adjust", "transfer", "receive", "adjust", "transfer", "return")

    def _on_hand(self, location_id: int, variant_ids: list[int]) -> dict[int, int]:
        rows = self._call(
            "GET",
            "inventory_locations.json",
            params={"location_ids": location_id, "variant_ids": ",".join(str(v) for v in variant_ids)},
        ).get("inventory_locations", [])
        return {row["variant_id"]: int(row["qty_onhand"]) for row in rows}

    def _pick(self, k: int) -> list[tuple[dict, dict]]:
        variants = self.catalog()["variants"]
        return self.stock_rng.sample(variants, k=min(len(variants), k))

    def _locations(self) -> list[int]:
        return [loc["id"] for loc in self.catalog()["locations"]] or [demo_data.LOCATIONS[0]["id"]]

    def receive_stock(self) -> dict:
        """Goods bought from a supplier arrive at a location: received at once, or a draft booked later."""
        rng = self.stock_rng
        location = rng.choice(self._locations())
        lines = []
        for _product, variant in self._pick(rng.randint(1, 3)):
            original = max(1000, round(float(variant["price"]) * rng.uniform(0.45, 0.7) / 1000) * 1000)
            line = {
                "product_variant_id": variant["id"],
                "quantity": rng.randint(5, 30),
                "original_cost": original,
            }
            if rng.random() < 0.3:
                line["discount_amount"] = round(original * rng.choice((0.03, 0.05, 0.1)) / 100) * 100
            lines.append(line)
        body: dict[str, Any] = {
            "location_id": location,
            "line_items": lines,
            "ref_number": f"HD{rng.randint(1000, 99999)}",
        }
        if rng.random() < 0.3:
            order = self._control(
                "inventory/purchase_orders",
                {
                    "location_id": location,
                    "line_items": [{k: ln[k] for k in ("product_variant_id", "quantity")} for ln in lines],
                },
            )["purchase_order"]
            body["ref_purchase_order_id"] = order["id"]
        draft = rng.random() < 0.3
        body["status"] = "Nháp" if draft else "Đã nhập hàng"
        receive = self._control("inventory/purchase_receives", body)["purchase_receive"]
        if draft:
            self.stock_pending.append((time.monotonic() + rng.uniform(2, 10), "receive", receive["id"]))
        else:
            self.received.append(receive)
        self.stats["receives"] += 1
        return receive

    def adjust_stock(self) -> dict | None:
        """A count or a correction at one location: damaged or shrinking goods out, found or new goods in."""
        rng = self.stock_rng
        location = rng.choice(self._locations())
        picked = self._pick(rng.randint(1, 3))
        have = self._on_hand(location, [v["id"] for _p, v in picked])
        decrease = rng.random() < 0.6
        reason = (
            rng.choice(("damaged", "shrinkage", "promotion"))
            if decrease
            else rng.choice(("newproduct", "returned"))
        )
        lines = []
        for _product, variant in picked:
            if decrease:
                units = min(have.get(variant["id"], 0), rng.randint(1, 4))
                if units > 0:
                    lines.append({"product_variant_id": variant["id"], "quantity": -units})
            else:
                lines.append({"product_variant_id": variant["id"], "quantity": rng.randint(1, 6)})
        if not lines:
            return None
        body = {"location_id": location, "type": "adjust", "reason": reason, "line_items": lines}
        if rng.random() < 0.2:  # a stock count: on hand set to what was counted
            body["type"] = "set"
            body["line_items"] = [
                {
                    "product_variant_id": ln["product_variant_id"],
                    "quantity": max(0, have.get(ln["product_variant_id"], 0) + ln["quantity"]),
                }
                for ln in lines
            ]
            body["note"] = "Kiểm kho định kỳ"
        adjustment = self._call("POST", "inventories/adjustorset.json", json={"inventory": body})[
            "adjustment"
        ]
        self.stats["adjustments"] += 1
        return adjustment

    def transfer_stock(self) -> dict | None:
        """Goods sent from one location to another, received there a little later."""
        rng = self.stock_rng
        locations = self._locations()
        if len(locations) < 2:
            return None
        origin, destination = rng.sample(locations, 2)
        picked = self._pick(rng.randint(1, 2))
        have = self._on_hand(origin, [v["id"] for _p, v in picked])
        lines = [
            {
                "product_id": p["id"],
                "product_variant_id": v["id"],
                "quantity": min(have.get(v["id"], 0), rng.randint(1, 8)),
            }
            for p, v in picked
        ]
        lines = [ln for ln in lines if ln["quantity"] > 0]
        if not lines:
            return None
        body = {
            "from_loc_id": origin,
            "to_loc_id": destination,
            "reason": "Bổ sung hàng",
            "line_items": lines,
        }
        transfer = self._call("POST", "inventories/transfer.json", json={"transfer": body})["transfer"]
        self.stock_pending.append((time.monotonic() + rng.uniform(2, 10), "transfer", transfer["id"]))
        self.stats["transfers"] += 1
        return transfer

    def return_stock(self) -> dict | None:
        """Part of an earlier receive goes back to its supplier (what is still on hand of it)."""
        rng = self.stock_rng
        if not self.received:
            return None
        receive = self.received.pop(rng.randrange(len(self.received)))
        line = rng.choice(receive["line_items"])
        have = self._on_hand(receive["location"]["id"], [line["product_variant_id"]])
        units = min(line["quantity"], have.get(line["product_variant_id"], 0), rng.randint(1, 5))
        if units <= 0:
            return None
        body = {
            "receive_id": receive["id"],
            "notes": "Hàng lỗi trả nhà cung cấp",
            "line_items": [{"product_variant_id": line["product_variant_id"], "quantity": units}],
        }
        returned = self._control("inventory/purchase_returns", body)["purchase_return"]
        self.stats["returns"] += 1
        return returned

    def move_stock(self) -> dict | None:
        """The next stock move of the cycle (receive, adjust, transfer, …, return)."""
        turn = self.STOCK_TURNS[self.stock_turn % len(self.STOCK_TURNS)]
        self.stock_turn += 1
        return {
            "receive": self.receive_stock,
            "adjust": self.adjust_stock,
            "transfer": self.transfer_stock,
            "return": self.return_stock,
        }[turn]()

    def settle_stock_due(self, now: float | None = None) -> None:
        """Book the drafts and receive the transfers whose time has come."""
        now = time.monotonic() if now is None else now
        due = [p for p in self.stock_pending if p[0] <= now]
        self.stock_pending = [p for p in self.stock_pending if p[0] > now]
        for _due, kind, ident in due:
            try:
                if kind == "receive":
                    answer = self._control(
                        "inventory/status",
                        {"kind": "purchase_receive", "id": ident, "status": "Đã nhập hàng"},
                    )
                    self.received.append(answer["document"])
                else:
                    self._call("POST", f"inventories/transfer/{ident}/receive.json", json={"transfer": {}})
            except (GeneratorError, requests.RequestException, KeyError, ValueError) as exc:
                self.stats["errors"] += 1
                log.warning("Order generator: settling %s %s failed: %s", kind, ident, exc)

    def run(
        self, interval: float = 5.0, stop_event: threading.Event | None = None, max_rounds: int | None = None
    ):
        """Create an order every ``interval`` seconds and settle earlier ones, until ``stop_event`` is set
        (or after ``max_rounds`` rounds, successful or not). Errors are logged and counted, never raised."""
        stop_event = stop_event or threading.Event()
        rounds = 0
        while not stop_event.is_set():
            rounds += 1
            try:
                order = self.create_random_order()
                delay = interval * (0.5 if order.get("source_name") == "pos" else self.rng.uniform(1, 4))
                cod = str(order.get("gateway_code") or "").upper() == "COD"
                self.pending.append(
                    _Pending(order["id"], time.monotonic() + delay, order.get("name", ""), {"cod": cod})
                )
                log.info(
                    "Order generator: created %s (%s, %s VND)",
                    order["name"],
                    order["source_name"],
                    order["total_price"],
                )
            except Exception as exc:  # the generator keeps going whatever happens
                self.stats["errors"] += 1
                log.warning("Order generator: creating an order failed: %s", exc)
            try:
                self.settle_due()
            except Exception as exc:
                self.stats["errors"] += 1
                log.warning("Order generator: settling failed: %s", exc)
            if self.inventory_every and rounds % self.inventory_every == 0:
                try:
                    self.move_stock()
                    self.settle_stock_due()
                except Exception as exc:
                    self.stats["errors"] += 1
                    log.warning("Order generator: moving stock failed: %s", exc)
            if max_rounds is not None and rounds >= max_rounds:
                break
            stop_event.wait(interval)
        return self.stats
