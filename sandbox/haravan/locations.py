"""Where a shop sells from and who it is: its locations (branches and warehouses,
https://docs.haravan.com/docs/omni-apis/location/) and the shop record
(https://docs.haravan.com/docs/omni-apis/shop/), both readable with ``com.read_shop``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core import Request, Response, Router, json_response
from .helpers import not_found
from .state import Shop, TokenInfo

if TYPE_CHECKING:
    from .simulator import HaravanSimulator


class Locations:
    def __init__(self, sim: HaravanSimulator):
        self.sim = sim

    def register(self, router: Router) -> None:
        router.add("GET", "/com/locations.json", self.list_locations)
        router.add("GET", "/com/locations/{id}.json", self.get_location)
        router.add("GET", "/com/shop.json", self.get_shop)

    def list_locations(self, request: Request, *, shop: Shop, token: TokenInfo) -> Response:
        self.sim.require_scope(token, "com.read_shop", "com.read_inventories")
        return json_response({"locations": sorted(shop.locations.values(), key=lambda loc: loc["id"])})

    def get_location(self, request: Request, *, shop: Shop, token: TokenInfo, id: str) -> Response:
        self.sim.require_scope(token, "com.read_shop", "com.read_inventories")
        location = shop.locations.get(int(id)) if id.isdigit() else None
        if location is None:
            raise not_found()
        return json_response({"location": location})

    def get_shop(self, request: Request, *, shop: Shop, token: TokenInfo) -> Response:
        self.sim.require_scope(token, "com.read_shop", "org")
        return json_response({"shop": shop.info})
