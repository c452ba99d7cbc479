"""Issuance throughput: how close does publishing come to meInvoice's own ceiling?

What is measured
    2,000 paid orders spread over the three demo MSTs (one series each) are queued by the real intake,
    then three real Celery worker processes publish them through the real client to the meInvoice
    simulator, which answers every call after 300 ms (as a slow HSM signature would). Numbers are
    sequential per series, so each series is published one batch at a time; the series run in parallel.

    ceiling   = batch size × series ÷ call time = 50 × 3 ÷ 0.3 s = 500 invoices/s, where a call's time is
                the slower of the answer (300 ms) and the gap MISA's guide asks between two publish calls of
                one series (--series-gap, production's MEINVOICE_SERIES_GAP_SECONDS of 1 s by default: then
                the ceiling is 150 invoices/s; with --series-gap 0, our own overhead against 500/s)
    measured  = invoices ÷ (first publish call sent → last document recorded as issued)

    Also printed: publish calls, mean batch size, duplicates (a RefID issued twice at the simulator) and
    losses (an eligible order without exactly one invoice). Goal: ≥ 80 % of the ceiling, zero duplicates.

How
    PostgreSQL and Redis from tests/support/services.py; the simulators served over HTTP in this process
    (sandbox.testing.LiveSandbox); workers started with `celery -A config worker` like production.

Usage
    .venv/bin/python bench/issuance.py [--orders 2000] [--latency-ms 300] [--series-gap 1.0] [--json]
"""

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import psycopg2  # noqa: E402

from tests.support import services  # noqa: E402

MSTS = ("0101243150", "0312345673", "0101243150-001")
ORG = "200000001"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--latency-ms", type=int, default=300)
    parser.add_argument(
        "--series-gap", type=float, default=1.0, help="seconds between publish calls of a series"
    )
    parser.add_argument("--json", action="store_true")
    return parser.parse_args()


def make_order(i: int) -> dict:
    """A paid Haravan order; every third goes to each MST (shopee → -001, branch 1002 → 0312345673)."""
    route = i % 3
    price = 100_000 + (i % 17) * 12_000
    qty = 1 + i % 3
    shipping = 30_000 if route != 1 else 0
    return {
        "id": 5_000_000 + i,
        "order_number": f"#{200000 + i}",
        "name": f"#{200000 + i}",
        "financial_status": "paid",
        "fulfillment_status": None,
        "cancelled_at": None,
        "source_name": "shopee" if route == 2 else ("pos" if route == 1 else "web"),
        "location_id": 1002 if route == 1 else 1001,
        "currency": "VND",
        "line_items": [
            {
                "id": i * 10 + 1,
                "variant_id": 11,
                "product_id": 1,
                "sku": f"SKU-{i % 17}",
                "title": "Áo thun",
                "variant_title": "M",
                "quantity": qty,
                "price": float(price),
                "total_discount": 0,
                "applied_discounts": [],
                "vendor": "Demo",
                "type": "Thời trang",
            },
        ],
        "discount_codes": [],
        "shipping_lines": [{"code": "GHN", "title": "Giao hàng nhanh", "price": float(shipping)}]
        if shipping
        else [],
        "total_line_items_price": float(price * qty),
        "total_discounts": 0.0,
        "subtotal_price": float(price * qty),
        "total_price": float(price * qty + shipping),
        "taxes_included": True,
        "note_attributes": [],
        "created_at": "2026-11-20T10:00:00+07:00",
        "updated_at": "2026-11-20T10:00:00+07:00",
    }


def main():
    args = parse_args()
    pg = services.PostgresServer().start()
    redis_server = services.RedisServer().start()
    workers = []
    live = None
    try:
        conn = psycopg2.connect(pg.url("postgres"))
        conn.autocommit = True
        conn.cursor().execute("CREATE DATABASE ledgerlink_issuance")
        conn.close()
        from sandbox.server import default_app
        from sandbox.testing import LiveSandbox

        live = LiveSandbox(default_app(seed_orders=False)).__enter__()
        env = {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": pg.url("ledgerlink_issuance"),
            "CELERY_BROKER_URL": redis_server.url,
            "REDIS_URL": redis_server.url,
            "MEINVOICE_API_URL": f"{live.url}/meinvoice/api/integration",
            "HARAVAN_API_URL": f"{live.url}/haravan",
            "VAR_DIR": tempfile.mkdtemp(prefix="ledgerlink-bench-"),
            "LOG_LEVEL": "WARNING",
            "DB_CONN_MAX_AGE": "60",
            "MEINVOICE_SERIES_GAP_SECONDS": str(args.series_gap),
        }
        os.environ.update(env)
        import subprocess

        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=REPO, check=True)
        import django

        django.setup()
        queued = seed(args.orders)
        live.app["/meinvoice"].set_knobs(latency_ms=args.latency_ms)
        started = time.monotonic()
        # One worker process per series, started together (each takes a series lock and keeps it busy).
        workers = [services.CeleryWorker(env, name=f"w{n + 1}", queues="celery").spawn() for n in range(3)]
        for worker in workers:
            worker.wait_ready()
        figures = measure(live, queued, started, args)
        if os.environ.get("BENCH_DEBUG"):
            print(workers[0].output()[-3000:], file=sys.stderr)
    finally:
        for worker in workers:
            worker.stop()
        if live is not None:
            live.__exit__(None, None, None)
        redis_server.cleanup()
        pg.stop()
    report(figures, args)


def seed(count: int) -> int:
    import datetime as dt

    from django.utils import timezone

    from connectors import registry
    from connectors.models import Connection, License, RoutingRule, TargetAccount, Tenant
    from haravan.models import HaravanShop
    from haravan.services import intake_order
    from meinvoice import services as meinvoice
    from syncjobs.models import SyncDocument

    tenant = Tenant.objects.create(name="Bench", slug="bench")
    for family, _label in registry.family_choices():
        License.objects.create(tenant=tenant, family=family, expires_at=timezone.now() + dt.timedelta(days=9))
    HaravanShop.objects.create(tenant=tenant, org_id=ORG, secrets={"access_token": "demo-token"})
    conn = Connection.objects.create(
        tenant=tenant, name="Bench", source_kind="haravan", source_key=ORG, target_kind="meinvoice"
    )
    accounts = {}
    for i, mst in enumerate(MSTS):
        accounts[mst] = TargetAccount.objects.create(
            connection=conn,
            external_id=mst,
            is_default=(i == 0),
            credentials={"app_id": "demo-app", "username": "demo", "password": "demo"},
        )
        meinvoice.sync_templates(accounts[mst])
    RoutingRule.objects.create(
        connection=conn, dimension="source", value="shopee", priority=10, account=accounts["0101243150-001"]
    )
    RoutingRule.objects.create(
        connection=conn, dimension="location", value="1002", priority=20, account=accounts["0312345673"]
    )
    t = time.monotonic()
    for i in range(count):
        intake_order(ORG, make_order(i), trigger="bench")
    queued = SyncDocument.objects.filter(state="queued").count()
    print(f"queued {queued} invoices through the real intake in {time.monotonic() - t:.1f}s", file=sys.stderr)
    return queued


def measure(live, queued, started, args) -> dict:
    from syncjobs.models import SyncDocument

    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        done = SyncDocument.objects.filter(state="done").count()
        if done >= queued:
            break
        time.sleep(0.05)
    finished = time.monotonic()
    if os.environ.get("BENCH_DEBUG"):
        for c in live.app["/meinvoice"].calls:
            print(
                round(c["clock"] - started, 3),
                c["method"],
                c["path"],
                c["latency_ms"],
                c["mst"],
                file=sys.stderr,
            )
    sim = live.app["/meinvoice"]
    calls = [c for c in sim.calls if c["path"].rstrip("/").endswith("/invoice") and c["method"] == "POST"]
    first_call = min(c["clock"] for c in calls) if calls else started
    # The simulator's clock is time.monotonic() in this process: comparable with ours.
    elapsed = finished - first_call
    invoices = sim.invoices()
    per_ref = Counter(i["RefID"] for i in invoices)
    docs = dict(SyncDocument.objects.filter(kind="invoice").values_list("result__ref_id", "state"))
    ceiling = 50 * len(MSTS) / max(args.latency_ms / 1000, args.series_gap)
    rate = len(invoices) / elapsed if elapsed > 0 else 0.0
    return {
        "orders": args.orders,
        "queued": queued,
        "issued": len(invoices),
        "publish_calls": len(calls),
        "mean_batch": round(len(invoices) / len(calls), 1) if calls else 0,
        "seconds": round(elapsed, 2),
        "invoices_per_s": round(rate, 1),
        "ceiling_per_s": round(ceiling, 1),
        "ratio": round(rate / ceiling, 3) if ceiling else 0,
        "duplicates": sum(n - 1 for n in per_ref.values() if n > 1),
        "lost": sum(1 for ref, state in docs.items() if state != "done" or per_ref.get(ref) != 1),
    }


def report(figures: dict, args) -> None:
    if args.json:
        print(json.dumps(figures))
        return
    print(f"orders                {figures['orders']} (queued {figures['queued']})")
    print(
        f"issued                {figures['issued']} in {figures['publish_calls']} publish calls "
        f"(mean batch {figures['mean_batch']})"
    )
    print(f"time                  {figures['seconds']} s from the first publish call to the last issued")
    print(f"throughput            {figures['invoices_per_s']} invoices/s")
    print(
        f"ceiling               {figures['ceiling_per_s']} invoices/s (50 × 3 series ÷ the slower of "
        f"{args.latency_ms} ms per call and {args.series_gap} s between a series' calls)"
    )
    print(f"ratio                 {figures['ratio'] * 100:.1f} % of the ceiling (goal ≥ 80 %)")
    print(f"duplicates            {figures['duplicates']} (goal 0)")
    print(f"lost                  {figures['lost']} (goal 0)")


if __name__ == "__main__":
    main()
