"""A leaky bucket shared by every worker process that calls the same outside API for the same account.

Haravan counts calls per shop in a bucket that drains at a fixed rate and answers 429 when it is full.
Several Celery processes call it for the same shop, so the bucket lives where they all see it: Redis, or
the database when there is no Redis. Never in process memory: a per-process bucket lets N processes
send N times the allowed rate and turns into a 429 storm.

The bucket works by reservation (like GCRA): each caller atomically drains the level by the time passed,
adds one slot, and learns how long to wait before sending. Callers never poll, and waiting callers are
served in the order they reserved.
"""

import functools
import logging
import time

from django.conf import settings
from django.db import transaction

from .models import RateBucket

log = logging.getLogger(__name__)


class DatabaseBackend:
    """Bucket rows in the `RateBucket` table, changed under a row lock.

    On PostgreSQL `select_for_update` serialises the callers; on SQLite it is a no-op but the settings open
    every transaction with IMMEDIATE, which takes the write lock before the read. Call it outside a long
    outer transaction: the row lock is held until the outermost transaction ends.
    """

    def update(self, key: str, rate: float, *, add: float = 0.0, floor: float = 0.0) -> float:
        """Drain by elapsed time, raise to at least `floor`, add `add`; return the new level."""
        with transaction.atomic():
            row, _ = RateBucket.objects.select_for_update().get_or_create(key=key)
            now = time.time()
            elapsed = max(0.0, now - row.updated) if row.updated else 0.0
            level = max(0.0, row.level - elapsed * rate)
            row.level = max(level, floor) + add
            row.updated = now
            row.save(update_fields=["level", "updated"])
        return row.level


# One script for every operation, so the read-drain-write happens inside Redis with Redis's own clock.
# The level is returned as a string: Redis truncates Lua numbers to integers.
_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate, add, floor = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'level', 'updated')
local level = tonumber(state[1]) or 0
local updated = tonumber(state[2]) or now
level = math.max(0, level - math.max(0, now - updated) * rate)
level = math.max(level, floor) + add
redis.call('HSET', KEYS[1], 'level', tostring(level), 'updated', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(level / rate) + 60)
return tostring(level)
"""


@functools.cache
def _redis_script(url: str):
    """One client (and its connection pool) per process and URL; redis-py reconnects after a fork."""
    import redis

    return redis.Redis.from_url(url).register_script(_LUA)


class RedisBackend:
    """Bucket hashes in Redis, changed by one Lua script; an idle key expires once it has drained."""

    prefix = "ratelimit:"

    def __init__(self, url: str):
        self.url = url

    def update(self, key: str, rate: float, *, add: float = 0.0, floor: float = 0.0) -> float:
        script = _redis_script(self.url)
        return float(script(keys=[self.prefix + key], args=[repr(rate), repr(add), repr(floor)]))


def default_backend():
    return RedisBackend(settings.REDIS_URL) if settings.REDIS_URL else DatabaseBackend()


class LeakyBucket:
    """`capacity` calls in the bucket, draining `per_second`; the state lives in a shared backend."""

    def __init__(self, key: str, capacity: int, per_second: float, backend=None):
        if capacity < 1 or per_second <= 0:
            raise ValueError("a bucket needs capacity >= 1 and a positive drain rate")
        self.key = key
        self.capacity = capacity
        self.rate = float(per_second)
        self.backend = backend if backend is not None else default_backend()

    def __repr__(self):
        return f"LeakyBucket({self.key!r}, {self.capacity}, {self.rate:g}/s)"

    def reserve(self) -> float:
        """Take one slot now; return how long to wait before using it (0 when the bucket has room)."""
        level = self.backend.update(self.key, self.rate, add=1.0)
        return max(0.0, (level - self.capacity) / self.rate)

    def acquire(self) -> float:
        """Reserve a slot and sleep until it may be used. Returns the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            log.debug("%r: waiting %.2fs", self, wait)
            time.sleep(wait)
        return wait

    def observe(self, used: int, capacity: int) -> None:
        """The server said `used/capacity`: it counts calls we did not see (other apps, other hosts),
        so raise our level to match. Never lower it: our level also holds reservations not yet sent."""
        if capacity <= 0 or used < 0:
            return
        self.backend.update(self.key, self.rate, floor=used * self.capacity / capacity)

    def penalize(self, seconds: float) -> None:
        """After a 429 with Retry-After: fill the bucket so that the next reservation, in any process,
        waits at least `seconds` (one slot below that, since a reservation adds one)."""
        self.backend.update(self.key, self.rate, floor=self.capacity - 1 + max(0.0, seconds) * self.rate)
