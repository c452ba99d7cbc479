"""Plain builders for test data (real models, real database)."""

import datetime as dt
import itertools

from django.contrib.auth import get_user_model
from django.utils import timezone

from connectors import registry
from connectors.models import Connection, License, Membership, RoutingRule, TargetAccount, Tenant
from haravan.models import HaravanShop

_seq = itertools.count(1)


def tenant(name=None, *, licensed=True) -> Tenant:
    n = next(_seq)
    t = Tenant.objects.create(name=name or f"Tenant {n}", slug=f"tenant-{n}")
    if licensed:
        for family, _label in registry.family_choices():
            License.objects.create(tenant=t, family=family, expires_at=timezone.now() + dt.timedelta(days=30))
    return t


def user(tenant_=None, *, role=Membership.Role.OWNER, email=None, password="pw"):
    n = next(_seq)
    u = get_user_model().objects.create_user(username=email or f"user{n}@example.com", password=password)
    if tenant_ is not None:
        Membership.objects.create(user=u, tenant=tenant_, role=role)
    return u


def shop(tenant_, org_id=None, token="shop-token", *, private=False, webhook_secret="") -> HaravanShop:
    """An installed app's shop (its webhooks signed with the client secret), or with `private` one connected
    with a private app token (signed with its own `webhook_secret`)."""
    secrets = {"access_token": token, **({"webhook_secret": webhook_secret} if webhook_secret else {})}
    return HaravanShop.objects.create(
        tenant=tenant_,
        org_id=org_id or str(300000000 + next(_seq)),
        name="Shop",
        token_kind=HaravanShop.TokenKind.PRIVATE if private else HaravanShop.TokenKind.OAUTH,
        secrets=secrets,
    )


def connection(tenant_, shop_, *, target_kind="meinvoice", accounts=("0101243150",)) -> Connection:
    conn = Connection.objects.create(
        tenant=tenant_,
        name="Shop → meInvoice",
        source_kind="haravan",
        source_key=shop_.org_id,
        target_kind=target_kind,
    )
    for i, mst in enumerate(accounts):
        TargetAccount.objects.create(
            connection=conn,
            external_id=mst,
            name=f"Company {mst}",
            is_default=(i == 0),
            credentials={"app_id": "app", "username": "u", "password": "secret-pw", "tax_code": mst},
        )
    return conn


def rule(conn, dimension, value, mst, priority=100) -> RoutingRule:
    return RoutingRule.objects.create(
        connection=conn,
        dimension=dimension,
        value=value,
        priority=priority,
        account=conn.accounts.get(external_id=mst),
    )


def order(order_id=None, **fields) -> dict:
    oid = order_id or 1000 + next(_seq)
    base = {
        "id": oid,
        "order_number": oid,
        "name": f"#{oid}",
        "financial_status": "pending",
        "fulfillment_status": None,
        "cancelled_at": None,
        "location_id": 1001,
        "source_name": "web",
        "gateway_code": "COD",
        "total_price": 250000.0,
        "currency": "VND",
        "line_items": [],
        "shipping_lines": [],
        "fulfillments": [],
        "note_attributes": [],
        "created_at": "2026-11-20T10:00:00Z",
        "updated_at": "2026-11-20T10:00:00Z",
    }
    base.update(fields)
    return base


def paid_order(**fields) -> dict:
    """Order 5001, paid, at location 1002: one line of two shirts (AT-01) at 108,000 đồng."""
    base = {
        "financial_status": "paid",
        "location_id": 1002,
        "total_price": 216000.0,
        "line_items": [
            {
                "id": 1,
                "title": "Áo thun",
                "quantity": 2,
                "price": 108000.0,
                "sku": "AT-01",
                "total_discount": 0,
                "variant_id": 11,
                "product_id": 1,
            }
        ],
    }
    return order(5001, **{**base, **fields})


def signed_in(user, *, language="en"):
    """A test client signed in as `user`, reading `language` (pages default to Vietnamese; most tests
    check the English words)."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client
