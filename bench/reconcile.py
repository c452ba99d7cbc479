"""Daily reconciliation: one day of 50,000 orders over three meInvoice MSTs, reconciled in under a minute?

What is measured
    ``syncjobs.reconciliation.check_day`` on one Haravan → meInvoice connection for one day holding --orders
    orders (50,000) spread over the three demo MSTs, every one issued: the day's documents read from
    PostgreSQL in chunks, Haravan's ``orders/count.json`` asked for the day, and each MST's invoices read from
    the meInvoice simulator's ``invoice/paging`` (100 per page, the day and the next) through the real client,
    then compared and one ReconciledDay stored per MST. A second day holding --small orders (10,000) is
    checked the same way, for the memory figures.

    elapsed    = check_day's wall time (the goal: under 60 s)
    orders/s   = orders ÷ elapsed
    memory     = the Python heap's peak during check_day (tracemalloc, a second run, as tracing slows it)
                 and the process's resident set's growth over its level before check_day (sampled every
                 20 ms, first run), at --small and at --orders orders: "flat" means growing with the day's
                 count by a small record per order, never with the stored snapshots (they stay in the
                 database) — per-order bytes are printed for both days, and the flatness: the heap
                 peak at --orders ÷ the one at --small (flat ≈ 1), with the peak's bytes per order added.
                 The ``responses`` mock answering in-process keeps no record of the calls (a harness's
                 record every response would otherwise stay in).
    where the time goes (--profile): cProfile's top functions of the timed run.

How
    PostgreSQL from tests/support/services.py; the orders' documents written in bulk (``bulk_create``) as
    the intake leaves them once issued (state done, the meInvoice result with its RefID); the simulators'
    state filled directly (the shop's orders, each MST's issued invoices, InvDate the day), and their HTTP
    API answered in-process (``sandbox.testing.mount``: the real client and its JSON, no sockets). The
    preparation is not timed.

Usage
    .venv/bin/python bench/reconcile.py [--orders 50000] [--small 10000] [--profile] [--json]
"""

import argparse
import contextlib
import datetime as dt
import json
import os
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.common import SetupError, code_version, create_database, log, manage, run_to_exit_code  # noqa: E402
from tests.support import services  # noqa: E402

DATABASE = "ledgerlink_reconcile"
BASE = "http://sandbox.bench"
ORG = "200000001"
MSTS = ("0101243150", "0312345673", "0101243150-001")
GOAL_SECONDS = 60.0
VN = dt.timezone(dt.timedelta(hours=7))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=50_000)
    parser.add_argument("--small", type=int, default=10_000, help="the smaller day, for memory flatness")
    parser.add_argument("--profile", action="store_true", help="cProfile's top functions of the timed run")
    parser.add_argument("--json", action="store_true")
    return parser.parse_args(argv)


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class RssPeak:
    """The resident set's highest level while the block runs, sampled every 20 ms."""

    def __init__(self):
        self.base = self.peak = 0
        self._stop = threading.Event()

    def __enter__(self):
        self.base = self.peak = rss_bytes()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_bytes())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())

    @property
    def growth(self) -> int:
        return self.peak - self.base


def order(i: int, day: dt.date, base: int) -> dict:
    """A Haravan order as stored (the keys reconciliation and routing read, and a realistic bulk of lines)."""
    route = i % 3
    price = 100_000 + (i % 17) * 12_000
    moment = dt.datetime.combine(day, dt.time(), VN) + dt.timedelta(seconds=(i * 86_399) // 60_000)
    return {
        "id": base + i,
        "name": f"#{base + i}",
        "order_number": f"#{base + i}",
        "currency": "VND",
        "financial_status": "paid",
        "fulfillment_status": None,
        "cancelled_status": "uncancelled",
        "closed_status": "unclosed",
        "source_name": "shopee" if route == 2 else ("pos" if route == 1 else "web"),
        "location_id": 1002 if route == 1 else 1001,
        "total_price": float(price + 30_000),
        "created_at": moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "updated_at": moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "line_items": [
            {
                "id": i * 10 + k,
                "sku": f"SKU-{(i + k) % 17}",
                "title": "Áo thun",
                "quantity": 1,
                "price": price,
            }
            for k in range(3)
        ],
    }


def mst_of(raw: dict) -> str:
    if raw["source_name"] == "shopee":
        return "0101243150-001"
    return "0312345673" if raw["location_id"] == 1002 else "0101243150"


def seed(app, count: int, day: dt.date, accounts: dict, conn, base: int) -> None:
    """``count`` issued orders of ``day``: our documents in bulk, the shop's orders and each MST's invoices
    in the simulators' state."""
    from meinvoice.convert import ref_id_for
    from sandbox.meinvoice.state import Invoice
    from syncjobs.models import SyncDocument

    meinvoice, haravan = app["/meinvoice"], app["/haravan"]
    shop = haravan.shop(int(ORG))
    now = dt.datetime.now(dt.UTC)
    numbers = {mst: len(meinvoice.accounts[mst].invoices) for mst in MSTS}
    batch = []
    for i in range(count):
        raw = order(i, day, base)
        mst = mst_of(raw)
        account = meinvoice.accounts[mst]
        ref = ref_id_for(mst, raw["id"], "invoice")
        numbers[mst] += 1
        series = accounts[mst].settings.get("series") or "1C26TAA"
        invoice = Invoice(
            seq=meinvoice.next_id("invoice"),
            tax_code=mst,
            ref_id=ref,
            transaction_id=f"TX{raw['id']}",
            inv_series=series,
            inv_no=numbers[mst],
            inv_code="",
            inv_date=day,
            published_at=meinvoice.clock() - 3600,
            published_wall=now,
            reference_type=0,
            einvoice_status=1,
            tax_fate=2,
            data={"RefID": ref, "TotalAmount": raw["total_price"], "CurrencyCode": "VND"},
        )
        account.invoices.append(invoice)
        account.by_ref[ref] = invoice
        shop.orders[raw["id"]] = {**raw, "processed_at": raw["created_at"]}
        batch.append(
            SyncDocument(
                connection=conn,
                account=accounts[mst],
                source_type="order",
                source_id=str(raw["id"]),
                source_label=raw["name"],
                kind="invoice",
                state="done",
                source_data=raw,
                result={
                    "ref_id": ref,
                    "transaction_id": invoice.transaction_id,
                    "inv_series": series,
                    "inv_no": invoice.number,
                    "inv_date": day.isoformat(),
                },
                done_at=now,
            )
        )
        if len(batch) == 5000:
            SyncDocument.objects.bulk_create(batch)
            batch = []
    SyncDocument.objects.bulk_create(batch)


class SimulatorClock:
    """Time spent inside the simulators' handlers (what the real services would spend answering)."""

    def __init__(self, app):
        self.seconds, self.calls = 0.0, 0
        handle = app.handle

        def timed(request):
            started = time.perf_counter()
            try:
                return handle(request)
            finally:
                self.seconds += time.perf_counter() - started
                self.calls += 1

        app.handle = timed

    def reset(self):
        self.seconds, self.calls = 0.0, 0


def measure(conn, day: dt.date, sim: SimulatorClock, *, profile: bool = False) -> dict:
    import gc

    from syncjobs.reconciliation import check_day

    gc.collect()
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
    sim.reset()
    with RssPeak() as rss:
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        rows = check_day(conn, day)
        if profiler:
            profiler.disable()
        elapsed = time.perf_counter() - started
    simulated, calls = sim.seconds, sim.calls
    gc.collect()
    tracemalloc.start()
    check_day(conn, day)
    _current, heap_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    top = ""
    if profiler:
        import io
        import pstats

        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
        top = out.getvalue()
    return {
        "elapsed": elapsed,
        "rows": [
            {
                "account": row.account.external_id,
                "expected": row.expected_count,
                "confirmed": row.confirmed_count,
                "total": str(row.expected_total),
                "matches": row.matches,
                "differences": len(row.differences),
                "error": row.error,
            }
            for row in rows
        ],
        "simulator_s": simulated,
        "calls": calls,
        "rss_growth": rss.growth,
        "heap_peak": heap_peak,
        "profile": top,
    }


def run(args) -> dict:
    with contextlib.ExitStack() as stack:
        pg = services.PostgresServer().start()
        stack.callback(pg.stop)
        create_database(pg.url("postgres"), DATABASE)
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": pg.url(DATABASE),
            "VAR_DIR": tempfile.mkdtemp(prefix="ledgerlink-bench-reconcile-"),
            "LOG_LEVEL": "WARNING",
            "HARAVAN_API_URL": f"{BASE}/haravan",
            "MEINVOICE_API_URL": f"{BASE}/meinvoice/api/integration",
            "HARAVAN_RATE_CAPACITY": "100000",
        }
        manage(env, "migrate", "--noinput", "-v0")
        os.environ.update(env)
        import django

        django.setup()
        import responses

        from sandbox.server import default_app
        from sandbox.testing import mount

        app = default_app(seed_orders=False, webhook_sender=lambda *a: (200, "ok"), webhook_background=False)
        stack.callback(app.close)
        mock = stack.enter_context(responses.RequestsMock(assert_all_requests_are_fired=False))
        mount(mock, app, BASE)
        forget_calls(mock)
        conn, accounts = setup_connection()
        today = dt.datetime.now(VN).date()
        big_day, small_day = today - dt.timedelta(days=3), today - dt.timedelta(days=6)
        started = time.monotonic()
        seed(app, args.orders, big_day, accounts, conn, 1_000_000)
        seed(app, args.small, small_day, accounts, conn, 5_000_000)
        log(f"prepared {args.orders + args.small} issued orders in {time.monotonic() - started:.1f}s")
        from django.db import connection as db

        with db.cursor() as cur:
            cur.execute("ANALYZE")
        sim = SimulatorClock(app)
        small = measure(conn, small_day, sim)
        big = measure(conn, big_day, sim, profile=args.profile)
        return {"orders": args.orders, "small_orders": args.small, "big": big, "small": small}


def forget_calls(mock) -> None:
    """The ``responses`` mock keeps every request and response it answered (``mock.calls``, and each
    registration's ``calls``): a test harness's record that a real process has no equivalent of, and that
    would hold every meInvoice page of the run. The bench keeps none."""

    def keep_nothing(call) -> None:
        return None

    mock.calls.add_call = keep_nothing
    for registration in mock.registered():
        registration.calls.add_call = keep_nothing


def setup_connection():
    from django.utils import timezone

    from connectors import registry
    from connectors.models import Connection, License, RoutingRule, TargetAccount, Tenant
    from haravan.models import HaravanShop
    from meinvoice import services as meinvoice

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
        accounts[mst].refresh_from_db()
    RoutingRule.objects.create(
        connection=conn, dimension="source", value="shopee", priority=10, account=accounts["0101243150-001"]
    )
    RoutingRule.objects.create(
        connection=conn, dimension="location", value="1002", priority=20, account=accounts["0312345673"]
    )
    return conn, accounts


def report(figures: dict, args) -> None:
    big, small = figures["big"], figures["small"]
    n, m = figures["orders"], figures["small_orders"]
    mib = 1024 * 1024
    out = {
        "code": code_version(),
        "orders": n,
        "accounts": len(big["rows"]),
        "elapsed_s": round(big["elapsed"], 2),
        "orders_per_s": round(n / big["elapsed"]),
        "goal_s": GOAL_SECONDS,
        "elapsed_vs_goal": round(big["elapsed"] / GOAL_SECONDS, 3),
        "simulator_s": round(big["simulator_s"], 2),
        "ours_s": round(big["elapsed"] - big["simulator_s"], 2),
        "calls": big["calls"],
        "all_match": all(r["matches"] for r in big["rows"]) and all(r["matches"] for r in small["rows"]),
        "rss_growth_mib": {m: round(small["rss_growth"] / mib, 1), n: round(big["rss_growth"] / mib, 1)},
        "heap_peak_mib": {m: round(small["heap_peak"] / mib, 1), n: round(big["heap_peak"] / mib, 1)},
        "heap_bytes_per_order": {m: round(small["heap_peak"] / m), n: round(big["heap_peak"] / n)},
        "flatness": round(big["heap_peak"] / max(small["heap_peak"], 1), 2),
        "rss_flatness": round(big["rss_growth"] / max(small["rss_growth"], 1), 2),
        "heap_bytes_per_added_order": round((big["heap_peak"] - small["heap_peak"]) / max(n - m, 1)),
        "small_elapsed_s": round(small["elapsed"], 2),
        "rows": big["rows"],
    }
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"code: {out['code']}")
        print(f"one day of {n:,} orders over {out['accounts']} MSTs reconciled in {out['elapsed_s']} s")
        print(
            f"  {out['orders_per_s']:,} orders/s; {out['elapsed_vs_goal']:.1%} of the "
            f"{GOAL_SECONDS:.0f} s goal"
        )
        print(
            f"  of which the simulators answering {big['calls']} calls: {out['simulator_s']} s; ours "
            f"(database, client, comparison, storing): {out['ours_s']} s "
            f"({out['ours_s'] / GOAL_SECONDS:.1%} of the goal)"
        )
        for row in big["rows"]:
            print(
                f"  MST {row['account']}: expected {row['expected']:,}, confirmed {row['confirmed']:,}, "
                f"matches {row['matches']} {row['error']}"
            )
        print(f"memory ({m:,} orders → {n:,} orders; {n / m:.0f}× the orders):")
        print(
            f"  Python heap peak   {small['heap_peak'] / mib:7.1f} MiB → {big['heap_peak'] / mib:7.1f} MiB "
            f"({big['heap_peak'] / max(small['heap_peak'], 1):.1f}×; "
            f"{out['heap_bytes_per_order'][m]} → {out['heap_bytes_per_order'][n]} bytes per order)"
        )
        print(
            f"  RSS growth         {small['rss_growth'] / mib:7.1f} MiB → {big['rss_growth'] / mib:7.1f} MiB "
            f"({big['rss_growth'] / max(small['rss_growth'], 1):.1f}×)"
        )
        rss_ratio = (
            f"{out['rss_flatness']:.2f}"
            if small["rss_growth"] >= mib
            else f"not a ratio, under 1 MiB at {m:,}: the allocator reuses what the preparation freed"
        )
        print(
            f"  flatness (heap peak at {n:,} ÷ at {m:,}; flat ≈ 1): {out['flatness']:.2f} "
            f"(RSS growth: {rss_ratio}); "
            f"{out['heap_bytes_per_added_order']} bytes of heap peak per order added"
        )
        print(f"  {m:,} orders reconciled in {small['elapsed']:.2f} s")
        print(f"every day matches: {out['all_match']}")
        if big["profile"]:
            print(big["profile"])


def main(argv=None) -> int:
    args = parse_args(argv)
    figures, code = run_to_exit_code(run, args, (SetupError, services.ServiceUnavailable))
    if figures is not None:
        report(figures, args)
    return code


if __name__ == "__main__":
    sys.exit(main())
