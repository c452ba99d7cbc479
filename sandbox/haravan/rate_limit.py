"""Haravan's API call limit: a leaky bucket per shop (80 calls, draining 4 per second by default), the
``X-Haravan-Api-Call-Limit`` header on every answer and 429 with ``Retry-After`` when the bucket is full
(https://docs.haravan.com/docs/omni-apis/api-call-limit/)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from .state import Shop

TOO_MANY = "Exceeded 80 calls per second for api client. Reduce request rates to resume."


def take(shop: Shop, now: float, capacity: int, rate: float) -> tuple[bool, int, float]:
    """One call into the shop's bucket: (allowed, calls in the bucket, seconds until one more fits)."""
    level = shop.bucket_level
    if shop.bucket_at is not None:
        level = max(0.0, level - (now - shop.bucket_at) * rate)
    shop.bucket_at = now
    if level + 1 > capacity + 1e-9:
        shop.bucket_level = level
        wait = (level + 1 - capacity) / rate if rate > 0 else 60.0
        return False, capacity, wait
    shop.bucket_level = level + 1
    return True, min(capacity, math.ceil(shop.bucket_level - 1e-9)), 0.0


def format_seconds(seconds: float) -> str:
    """Retry-After the way Haravan writes it: "2.0", "0.25" (rounded up to the hundredth)."""
    value = math.ceil(max(seconds, 0.01) * 100 - 1e-9) / 100
    text = f"{value:.2f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def max_calls_in_window(calls: Iterable[dict], window: float = 1.0, *, shop: Any = None) -> int:
    """The largest number of logged calls (optionally of one shop) inside any ``window`` seconds."""
    times = sorted(c["mono"] for c in calls if shop is None or str(c.get("shop")) == str(shop))
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best
