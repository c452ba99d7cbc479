"""Haravan Admin API over HTTP: bearer auth, the shop's shared rate limit, paging, errors → typed exceptions.

No database, no business rules: `services.py` decides what to read and write.
"""

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.utils.dateparse import parse_datetime

from connectors.http import HttpClient, PermanentError, RetryableError, classify_status, parse_retry_after
from connectors.ratelimit import LeakyBucket
from connectors.text import Text

PAGE_SIZE = 50  # Haravan silently caps larger limits at 50
TAG_MAX_LENGTH = 40  # "Each individual tag is limited to 40 characters" (docs.haravan.com, Orders: tags)
RETRIES_ON_429 = 3
DEFAULT_RETRY_AFTER = 2.0  # what Haravan sends; used when a 429 comes without Retry-After
CALL_LIMIT_HEADER = "X-Haravan-Api-Call-Limit"
WRITABLE_ORDER_FIELDS = frozenset({"note", "note_attributes", "tags"})


def shop_bucket(org_id: str) -> LeakyBucket:
    """Haravan's documented limit: 80 calls per shop, draining 4 per second (both settings)."""
    return LeakyBucket(f"haravan:{org_id}", settings.HARAVAN_RATE_CAPACITY, settings.HARAVAN_RATE_PER_SECOND)


class HaravanClient(HttpClient):
    """One shop's API. Every call waits for the shop's bucket (shared by all processes) first."""

    def __init__(self, org_id: str, token: str, *, base_url: str | None = None, bucket=None):
        super().__init__(base_url or settings.HARAVAN_API_URL, setting="HARAVAN_API_URL")
        self.org_id = str(org_id)
        self.bucket = bucket if bucket is not None else shop_bucket(self.org_id)
        # On the session, not in the exchange: the token never reaches a log.
        self.session.headers.update(
            {
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            }
        )

    @classmethod
    def for_shop(cls, shop) -> "HaravanClient":
        if not shop.access_token:
            raise PermanentError(
                Text("Haravan shop %(shop)s has no access token: install the app again.", shop=shop.org_id)
            )
        return cls(org_id=shop.org_id, token=shop.access_token)

    def request(self, method: str, path: str, *, params=None, json_body=None) -> Any:
        """One call, returning the decoded JSON body. A 429 is retried here (the bucket is told, so every
        process slows down); anything else that fails is raised for the task layer to retry or report."""
        path = "/" + path.lstrip("/")
        retry_after, not_before = None, 0.0
        for _attempt in range(RETRIES_ON_429 + 1):
            self.bucket.acquire()
            # The penalized bucket already makes us wait; this also holds with a looser or injected bucket.
            if (remaining := not_before - time.monotonic()) > 0:
                time.sleep(remaining)
            resp, body, exchange = self.send(method, path, params=params, json_body=json_body)
            self._observe(resp.headers.get(CALL_LIMIT_HEADER))
            if resp.status_code != 429:
                break
            retry_after = parse_retry_after(resp.headers.get("Retry-After"))
            retry_after = DEFAULT_RETRY_AFTER if retry_after is None else retry_after
            not_before = time.monotonic() + retry_after
            self.bucket.penalize(retry_after)
        else:
            raise RetryableError(
                Text(
                    "Haravan kept answering %(call)s with 429 (too many calls) after %(retries)s retries; "
                    "try again in %(seconds)ss",
                    call=f"{method} {path}",
                    retries=RETRIES_ON_429,
                    seconds=f"{retry_after:g}",
                ),
                status=429,
                body=body,
                exchange=exchange,
                retry_after=retry_after,
            )
        if resp.status_code >= 400:
            raise _error(method, path, resp, body, exchange)
        return body

    def _observe(self, header: str | None) -> None:
        try:
            used, capacity = (int(part) for part in (header or "").split("/"))
        except ValueError:
            return
        self.bucket.observe(used, capacity)

    def _get(self, path: str, key: str, **filters):
        return _unwrap(self.request("GET", path, params=_query(filters) or None), key, "GET", path)

    def _paged(self, path: str, key: str, filters: dict) -> Iterator[dict]:
        params = _query(filters)
        params["limit"] = PAGE_SIZE
        page = 1
        while True:
            params["page"] = page
            items = _unwrap(self.request("GET", path, params=dict(params)), key, "GET", path) or []
            yield from items
            if len(items) < PAGE_SIZE:
                return
            page += 1

    # --- orders -------------------------------------------------------------------------------------

    def count_orders(self, **filters) -> int:
        filters.pop("limit", None)
        filters.pop("page", None)
        return int(self._get("/com/orders/count.json", "count", **filters))

    def iter_orders(self, **filters) -> Iterator[dict]:
        return self._paged("/com/orders.json", "orders", filters)

    def iter_orders_by_change(self, **filters) -> Iterator[dict]:
        """Every order matching `filters`, oldest change first, none skipped when orders change meanwhile.

        Page numbers over a list that changes under them skip rows: an order changed between two page reads
        (our own write-back does that) leaves its place, every later order moves up one, and the one that
        slid onto the page already read is never seen. So each page is asked for from where the previous
        one ended (`updated_at_min` = its last order's `updated_at`, a millisecond early in case Haravan's
        bound is exclusive), and an order seen again unchanged is not yielded twice; page numbers only step
        over more than a page of orders changed in the same instant. An order changed during the pass is
        yielded again in its new state when it still falls within `filters`.
        """
        path = "/com/orders.json"
        params = _query(filters)
        params.pop("page", None)
        params.update(order="updated_at asc", limit=PAGE_SIZE)
        floor = _moment(params.get("updated_at_min"))
        seen: dict[Any, Any] = {}
        page = 1
        while True:
            query = {**params, "page": page}
            if floor is not None:
                query["updated_at_min"] = (floor - CHANGE_MARGIN).isoformat()
            items = _unwrap(self.request("GET", path, params=query), "orders", "GET", path) or []
            for item in items:
                if seen.get(item.get("id"), ...) != item.get("updated_at"):
                    seen[item.get("id")] = item.get("updated_at")
                    yield item
            if len(items) < PAGE_SIZE:
                return
            last = _moment(items[-1].get("updated_at"))
            if last is not None and (floor is None or last > floor):
                floor, page = last, 1
            else:  # a whole page changed in one instant (or without a time): the next page of that instant
                page += 1

    def get_order(self, order_id, *, fields: str | None = None) -> dict:
        return self._get(f"/com/orders/{order_id}.json", "order", fields=fields)

    def update_order(self, order_id, **fields) -> dict:
        """Haravan lets an app change only a few order fields; refuse the rest before calling."""
        refused = sorted(set(fields) - WRITABLE_ORDER_FIELDS)
        if refused:
            raise ValueError(
                f"Haravan orders cannot be changed through the API in: {', '.join(refused)} "
                f"(allowed: {', '.join(sorted(WRITABLE_ORDER_FIELDS))})"
            )
        path = f"/com/orders/{order_id}.json"
        body = self.request("PUT", path, json_body={"order": {"id": order_id, **fields}})
        return _unwrap(body, "order", "PUT", path)

    def add_tags(self, order_id, tags: list[str]) -> str:
        """Adds tags (Haravan keeps the existing ones); returns the order's whole tags string."""
        path = f"/com/orders/{order_id}/tags.json"
        joined = ",".join(t.strip() for t in tags if t and t.strip())
        return _unwrap(self.request("POST", path, json_body={"tags": joined}), "tags", "POST", path)

    def remove_tags(self, order_id, tags: list[str]) -> str:
        """Removes these tags (the others stay); returns the order's whole tags string."""
        path = f"/com/orders/{order_id}/tags.json"
        joined = ",".join(t.strip() for t in tags if t and t.strip())
        return _unwrap(self.request("DELETE", path, json_body={"tags": joined}), "tags", "DELETE", path)

    # --- other resources ----------------------------------------------------------------------------

    def iter_products(self, **filters) -> Iterator[dict]:
        return self._paged("/com/products.json", "products", filters)

    def iter_customers(self, **filters) -> Iterator[dict]:
        return self._paged("/com/customers.json", "customers", filters)

    def list_locations(self) -> list[dict]:
        return self._get("/com/locations.json", "locations")

    def get_shop(self) -> dict:
        return self._get("/com/shop.json", "shop")

    # --- inventory documents and stock (reference amis.md §13; scope com.read_inventories) -----------
    # Their lists take page + limit (50 at most) and no updated_at_min; the sync re-reads the newest pages.

    def iter_adjustments(self, **filters) -> Iterator[dict]:
        """Adjustments and stock counts (``location_id``, ``since_id`` filter them), lines included."""
        return self._paged("/com/inventories/adjustments.json", "adjustments", filters)

    def count_adjustments(self, **filters) -> int:
        return int(self._get("/com/inventories/adjustments/count.json", "count", **filters))

    def get_adjustment(self, adjustment_id) -> dict:
        return self._get(f"/com/inventories/adjustments/{adjustment_id}.json", "adjustment")

    def iter_transfers(self, **filters) -> Iterator[dict]:
        """Transfers (``from_location_id``, ``to_location_id``, ``since_id`` filter them)."""
        return self._paged("/com/inventories/transfers.json", "transfers", filters)

    def count_transfers(self, **filters) -> int:
        return int(self._get("/com/inventories/transfers/count.json", "count", **filters))

    def get_transfer(self, transfer_id) -> dict:
        """A transfer's detail lives elsewhere than its list, in its own envelope."""
        return self._get(f"/com/inventorytransfer/detail/{transfer_id}.json", "inventorytransfer")

    def iter_purchase_orders(self, **filters) -> Iterator[dict]:
        return self._paged("/com/inventories/purchase_orders.json", "purchase_orders", filters)

    def get_purchase_order(self, order_id) -> dict:
        return self._get(f"/com/inventories/purchase_orders/{order_id}.json", "purchase_order")

    def iter_purchase_receives(self, **filters) -> Iterator[dict]:
        """Purchase receives; each row's ``line_items`` is null: ``get_purchase_receive`` has them."""
        return self._paged("/com/v2/inventories/purchase_receives.json", "purchase_receives", filters)

    def get_purchase_receive(self, receive_id) -> dict:
        return self._get(f"/com/v2/inventories/purchase_receives/{receive_id}.json", "purchase_receive")

    def iter_purchase_returns(self, **filters) -> Iterator[dict]:
        """Purchase returns; rows without lines, and a status code ("3") where the detail has words."""
        return self._paged("/com/v2/inventories/purchase_returns.json", "purchase_returns", filters)

    def get_purchase_return(self, return_id) -> dict:
        return self._get(f"/com/v2/inventories/purchase_returns/{return_id}.json", "purchase_return")

    def iter_inventory_locations(self, *, location_ids=None, variant_ids=None) -> Iterator[dict]:
        """Stock per location and variant. Haravan takes at most 50 ids of each per call: longer lists are
        asked for 50 at a time; each group is read in id order, ``since_id`` the last row seen."""
        path = "/com/inventory_locations.json"
        for locations in _chunks(location_ids):
            for variants in _chunks(variant_ids):
                since_id = None
                while True:
                    params = _query(
                        {
                            "location_ids": locations,
                            "variant_ids": variants,
                            "order": "id",
                            "direction": "asc",
                            "limit": BALANCE_PAGE_SIZE,
                            "since_id": since_id,
                        }
                    )
                    rows = _unwrap(
                        self.request("GET", path, params=params), "inventory_locations", "GET", path
                    )
                    rows = rows or []
                    yield from rows
                    if len(rows) < BALANCE_PAGE_SIZE or rows[-1].get("id") in (None, since_id):
                        break
                    since_id = rows[-1]["id"]


# --- outside a shop's API: the install ---------------------------------------------------------------


def exchange_code(*, code: str, redirect_uri: str) -> dict:
    """Trade an OAuth authorization code for the shop's tokens (access, refresh, id, scope)."""
    client = HttpClient(settings.HARAVAN_ACCOUNTS_URL, setting="HARAVAN_ACCOUNTS_URL")
    path = "/connect/token"
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": settings.HARAVAN_CLIENT_ID,
        "client_secret": settings.HARAVAN_CLIENT_SECRET,
    }
    resp, body, exchange = client.send("POST", path, data=form, headers={"Accept": "application/json"})
    # The code is single-use but a secret until used; redaction masks client_secret in the log.
    exchange.request = {**form, "code": "***"}
    if resp.status_code >= 400:
        raise _error("POST", path, resp, body, exchange)
    if not isinstance(body, dict) or not body.get("access_token"):
        raise PermanentError(
            Text("Haravan answered the token request without an access token."),
            status=resp.status_code,
            exchange=exchange,
        )
    return body


def subscribe_webhooks(token: str) -> dict:
    """Ask Haravan to deliver the topics chosen in the partner dashboard (again after each reinstall)."""
    client = HttpClient(settings.HARAVAN_WEBHOOK_API_URL, setting="HARAVAN_WEBHOOK_API_URL")
    path = "/api/subscribe"
    resp, body, exchange = client.send(
        "POST", path, json_body={}, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"}
    )
    if resp.status_code >= 400:
        raise _error("POST", path, resp, body, exchange)
    return body if isinstance(body, dict) else {}


# --- helpers -----------------------------------------------------------------------------------------


CHANGE_MARGIN = dt.timedelta(milliseconds=1)  # Haravan's timestamps carry milliseconds
BALANCE_PAGE_SIZE = 250  # inventory_locations' own limit
MAX_IDS_PER_CALL = 50  # inventory_locations takes at most 50 location ids and 50 variant ids


def _chunks(ids) -> Iterator[list | None]:
    """``ids`` in groups Haravan accepts; None (no filter) stays one group of None."""
    if ids is None:
        yield None
        return
    ids = list(dict.fromkeys(ids))
    for start in range(0, len(ids), MAX_IDS_PER_CALL):
        yield ids[start : start + MAX_IDS_PER_CALL]


def _moment(value) -> dt.datetime | None:
    """A Haravan timestamp (ISO 8601; one without an offset is UTC) as an aware datetime."""
    if isinstance(value, dt.datetime) or not value:
        moment = value or None
    else:
        try:
            moment = parse_datetime(str(value))
        except ValueError:  # well-formed but impossible (a 31 February): no time to go by
            moment = None
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment


def _query(filters: dict) -> dict:
    """Haravan's query dialect: ISO 8601 times, comma-joined id lists; None means "no filter"."""
    params = {}
    for name, value in filters.items():
        if value is None:
            continue
        if isinstance(value, dt.date | dt.datetime):
            value = value.isoformat()
        elif isinstance(value, list | tuple | set | frozenset):
            value = ",".join(str(v) for v in value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        params[name] = value
    return params


def _unwrap(body, key: str, method: str, path: str):
    if isinstance(body, dict) and key in body:
        return body[key]
    # A 200 without the envelope is a proxy or a bad deploy on their side, not something a person can fix.
    raise RetryableError(
        Text(
            "Haravan answered %(call)s without '%(key)s': %(body)s",
            call=f"{method} {path}",
            key=key,
            body=str(body)[:200],
        )
    )


def _errors_text(body) -> str:
    """Haravan says what is wrong as {"errors": {...}} or {"errors": "..."}; OAuth as {"error": ...}."""
    if isinstance(body, dict):
        errors = body.get("errors")
        if errors is None and "error" in body:
            errors = ": ".join(str(body[k]) for k in ("error", "error_description") if body.get(k))
        if isinstance(errors, dict):
            return "; ".join(f"{field}: {_flat(msg)}" for field, msg in errors.items())
        if errors:
            return _flat(errors)
    return str(body)[:300] if body else ""


def _flat(value) -> str:
    return ", ".join(str(v) for v in value) if isinstance(value, list | tuple) else str(value)


def _error(method: str, path: str, resp, body, exchange):
    status = resp.status_code
    detail = _errors_text(body) or resp.reason or Text("no details")  # Haravan's own words, as they are
    facts = {"call": f"{method} {path}", "status": status, "detail": detail}
    if status >= 500 or status == 429:
        message = Text("Haravan failed on %(call)s (%(status)s): %(detail)s", **facts)
    elif status == 401:
        message = Text(
            "Haravan refused %(call)s (%(status)s): %(detail)s. The token was rejected: reinstall the app on "
            "the shop (or check the private app token).",
            **facts,
        )
    elif status == 403:
        message = Text(
            "Haravan refused %(call)s (%(status)s): %(detail)s. A permission (scope) is missing: reinstall "
            "the app to grant it, or add it to the app.",
            **facts,
        )
    else:
        message = Text("Haravan refused %(call)s (%(status)s): %(detail)s", **facts)
    retry_after = parse_retry_after(resp.headers.get("Retry-After"))
    return classify_status(status, message, retry_after=retry_after, body=body, exchange=exchange)
