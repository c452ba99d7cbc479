"""The shared leaky bucket: the same behaviour on both backends, and no burst across processes.

Timing assertions only use bounds that slowness cannot break (a limiter may always wait longer than
required), plus generous margins where scheduling jitter matters.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from connectors.models import RateBucket
from connectors.ratelimit import DatabaseBackend, LeakyBucket, RedisBackend, default_backend
from haravan.client import shop_bucket

REPO = Path(__file__).resolve().parents[2]


# --- a throwaway Redis ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def redis_url():
    """A private redis-server for this module, stopped at the end (the lead may move this to a helper)."""
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail("redis-server not installed and REQUIRE_SERVICES=1")
        pytest.skip("redis-server not installed")
    import redis

    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="ratelimit-redis-") as workdir:
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"redis://127.0.0.1:{port}/0"
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    redis.Redis.from_url(url).ping()
                    break
                except redis.ConnectionError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        pytest.fail(f"redis-server did not start on port {port}")
                    time.sleep(0.05)
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=10)


@pytest.fixture(params=["database", pytest.param("redis", marks=pytest.mark.services)])
def backend(request):
    if request.param == "database":
        request.getfixturevalue("db")
        return DatabaseBackend()
    return RedisBackend(request.getfixturevalue("redis_url"))


def bucket(backend, capacity, per_second):
    return LeakyBucket(f"test:{uuid.uuid4().hex}", capacity, per_second, backend=backend)


# --- behaviour, on both backends ----------------------------------------------------------------------


def test_a_burst_up_to_capacity_is_free_then_calls_wait(backend):
    b = bucket(backend, 3, 2.0)
    assert [b.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    # The 4th slot frees after 1/rate = 0.5s, minus the little time the first three took.
    assert 0.2 < b.reserve() <= 0.5
    # Reservations queue up: the 5th waits one more slot.
    assert 0.7 < b.reserve() <= 1.0


def test_acquire_sleeps_until_its_slot(backend):
    b = bucket(backend, 1, 5.0)
    assert b.acquire() == 0.0
    started = time.monotonic()
    waited = b.acquire()
    assert 0.1 < waited <= 0.2
    assert time.monotonic() - started >= waited


def test_the_bucket_drains_with_time(backend):
    b = bucket(backend, 1, 20.0)
    assert b.reserve() == 0.0
    assert b.reserve() > 0.0  # full now (level 2 of 1)
    time.sleep(0.2)  # drains 4 slots: empty again
    assert b.reserve() == 0.0


def test_observe_raises_the_level_scaled_to_our_capacity(backend):
    b = bucket(backend, 10, 1.0)
    b.observe(40, 80)  # the server's bucket is half full → ours holds 5 of 10
    assert [b.reserve() for _ in range(5)] == [0.0] * 5
    assert 0.5 < b.reserve() <= 1.0


def test_observe_never_lowers_the_level(backend):
    b = bucket(backend, 10, 1.0)
    b.observe(80, 80)
    assert 0.5 < b.reserve() <= 1.0  # full: level 11 of 10
    b.observe(0, 80)  # an older answer arriving late must not erase our reservations
    assert 1.5 < b.reserve() <= 2.0


def test_observe_ignores_a_meaningless_header(backend):
    b = bucket(backend, 2, 1.0)
    b.observe(5, 0)
    assert b.reserve() == 0.0


def test_penalize_makes_the_next_acquire_wait_at_least_that_long(backend):
    b = bucket(backend, 80, 100.0)
    penalized_at = time.monotonic()
    b.penalize(0.3)
    other = LeakyBucket(b.key, 80, 100.0, backend=backend)  # another process's view of the same bucket
    assert other.acquire() > 0.2
    assert time.monotonic() - penalized_at >= 0.3 - 0.01  # clock granularity of the backends


def test_penalize_does_not_shorten_a_longer_wait(backend):
    b = bucket(backend, 1, 1.0)
    b.reserve()
    b.reserve()
    b.reserve()  # level 3 of 1: the next waits ~3s
    b.penalize(0.1)
    assert b.reserve() > 2.5


def test_two_keys_do_not_interfere(backend):
    a = bucket(backend, 1, 1.0)
    b = bucket(backend, 1, 1.0)
    assert a.reserve() == 0.0
    assert a.reserve() > 0.5
    a.penalize(5)
    assert b.reserve() == 0.0


# --- backend specifics --------------------------------------------------------------------------------


def test_database_bucket_is_a_row(db):
    b = LeakyBucket("haravan:1000", 80, 4.0, backend=DatabaseBackend())
    b.reserve()
    b.observe(32, 80)
    row = RateBucket.objects.get(key="haravan:1000")
    assert row.level == 32.0
    assert abs(row.updated - time.time()) < 5


def test_redis_keys_expire_once_drained(redis_url):
    import redis

    b = LeakyBucket("haravan:2000", 80, 4.0, backend=RedisBackend(redis_url))
    b.observe(40, 80)
    ttl = redis.Redis.from_url(redis_url).ttl("ratelimit:haravan:2000")
    assert 40 / 4 < ttl <= 40 / 4 + 61  # drained after 10s, plus a minute of slack


def test_default_backend_follows_settings(settings):
    settings.REDIS_URL = ""
    assert isinstance(default_backend(), DatabaseBackend)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    assert isinstance(default_backend(), RedisBackend)


def test_haravan_bucket_is_per_shop_with_the_configured_limit(settings):
    settings.REDIS_URL = ""
    settings.HARAVAN_RATE_CAPACITY = 80
    settings.HARAVAN_RATE_PER_SECOND = 4.0
    b = shop_bucket("1000")
    assert (b.key, b.capacity, b.rate) == ("haravan:1000", 80, 4.0)
    assert shop_bucket("2000").key != b.key


# --- several processes, one bucket --------------------------------------------------------------------

# Each worker is a separate Python process with its own Django: nothing is shared but the backend.
WORKER = r"""
import json, os, sys, time
import django
django.setup()
from connectors.ratelimit import DatabaseBackend, LeakyBucket, RedisBackend

mode, key, capacity, rate, count = sys.argv[1:6]
capacity, rate, count = int(capacity), float(rate), int(count)
if mode == "init":
    from django.db import connection
    from connectors.models import RateBucket
    with connection.schema_editor() as editor:
        editor.create_model(RateBucket)
    sys.exit(0)
backend = RedisBackend(os.environ["REDIS_URL"]) if mode == "redis" else DatabaseBackend()
bucket = LeakyBucket(key, capacity, rate, backend=backend)
print("ready", flush=True)
sys.stdin.readline()
sent = []
for _ in range(count):
    bucket.acquire()
    sent.append(time.time())
print(json.dumps(sent), flush=True)
"""

CAPACITY, RATE, PROCESSES, CALLS_EACH = 2, 20.0, 4, 6
JITTER = 0.25  # seconds a process may wake late (or record late); lateness only ever delays a send


def _run_workers(mode: str, env: dict) -> list[float]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "CELERY_BROKER_URL": "memory://", **env}
    key = f"test:{uuid.uuid4().hex}"
    args = [mode, key, str(CAPACITY), str(RATE), str(CALLS_EACH)]
    if mode == "database":
        subprocess.run(
            [sys.executable, "-c", WORKER, "init", *args[1:]], cwd=REPO, env=env, check=True, timeout=60
        )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, *args],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    try:
        for p in procs:
            assert p.stdout.readline().strip() == "ready"
        for p in procs:  # all start together
            p.stdin.write("go\n")
            p.stdin.flush()
        sent = []
        for p in procs:
            out, _ = p.communicate(timeout=60)
            assert p.returncode == 0
            sent.extend(json.loads(out))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    return sorted(sent)


def _assert_never_over_the_limit(sent: list[float]):
    n = len(sent)
    assert n == PROCESSES * CALLS_EACH
    # The whole run cannot be faster than the drain rate allows after the first full bucket.
    assert sent[-1] - sent[0] >= (n - CAPACITY) / RATE - JITTER
    # No window holds more than capacity + what drained during it (plus jitter).
    for i in range(n):
        for j in range(i, n):
            assert j - i + 1 <= CAPACITY + RATE * (sent[j] - sent[i] + JITTER), (i, j, sent[j] - sent[i])
    assert sent[-1] - sent[0] < 30  # and nobody got stuck


@pytest.mark.services
def test_processes_sharing_a_redis_bucket_never_burst(redis_url):
    _assert_never_over_the_limit(_run_workers("redis", {"REDIS_URL": redis_url}))


def test_processes_sharing_a_database_bucket_never_burst(tmp_path):
    """The demo deployment: one SQLite file, several processes (IMMEDIATE transactions serialise them)."""
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'buckets.sqlite3'}",
        "VAR_DIR": str(tmp_path),
        "REDIS_URL": "",
    }
    _assert_never_over_the_limit(_run_workers("database", env))
