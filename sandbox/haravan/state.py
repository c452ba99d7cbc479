"""What the Haravan simulator remembers per shop and per access token."""

from __future__ import annotations

from dataclasses import dataclass, field

from .helpers import not_found
from .inventory_balances import InventoryBook

ALL_SCOPES = frozenset(
    {
        "openid", "profile", "email", "org", "userinfo",
        "com.read_orders", "com.write_orders", "com.read_products", "com.write_products",
        "com.read_customers", "com.write_customers", "com.read_inventories", "com.write_inventories",
        "com.read_shop", "wh_api", "grant_service", "offline_access",
    }
)  # fmt: skip


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
    # A private webhook set up in the shop's Settings → Notifications → Webhooks: Haravan signs the shop's
    # deliveries with this secret instead of the app's client secret. None: deliveries go to the app.
    webhook_secret: str | None = None
    # Inventory documents and stock per location (sandbox/haravan/inventory_balances.py)
    inventory: InventoryBook = field(default_factory=InventoryBook)

    def order(self, order_id: str) -> dict:
        """The order a path names; 404 when the shop has no such order."""
        try:
            order = self.orders.get(int(order_id))
        except ValueError:
            order = None
        if order is None:
            raise not_found()
        return order

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
