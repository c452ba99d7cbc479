"""What happens to Haravan data once it is ours: events, orders, scheduled and manual passes, installs."""

import datetime as dt
import logging
from urllib.parse import urlencode

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from connectors import registry
from connectors.http import ApiError, require_url
from connectors.models import BuyerProfile, CatalogItem, Connection, LicenseError, Membership, Tenant
from connectors.routing import route
from connectors.text import Text, english, untranslated, words_of
from syncjobs import intake
from syncjobs.models import InboundEvent, SyncCursor, SyncRun
from syncjobs.services import Outcome, hand_to_target, log_attempt, upsert_document

from . import convert, read
from .client import TAG_MAX_LENGTH, HaravanClient, exchange_code, subscribe_webhooks
from .models import HaravanLocation, HaravanShop

log = logging.getLogger(__name__)

# How a pass is named inside a sentence ("Order #1 received (scheduled sync #5)").
PASS_WORDS = {SyncRun.Kind.SCHEDULED: Text("scheduled sync"), SyncRun.Kind.MANUAL: Text("manual sync")}
# A scheduled pass re-reads a little before its watermark: clocks and commits are not instant.
SCHEDULE_OVERLAP = dt.timedelta(minutes=5)


def connections_for(org_id: str):
    return Connection.objects.filter(
        source_kind="haravan", source_key=str(org_id), enabled=True
    ).select_related("tenant")


# --- events ---------------------------------------------------------------------------------------


def process_event(event_id: int) -> str | None:
    return intake.process(event_id, _handle_event)


def _handle_event(event: InboundEvent) -> str:
    payload = intake.parse_body(event.body)
    topic = event.topic
    if topic.startswith("orders/"):
        handled = intake_order(event.source_key, payload, trigger=Text("webhook %(topic)s", topic=topic))
        return InboundEvent.Status.DONE if handled else InboundEvent.Status.IGNORED
    if topic == "app/uninstalled":
        HaravanShop.objects.filter(org_id=event.source_key, uninstalled_at__isnull=True).update(
            uninstalled_at=timezone.now()
        )
        for connection in connections_for(event.source_key):
            log_attempt(
                connection=connection,
                action="uninstall",
                outcome=Outcome.ERROR,
                message=Text(
                    "The Haravan app was uninstalled from this shop: no new orders arrive until it is "
                    "installed again."
                ),
            )
        return InboundEvent.Status.DONE
    if topic in ("products/create", "products/update"):
        store_products(event.source_key, [payload])
        return InboundEvent.Status.DONE
    if topic == "products/deleted":
        CatalogItem.objects.filter(
            source_kind="haravan", source_key=event.source_key, product_id=str(payload.get("id"))
        ).delete()
        return InboundEvent.Status.DONE
    if topic in ("customers/create", "customers/update"):
        store_customers(event.source_key, [payload])
        return InboundEvent.Status.DONE
    event.error = f"No action for topic {topic}."
    return InboundEvent.Status.IGNORED


# --- orders ---------------------------------------------------------------------------------------


def intake_order(org_id: str, order: dict, *, trigger: Text | str) -> int:
    """Record one order on every enabled connection of its shop. Returns how many connections took it."""
    if not order.get("id"):
        raise ValueError("order without an id")
    taken = 0
    for connection in connections_for(org_id):
        intake_order_for(connection, order, trigger=trigger)
        taken += 1
    return taken


def intake_order_for(connection: Connection, order: dict, *, trigger: Text | str):
    """Route the order to an account and upsert its document; every decision goes to the timeline."""
    decision = route(connection, read.routing_facts(order))
    label = read.order_label(order)
    upserted = upsert_document(
        connection=connection,
        account=decision.account,
        source_type="order",
        source_id=str(order["id"]),
        source_label=label,
        kind=connection.target.order_document_kind,
        snapshot=order,
        source_updated_at=read.updated_at(order),
        explanation=decision.explanation,
    )
    doc = upserted.document
    if not upserted.changed:
        return upserted
    if upserted.created:
        message = Text(
            "Order %(label)s received (%(trigger)s): %(state)s. %(route)s",
            label=label,
            trigger=trigger,
            state=read.describe_order(order),
            route=decision.explanation,
        )
    elif upserted.rerouted_from is not None:
        message = Text(
            "Order %(label)s updated (%(trigger)s) and moved from %(tag)s (nothing had been sent there): "
            "%(route)s",
            label=label,
            trigger=trigger,
            tag=upserted.rerouted_from.tag,
            route=decision.explanation,
        )
    else:
        message = Text(
            "Order %(label)s updated (%(trigger)s): %(state)s.",
            label=label,
            trigger=trigger,
            state=read.describe_order(order),
        )
    log_attempt(connection=connection, document=doc, action="intake", outcome=Outcome.INFO, message=message)

    hand_to_target(doc, decision, trigger=trigger)  # held for a person, or the target decides
    return upserted


# --- scheduled and manual passes --------------------------------------------------------------------


def shop_for(connection: Connection) -> HaravanShop:
    shop = HaravanShop.objects.filter(org_id=connection.source_key).first()
    if shop is None or not shop.active:
        raise ApiError(
            Text("Haravan shop %(shop)s is not installed: install the app again.", shop=connection.source_key)
        )
    return shop


def scheduled_sync(connection_id: int, now: dt.datetime | None = None) -> int:
    """Read every order updated since the watermark and feed it to the same intake as webhooks."""
    connection = Connection.objects.select_related("tenant").get(pk=connection_id)
    if not connection.enabled:
        return 0
    now = now or timezone.now()
    cursor = SyncCursor.objects.filter(connection=connection, name="orders_updated_at").first()
    since = (cursor.value if cursor else now - dt.timedelta(days=1)) - SCHEDULE_OVERLAP
    run = SyncRun.objects.create(
        connection=connection,
        kind=SyncRun.Kind.SCHEDULED,
        status=SyncRun.Status.RUNNING,
        started_at=now,
        params={"updated_at_min": since.isoformat(), "updated_at_max": now.isoformat()},
    )
    count = _run_pass(
        run, connection, {"updated_at_min": since.isoformat(), "updated_at_max": now.isoformat()}
    )
    if run.status == SyncRun.Status.DONE:
        SyncCursor.objects.update_or_create(
            connection=connection, name="orders_updated_at", defaults={"value": now}
        )
    return count


def start_manual_sync(
    connection: Connection, *, date_from: dt.date, date_to: dt.date, user=None, request_token=None
) -> SyncRun:
    """A person asks for every order created in a date range (inclusive, shop time). `request_token` (unique
    per run) makes a repeated submission of one form an IntegrityError instead of a second run."""
    if date_to < date_from:
        raise ValueError("The end date is before the start date.")
    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(date_from, dt.time.min, tzinfo=tz)
    end = dt.datetime.combine(date_to, dt.time.max, tzinfo=tz)
    run = SyncRun.objects.create(
        connection=connection,
        kind=SyncRun.Kind.MANUAL,
        created_by=user,
        request_token=request_token,
        params={"created_at_min": start.isoformat(), "created_at_max": end.isoformat()},
    )
    from .tasks import manual_sync

    transaction.on_commit(lambda: manual_sync.delay(run.pk))
    return run


def manual_sync(run_id: int) -> int:
    run = SyncRun.objects.select_related("connection", "connection__tenant").get(pk=run_id)
    if run.status not in (SyncRun.Status.QUEUED, SyncRun.Status.RUNNING):
        return run.processed
    run.status = SyncRun.Status.RUNNING
    run.started_at = run.started_at or timezone.now()
    run.save(update_fields=["status", "started_at"])
    return _run_pass(run, run.connection, dict(run.params))


def _run_pass(run: SyncRun, connection: Connection, filters: dict) -> int:
    name = Text(untranslated(SyncRun.Kind(run.kind).label))
    trigger = Text("%(kind)s #%(run)s", kind=PASS_WORDS.get(run.kind, name), run=run.pk)
    changed = 0
    try:
        connection.check_license()
        client = HaravanClient.for_shop(shop_for(connection))
        run.total = client.count_orders(status="any", **filters)
        run.save(update_fields=["total"])
        for order in client.iter_orders_by_change(status="any", **filters):
            try:
                changed += intake_order_for(connection, order, trigger=trigger).changed
            except Exception as exc:  # one bad order must not stop the pass; it is logged and counted
                log.exception("Order %s failed in %s", order.get("id"), english(trigger))
                run.failed += 1
                run.set_error(
                    Text("Order %(label)s: %(error)s", label=read.order_label(order), error=words_of(exc))
                )
            run.processed += 1
            if run.processed % 10 == 0:
                run.save(update_fields=["processed", "failed", "error", "error_text"])
        run.status = SyncRun.Status.DONE
        if changed or run.failed or run.kind != SyncRun.Kind.SCHEDULED:  # a pass with no news is not logged
            log_attempt(
                connection=connection,
                action="sync",
                outcome=Outcome.OK if not run.failed else Outcome.ERROR,
                message=Text(
                    "%(kind)s #%(run)s: %(read)s orders read, %(changed)s new or changed, %(failed)s failed.",
                    kind=name,
                    run=run.pk,
                    read=run.processed,
                    changed=changed,
                    failed=run.failed,
                ),
                exchange=client.last_exchange,
            )
        if run.kind == SyncRun.Kind.MANUAL and "created_at_min" in filters:
            # the inventory documents this connection's target posts, created in the same days
            from . import inventory_sync

            start = dt.datetime.fromisoformat(filters["created_at_min"])
            until = filters.get("created_at_max")  # a run "since" a day has no end: until now
            end = dt.datetime.fromisoformat(until) if until else timezone.now()
            inventory_sync.read_range(run, connection, client, start, end, trigger)
    except (ApiError, LicenseError) as exc:
        run.status = SyncRun.Status.FAILED
        run.set_error(exc.text)
        log_attempt(
            connection=connection,
            action="sync",
            outcome=Outcome.ERROR,
            message=Text("%(kind)s #%(run)s stopped: %(error)s", kind=name, run=run.pk, error=exc.text),
            exchange=getattr(exc, "exchange", None),
        )
    run.total = max(run.total, run.processed)
    run.finished_at = timezone.now()
    run.save()
    return run.processed


def sync_locations(shop: HaravanShop) -> int:
    client = HaravanClient.for_shop(shop)
    seen = 0
    for loc in client.list_locations():
        HaravanLocation.objects.update_or_create(
            shop=shop,
            location_id=str(loc["id"]),
            defaults={
                "name": loc.get("name") or str(loc["id"]),
                "is_primary": bool(loc.get("is_primary")),
                "data": loc,
            },
        )
        seen += 1
    return seen


# --- install ----------------------------------------------------------------------------------------


class InstallError(Exception):
    pass


def redirect_uri() -> str:
    return f"{require_url(settings.PUBLIC_BASE_URL, 'PUBLIC_BASE_URL')}/haravan/install/callback/"


def authorize_url(*, state: str, nonce: str) -> str:
    query = {
        "response_mode": "query",
        "response_type": "code",
        "scope": settings.HARAVAN_SCOPES,
        "client_id": settings.HARAVAN_CLIENT_ID,
        "redirect_uri": redirect_uri(),
        "state": state,
        "nonce": nonce,
    }
    accounts = require_url(settings.HARAVAN_ACCOUNTS_URL, "HARAVAN_ACCOUNTS_URL")
    return f"{accounts}/connect/authorize?{urlencode(query)}"


def complete_install(*, user, code: str) -> HaravanShop:
    """Trade the code for a token, ask Haravan which shop it opens, then create tenant, shop and owner."""
    try:
        token = exchange_code(code=code, redirect_uri=redirect_uri())
        shop_info = _read_shop(token["access_token"])
    except KeyError as exc:
        raise InstallError(f"Haravan's token answer lacks {exc}. Start the install again.") from exc
    shop = connect_shop(
        user=user,
        org_id=str(shop_info["id"]),
        name=shop_info.get("name") or "",
        domain=shop_info.get("domain") or "",
        email=shop_info.get("email") or "",
        secrets={"access_token": token["access_token"], "refresh_token": token.get("refresh_token", "")},
        token_kind=HaravanShop.TokenKind.OAUTH,
        scopes=token.get("scope", ""),
    )
    _after_connect(shop, subscribe=True)
    return shop


def connect_private_app(*, user, token: str, webhook_secret: str = "") -> HaravanShop:
    """A private app's token: same shop record, no OAuth; webhooks are set in the shop's own settings and
    signed with the webhook secret shown there (kept from before when none is given with a new token)."""
    shop_info = _read_shop(token)
    org_id = str(shop_info["id"])
    webhook_secret = webhook_secret.strip()
    if not webhook_secret:
        earlier = HaravanShop.objects.filter(org_id=org_id, token_kind=HaravanShop.TokenKind.PRIVATE).first()
        webhook_secret = earlier.webhook_secret if earlier else ""
    shop = connect_shop(
        user=user,
        org_id=org_id,
        name=shop_info.get("name") or "",
        domain=shop_info.get("domain") or "",
        email=shop_info.get("email") or "",
        secrets={"access_token": token, **({"webhook_secret": webhook_secret} if webhook_secret else {})},
        token_kind=HaravanShop.TokenKind.PRIVATE,
    )
    _after_connect(shop, subscribe=False)
    return shop


def set_webhook_secret(*, user, org_id: str, webhook_secret: str) -> HaravanShop:
    """Enter or replace the webhook secret of a shop connected with a private token (its owner only)."""
    webhook_secret = webhook_secret.strip()
    if not webhook_secret:
        raise InstallError(
            Text("Paste the webhook secret from Haravan (Settings → Notifications → Webhooks).")
        )
    with transaction.atomic():
        shop = HaravanShop.objects.select_for_update().filter(org_id=str(org_id)).first()
        if (
            shop is None
            or not Membership.objects.filter(
                user=user, tenant=shop.tenant_id, role=Membership.Role.OWNER
            ).exists()
        ):
            raise InstallError(Text("Only the shop's owner can change its webhook secret."))
        if not shop.is_private:
            raise InstallError(
                Text(
                    "This shop is connected through the installed app: Haravan signs its webhooks with the "
                    "app's own secret, there is no webhook secret to enter."
                )
            )
        shop.secrets = {**shop.secrets, "webhook_secret": webhook_secret}
        shop.save(update_fields=["secrets"])
    for connection in connections_for(shop.org_id):
        log_attempt(
            connection=connection,
            action="install",
            outcome=Outcome.INFO,
            message=Text("The webhook secret of the private app was replaced."),
        )
    return shop


def _read_shop(token: str) -> dict:
    try:
        return HaravanClient(org_id="install", token=token).get_shop()
    except ApiError as exc:
        raise InstallError(f"Haravan did not accept the token: {exc}") from exc


def _after_connect(shop: HaravanShop, *, subscribe: bool) -> None:
    """Best effort: a failure here is logged on the connection, the install itself stands."""
    steps = [
        (Text("locations"), lambda: sync_locations(shop)),
        (Text("products"), lambda: sync_products(shop)),
        (Text("customers"), lambda: sync_customers(shop)),
    ]
    if subscribe:
        steps.insert(0, (Text("webhooks"), lambda: subscribe_webhooks(shop.access_token)))
    for name, step in steps:
        try:
            step()
        except ApiError as exc:
            for connection in connections_for(shop.org_id):
                log_attempt(
                    connection=connection,
                    action="install",
                    outcome=Outcome.ERROR,
                    message=Text(
                        "Shop connected, but reading its %(what)s failed: %(error)s",
                        what=name,
                        error=exc.text,
                    ),
                )


@transaction.atomic
def connect_shop(
    *, user, org_id, name, domain="", email="", secrets, token_kind, scopes="", target_kind=None
):
    """Create (or re-attach) the tenant, the shop with its encrypted token, the owner and a connection (to
    `target_kind`, or to the first registered target that takes Haravan orders)."""
    shop = HaravanShop.objects.select_for_update().filter(org_id=org_id).first()
    if shop is None:
        tenant = Tenant.objects.create(name=name or f"Haravan {org_id}", slug=_unique_slug(name or org_id))
        shop = HaravanShop(tenant=tenant, org_id=org_id)
    elif (
        user is not None
        and not Membership.objects.filter(user=user, tenant=shop.tenant, role=Membership.Role.OWNER).exists()
    ):
        raise InstallError("This shop is already connected to another account; ask its owner to invite you.")
    shop.name = name or shop.name
    shop.domain = domain or shop.domain
    shop.email = email or shop.email
    shop.secrets = secrets
    shop.token_kind = token_kind
    shop.scopes = scopes
    shop.uninstalled_at = None
    shop.save()
    if user is not None:
        Membership.objects.get_or_create(
            user=user, tenant=shop.tenant, defaults={"role": Membership.Role.OWNER}
        )
    target = registry.target(target_kind) if target_kind else _first_target()
    if target is not None:
        Connection.objects.get_or_create(
            source_kind="haravan",
            source_key=org_id,
            target_kind=target.name,
            defaults={"tenant": shop.tenant, "name": f"{shop.name or org_id} → {target.label}"},
        )
    return shop


def _first_target():
    """The target a newly installed shop is connected to: the one that says it comes first, else any."""
    takers = [t for t in registry.targets() if "haravan" in t.source_kinds]
    return next((t for t in takers if t.first_for_new_sources), takers[0] if takers else None)


def _unique_slug(text: str) -> str:
    base = slugify(text)[:60] or "shop"
    slug, n = base, 1
    while Tenant.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def owner_for_install(shop: HaravanShop):
    """Who is signed in after an install that started with nobody signed in (from Haravan's app store).

    The shop's e-mail makes a new owner account; the existing owner of this very shop is signed in (the
    install just proved control of the shop); any other existing account must sign in first — no take-over.
    """
    from django.contrib.auth import get_user_model

    email = shop.email.strip().lower()
    if not email:
        raise InstallError(
            "Haravan did not tell us the shop owner's e-mail: sign in first, then install again."
        )
    users = get_user_model()
    user = users.objects.filter(username__iexact=email).first()
    if user is None:
        user = users.objects.create_user(username=email, email=email)  # no password: signs in through Haravan
        Membership.objects.create(user=user, tenant=shop.tenant, role=Membership.Role.OWNER)
        return user
    if Membership.objects.filter(user=user, tenant=shop.tenant, role=Membership.Role.OWNER).exists():
        return user
    raise InstallError(f"An account for {email} exists already: sign in, then install again.")


# --- write-back -------------------------------------------------------------------------------------


def write_back(document, fields: dict[str, str], *, style: str = "note_attribute") -> None:
    """Put what the target issued (lookup code, invoice number) on the Haravan order, within its rate limit.

    Note attributes are merged (ours replaced, the shop's kept); so are tags ("name:value": ours with
    another value are removed, the shop's own kept). Writing the same values again changes nothing, so a
    retried write-back is harmless.
    """
    client = HaravanClient.for_shop(shop_for(document.connection))
    if style == "tag":
        _write_tags(client, document.source_id, fields)
        return
    order = client.get_order(document.source_id)
    current = order.get("note_attributes") or []
    kept = [a for a in current if a.get("name") not in fields]
    wanted = kept + [{"name": name, "value": value} for name, value in fields.items()]
    if wanted != current:
        client.update_order(document.source_id, note_attributes=wanted)


def _write_tags(client: HaravanClient, order_id: str, fields: dict[str, str]) -> None:
    """Each field as one "name:value" tag; the order's earlier tags of the same names (an older tax status,
    a replaced invoice's number) are removed once the new ones are on, so the order shows one of each."""
    wanted = [tag_of(name, value) for name, value in fields.items() if value]
    names = {name.lower() for name, value in fields.items() if value}
    current = split_tags(client.get_order(order_id, fields="tags").get("tags"))
    have = {tag.lower() for tag in current}
    missing = [tag for tag in wanted if tag.lower() not in have]
    keep = {tag.lower() for tag in wanted}
    stale = [
        tag for tag in current if tag.partition(":")[0].strip().lower() in names and tag.lower() not in keep
    ]
    if missing:
        client.add_tags(order_id, missing)
    if stale:  # after adding: a failure in between leaves two values for a retry to settle, never none
        client.remove_tags(order_id, stale)


def tag_of(name: str, value) -> str:
    """ "name:value" as one Haravan tag: no comma (it separates tags), at most Haravan's 40 characters (a
    longer value is cut: the order keeps the start of it rather than refusing every tag)."""
    text = f"{name}:{' '.join(str(value).replace(',', ' ').split())}"
    return text[:TAG_MAX_LENGTH]


def split_tags(tags) -> list[str]:
    """Haravan's tags string ("VIP, einvoice") as a list."""
    return [tag.strip() for tag in str(tags or "").split(",") if tag.strip()]


# --- catalogue and buyers -----------------------------------------------------------------------------


def sale_for(connection, order: dict, options=None):
    """The sale an order describes, with what the shop's catalogue (units, types, vendors, tags) and
    customer list (contact details) add to it."""
    lines = order.get("line_items") or []
    ids = {str(line.get("variant_id")) for line in lines if isinstance(line, dict) and line.get("variant_id")}
    catalogue = {
        item.item_id: item
        for item in CatalogItem.objects.filter(
            source_kind=connection.source_kind, source_key=connection.source_key, item_id__in=ids
        )
    }
    customer = order.get("customer") if isinstance(order.get("customer"), dict) else {}
    profile = None
    if customer.get("id"):
        profile = BuyerProfile.objects.filter(
            source_kind=connection.source_kind, source_key=connection.source_key, buyer_id=str(customer["id"])
        ).first()
    return read.read_order(order, options, catalogue=catalogue, profile=profile)


def _tenant_of(org_id: str) -> int | None:
    return HaravanShop.objects.filter(org_id=org_id).values_list("tenant_id", flat=True).first()


def store_products(org_id: str, products) -> int:
    tenant_id, count = _tenant_of(org_id), 0
    for product in products:
        for item in convert.catalogue_items(product):
            CatalogItem.objects.update_or_create(
                source_kind="haravan",
                source_key=org_id,
                item_id=item.pop("item_id"),
                defaults={"tenant_id": tenant_id, **item},
            )
            count += 1
    return count


def store_customers(org_id: str, customers) -> int:
    tenant_id, count = _tenant_of(org_id), 0
    for customer in customers:
        profile = convert.buyer_profile(customer)
        BuyerProfile.objects.update_or_create(
            source_kind="haravan",
            source_key=org_id,
            buyer_id=profile.pop("buyer_id"),
            defaults={"tenant_id": tenant_id, **profile, "data": {"tags": customer.get("tags") or ""}},
        )
        count += 1
    return count


def sync_products(shop: HaravanShop) -> int:
    """The shop's whole catalogue, page by page (webhooks keep it current afterwards)."""
    return store_products(shop.org_id, HaravanClient.for_shop(shop).iter_products())


def sync_customers(shop: HaravanShop) -> int:
    return store_customers(shop.org_id, HaravanClient.for_shop(shop).iter_customers())
