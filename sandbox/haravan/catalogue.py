"""The catalogue: products and their variants, read-only (every shop starts with the demo catalogue).
Shapes as in https://docs.haravan.com/docs/omni-apis/products/ and
https://docs.haravan.com/docs/omni-apis/product-variants/."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core import Request, Response, Router, json_response
from .helpers import not_found
from .reading import by_id, paged, select_fields
from .state import Shop, TokenInfo

if TYPE_CHECKING:
    from .simulator import HaravanSimulator


class Catalogue:
    def __init__(self, sim: HaravanSimulator):
        self.sim = sim

    def register(self, router: Router) -> None:
        router.add("GET", "/com/products.json", self.list_products)
        router.add("GET", "/com/products/count.json", self.count_products)
        router.add("GET", "/com/products/{id}.json", self.get_product)
        router.add("GET", "/com/products/{id}/variants.json", self.list_variants)
        router.add("GET", "/com/variants/{id}.json", self.get_variant)

    @staticmethod
    def _products(shop: Shop, request: Request) -> list[dict]:
        items = by_id(request, shop.products.values())
        for key, attr in (("product_type", "product_type"), ("vendor", "vendor")):
            if request.arg(key):
                items = [p for p in items if (p.get(attr) or "").lower() == request.arg(key).lower()]
        return items

    def list_products(self, request: Request, *, shop: Shop, token: TokenInfo) -> Response:
        self.sim.require_read(token, "products")
        return paged(request, self._products(shop, request), "products")

    def count_products(self, request: Request, *, shop: Shop, token: TokenInfo) -> Response:
        self.sim.require_read(token, "products")
        return json_response({"count": len(self._products(shop, request))})

    def get_product(self, request: Request, *, shop: Shop, token: TokenInfo, id: str) -> Response:
        self.sim.require_read(token, "products")
        product = shop.products.get(int(id)) if id.isdigit() else None
        if product is None:
            raise not_found()
        return json_response({"product": select_fields(product, request.arg("fields"))})

    def list_variants(self, request: Request, *, shop: Shop, token: TokenInfo, id: str) -> Response:
        self.sim.require_read(token, "products")
        product = shop.products.get(int(id)) if id.isdigit() else None
        if product is None:
            raise not_found()
        return json_response({"variants": product["variants"]})

    def get_variant(self, request: Request, *, shop: Shop, token: TokenInfo, id: str) -> Response:
        self.sim.require_read(token, "products")
        found = shop.variant(int(id)) if id.isdigit() else None
        if found is None:
            raise not_found()
        return json_response({"variant": found[1]})
