"""Reading an Admin API request the way Haravan does: a JSON body in its envelope (``{"order": {...}}``),
``page`` + ``limit`` (at most 50, larger silently capped), ``ids`` / ``since_id`` filters and ``fields``."""

from __future__ import annotations

from collections.abc import Iterable

from ..core import Request, Response, json_response
from .helpers import ApiProblem

MAX_LIMIT = 50


def read_body(request: Request, envelope: str | None = None, *, required: bool = True) -> dict:
    data = request.json()
    if data is None and not required:
        return {}
    if not isinstance(data, dict):
        raise ApiProblem(400, {envelope or "body": "Required parameter missing or invalid"})
    if envelope is None:
        return data
    inner = data.get(envelope)
    if not isinstance(inner, dict):
        if required:
            raise ApiProblem(400, {envelope: "Required parameter missing or invalid"})
        return {}
    return inner


def page_of(request: Request) -> tuple[int, int]:
    """(limit, page)."""
    try:
        limit = int(request.arg("limit") or MAX_LIMIT)
        page = int(request.arg("page") or 1)
    except ValueError as exc:
        raise ApiProblem(400, {"limit": "limit and page must be integers"}) from exc
    limit = MAX_LIMIT if limit <= 0 else min(limit, MAX_LIMIT)  # larger limits are silently capped
    return limit, max(page, 1)


def ids_of(request: Request) -> set[int] | None:
    raw = request.arg("ids")
    if raw is None or not raw.strip():
        return None
    try:
        return {int(x) for x in raw.split(",") if x.strip()}
    except ValueError as exc:
        raise ApiProblem(400, {"ids": "ids must be a comma-separated list of numbers"}) from exc


def since_id_of(request: Request) -> int | None:
    raw = request.arg("since_id")
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise ApiProblem(400, {"since_id": "since_id must be a number"}) from exc


def select_fields(obj: dict, fields: str | None) -> dict:
    if not fields:
        return obj
    wanted = [f.strip() for f in fields.split(",") if f.strip()]
    return {k: obj[k] for k in wanted if k in obj}


def paged(request: Request, items: list[dict], envelope: str) -> Response:
    """One page of ``items`` in its list envelope, trimmed to ``fields``."""
    limit, page = page_of(request)
    chunk = items[(page - 1) * limit : page * limit]
    fields = request.arg("fields")
    return json_response({envelope: [select_fields(i, fields) for i in chunk]})


def by_id(request: Request, items: Iterable[dict]) -> list[dict]:
    """``items`` in id order, narrowed by ``ids`` and ``since_id``."""
    items = sorted(items, key=lambda i: i["id"])
    ids = ids_of(request)
    if ids is not None:
        items = [i for i in items if i["id"] in ids]
    since_id = since_id_of(request)
    if since_id is not None:
        items = [i for i in items if i["id"] > since_id]
    return items
