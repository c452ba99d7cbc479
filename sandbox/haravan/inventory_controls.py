"""The simulator's controls for what the Admin API cannot do to inventory documents (no auth, no rate limit),
under ``/haravan/_sandbox/inventory/``; each takes ``org_id`` (default: the demo shop):

- ``purchase_orders`` (POST ``{location_id?, supplier_id? | supplier?, ref_number?, notes?, line_items:
  [{product_variant_id, quantity, cost?}]}``): a purchase order;
- ``purchase_receives`` (POST ``{location_id?, status?: "Nháp"|"Đã nhập hàng", supplier_id? | supplier?,
  ref_number?, ref_purchase_order_id?, notes?, line_items:[{product_variant_id, quantity, original_cost?,
  discount_amount?, unit?: {unit, ratio}, lots?: [{lot_no, expire_date, quantity}]}]}``): a receive;
- ``purchase_returns`` (POST ``{receive_id, line_items?: [{product_variant_id, quantity}], notes?}``):
  goods of a receive sent back (all that is left of it without ``line_items``);
- ``transfers/{id}/receive`` (POST): the destination receives a transfer;
- ``status`` (POST ``{kind: "purchase_receive"|"purchase_return"|"transfer"|"purchase_order", id, status}``):
  a document's status changes; a receive's "Đã nhập hàng" books it and a transfer's "Received" receives it,
  any other word is written as it is (``updated_at`` moves), for a test of a status Haravan may send.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import demo_data
from ..core import Request, Response, Router, json_response
from .helpers import ApiProblem, not_found
from .inventory_balances import book, stamp
from .inventory_transfers import find_transfer, receive
from .purchases import _find, add_purchase_order, add_receive, add_return, set_receive_status
from .reading import read_body

if TYPE_CHECKING:
    from .simulator import HaravanSimulator


class InventoryControls:
    def __init__(self, sim: HaravanSimulator):
        self.sim = sim

    def register(self, router: Router) -> None:
        router.add("POST", "/_sandbox/inventory/purchase_orders", self.purchase_order)
        router.add("POST", "/_sandbox/inventory/purchase_receives", self.purchase_receive)
        router.add("POST", "/_sandbox/inventory/purchase_returns", self.purchase_return)
        router.add("POST", "/_sandbox/inventory/transfers/{id}/receive", self.receive_transfer)
        router.add("POST", "/_sandbox/inventory/status", self.status)

    def _shop(self, body: dict):
        org_id = int(body.get("org_id") or demo_data.SHOP_ID)
        shop = self.sim.shops.get(org_id)
        if shop is None:
            raise not_found(f"shop {org_id} does not exist")
        return shop

    def purchase_order(self, request: Request) -> Response:
        body = read_body(request)
        with self.sim.lock:
            order = add_purchase_order(self.sim, self._shop(body), body)
            return json_response({"purchase_order": order}, status=201)

    def purchase_receive(self, request: Request) -> Response:
        body = read_body(request)
        with self.sim.lock:
            return json_response({"purchase_receive": add_receive(self.sim, self._shop(body), body)}, 201)

    def purchase_return(self, request: Request) -> Response:
        body = read_body(request)
        with self.sim.lock:
            return json_response({"purchase_return": add_return(self.sim, self._shop(body), body)}, 201)

    def receive_transfer(self, request: Request, id: str) -> Response:
        body = read_body(request, required=False)
        with self.sim.lock:
            shop = self._shop(body)
            return json_response({"transfer": receive(self.sim, shop, find_transfer(shop, id))})

    def status(self, request: Request) -> Response:
        body = read_body(request)
        kind, status = body.get("kind"), str(body.get("status") or "")
        if not status:
            raise ApiProblem(400, {"status": "is required"})
        with self.sim.lock:
            shop = self._shop(body)
            inventory = book(shop)
            if kind == "purchase_receive":
                document = set_receive_status(
                    self.sim, shop, _find(inventory.receives, body.get("id")), status
                )
            elif kind == "transfer":
                document = find_transfer(shop, str(body.get("id")))
                if status == "Received" and document["status"] == "Active":
                    receive(self.sim, shop, document)
                else:
                    document.update(status=status, updated_at=stamp(self.sim))
            elif kind in ("purchase_return", "purchase_order"):
                items = inventory.returns if kind == "purchase_return" else inventory.purchase_orders
                document = _find(items, body.get("id"))
                document.update(status=status, updated_at=stamp(self.sim))
            else:
                raise ApiProblem(
                    400, {"kind": "purchase_receive, purchase_return, transfer or purchase_order"}
                )
            return json_response({"document": document})
