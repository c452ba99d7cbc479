"""AMIS posting throughput: how close does sending vouchers come to AMIS's own ceiling?

What is measured
    3,000 paid orders over the three demo AMIS companies (demo-hanoi by default, demo-hcm for location
    1002, demo-tmdt for source shopee) are taken in by the real intake (one sales voucher each: the
    mapping makes no sales order, and an order captured in full in cash is "paid at sale", so it has no
    receipt). Then real Celery worker processes send them through the real client to the AMIS simulator,
    served over HTTP, which answers every ``save`` after 500 ms; sending is sequential per company (one
    sender holds each company's lock), the companies run in parallel. The simulator's accountant generates
    each proposal a short while after it was saved (auto_generate) and calls back, signed, to a live
    gunicorn serving the product's ``POST /callbacks/amis/``; workers apply the stored callbacks.

    ceiling    = vouchers per call × companies ÷ call time = 100 × 3 ÷ 0.5 s = 600 vouchers/s
    measured   = vouchers ÷ (first save call sent → last document recorded as sent)
    callbacks  = callbacks stored ÷ (first stored → last stored), and handled (stored and applied)
                 ÷ (first stored → last applied)
    generated  = first save call sent → last document recorded as done (generated in AMIS)

    Also printed: save calls and mean batch size, duplicates (a proposal saved more than once under one
    org_refid, or a second sales voucher for one order at the simulator) and lost (an order without
    exactly one generated sales voucher at the company the rules choose, or whose document is not done).
    Goal: ≥ 90 % of the ceiling, zero duplicates, zero lost. Exit code 0 whether or not a goal is met (this
    is a measurement), 2 when the setup fails, 130 when interrupted.

How
    PostgreSQL and Redis from tests/support/services.py; the simulators served over HTTP in this process
    (sandbox.testing.LiveSandbox); the web app under gunicorn (gthread) and one Celery worker started as
    docker-compose starts them (``celery -A config worker --concurrency 4``), with the same environment.
    Each company's callback URL is set through the simulator's control endpoint. The orders are queued
    before the worker starts, so the worker finds a backlog (as after an outage or a bulk import) and
    batches are full; the clock starts at the first ``save`` call.

    --probe re-runs, in this process, one company's posting pass on a fresh backlog of 300 against the
    same simulator (the worker stopped), counting SQL statements (django's execute_wrapper) and timing our
    own code by phase apart from the time AMIS takes to answer, and applies that probe's stored callbacks
    one by one, timed by phase. Nothing of the product is changed. --profile adds cProfile's top
    functions.

Usage
    .venv/bin/python bench/amis_posting.py [--orders 3000] [--latency-ms 500] [--generate-after 1.0]
                                           [--concurrency 4] [--probe] [--profile] [--json]
"""

import argparse
import contextlib
import datetime as dt
import itertools
import json
import os
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.common import (  # noqa: E402
    SetupError,
    code_version,
    create_database,
    log,
    manage,
    run_to_exit_code,
)
from tests.support import services  # noqa: E402

ORG = "200000001"
APP_ID = "demo-amis-app"
DATABASE = "ledgerlink_amis_posting"
# (org_company_code, default?) — the simulator's demo companies, the demo's routing rules
COMPANIES = (("demo-hanoi", True), ("demo-hcm", False), ("demo-tmdt", False))
RULES = ((10, "source", "shopee", "demo-tmdt"), (20, "location", "1002", "demo-hcm"))
# tests/contracts.py AMIS_MAPPING without the sales order: one sales voucher per paid order, paid at sale
MAPPING = {
    "locations": {"1001": {"stock_code": "KHO01"}, "1002": {"stock_code": "KHO02"}},
    "parties": {"walk_in": "KHACHLE", "by_channel": {"shopee": "KHACHLE_SHOPEE"}},
    "default_gateway": "cash",
    "documents": {"sales_order": "never", "sales_voucher": "paid", "paid_at_sale": True},
}
SKUS = ("SKU-AO-01", "SKU-QUAN-02", "SKU-MU-03")  # items every demo company has
VOUCHERS_PER_CALL = 100  # amis.md §3
WAIT_SECONDS = 900


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=3000)
    parser.add_argument("--latency-ms", type=int, default=500, help="the simulator's time per save call")
    parser.add_argument(
        "--generate-after", type=float, default=1.0, help="seconds from a save to the accountant generating"
    )
    parser.add_argument("--concurrency", type=int, default=4, help="the Celery worker's processes")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=4)
    parser.add_argument("--probe", action="store_true", help="count queries and time one posting pass")
    parser.add_argument("--profile", action="store_true", help="with --probe: cProfile's top functions")
    parser.add_argument("--json", action="store_true")
    return parser.parse_args(argv)


def make_order(i: int) -> dict:
    """A paid Haravan order, captured in full in cash; a third each to demo-hanoi (web, 1001), demo-hcm
    (pos, 1002) and demo-tmdt (shopee, 1001)."""
    route = i % 3
    price = 100_000 + (i % 17) * 12_000
    qty = 1 + i % 3
    shipping = 30_000 if route != 1 else 0
    total = price * qty + shipping
    return {
        "id": 7_000_000 + i,
        "order_number": f"#{300000 + i}",
        "name": f"#{300000 + i}",
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
                "sku": SKUS[i % len(SKUS)],
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
        "transactions": [
            {
                "id": 9_000_000 + i,
                "kind": "capture",
                "status": "success",
                "amount": float(total),
                "gateway": "Tiền mặt",
                "created_at": "2026-11-20T10:05:00+07:00",
            }
        ],
        "total_line_items_price": float(price * qty),
        "total_discounts": 0.0,
        "subtotal_price": float(price * qty),
        "total_price": float(total),
        "taxes_included": True,
        "note_attributes": [],
        "created_at": "2026-11-20T10:00:00+07:00",
        "updated_at": "2026-11-20T10:05:00+07:00",
    }


def company_of(order: dict) -> str:
    if order["source_name"] == "shopee":
        return "demo-tmdt"
    return "demo-hcm" if order["location_id"] == 1002 else "demo-hanoi"


# --- the processes ----------------------------------------------------------------------------------------


class Gunicorn:
    """`gunicorn config.wsgi` (gthread) in its own session, so stopping it stops its workers only."""

    def __init__(self, env: dict, log_dir: str, workers: int, threads: int):
        self.env, self.workers, self.threads = env, workers, threads
        self.port = services.free_port()
        self.log_path = os.path.join(log_dir, "gunicorn.log")
        self.proc = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Gunicorn":
        import subprocess

        cmd = [
            str(Path(sys.executable).parent / "gunicorn"), "config.wsgi",
            "--bind", f"127.0.0.1:{self.port}",
            "--worker-class", "gthread", "--workers", str(self.workers), "--threads", str(self.threads),
            "--keep-alive", "10", "--log-level", "warning",
        ]  # fmt: skip
        with open(self.log_path, "w") as log_file:
            self.proc = subprocess.Popen(
                cmd, cwd=REPO, env=self.env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            services.wait_for_port(self.port, timeout=30, proc=self.proc)
        except services.ServiceUnavailable as exc:
            raise SetupError(f"{exc}\n--- gunicorn log ---\n{Path(self.log_path).read_text()}") from exc
        return self

    def stop(self) -> None:
        import signal
        import subprocess

        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


class CallLog:
    """Every AMIS API call the simulator answered: endpoint, company, wall-clock start and end (the
    simulator runs in this process; its own call log has no clock of its own to compare with ours)."""

    def __init__(self, sim):
        self.sim = sim
        self.rows: list[dict] = []
        self.lock = threading.Lock()
        self._call = sim._call
        sim._call = self.call

    def call(self, request, name, context):
        started = time.time()
        response = self._call(request, name, context)
        ended = time.time()
        row = {
            "endpoint": name,
            "company": context.get("company"),
            "error_code": context.get("error_code"),
            "started": started,
            "ended": ended,
        }
        with self.lock:
            self.rows.append(row)
        return response

    def saves(self) -> list[dict]:
        with self.lock:
            return [r for r in self.rows if r["endpoint"] == "save"]


# --- the run ----------------------------------------------------------------------------------------------


def run(args) -> dict:
    with contextlib.ExitStack() as stack:
        pg = services.PostgresServer().start()
        stack.callback(pg.stop)
        redis_server = services.RedisServer().start()
        stack.callback(redis_server.cleanup)
        create_database(pg.url("postgres"), DATABASE)

        from sandbox.server import default_app
        from sandbox.testing import LiveSandbox

        live = LiveSandbox(default_app(seed_orders=False)).start()
        stack.callback(live.stop)
        stack.callback(live.app.close)
        var_dir = tempfile.mkdtemp(prefix="ledgerlink-bench-amis-")
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": pg.url(DATABASE),
            "CELERY_BROKER_URL": redis_server.url,
            "REDIS_URL": redis_server.url,
            "AMIS_API_URL": f"{live.url}/amis",
            "AMIS_APP_ID": APP_ID,
            "MEINVOICE_API_URL": f"{live.url}/meinvoice/api/integration",
            "HARAVAN_API_URL": f"{live.url}/haravan",
            "VAR_DIR": var_dir,
            "LOG_LEVEL": "WARNING",
            "DB_CONN_MAX_AGE": "60",
            # No beat runs; a result not called back is left for the "lost" figure, never resent.
            "AMIS_CALLBACK_WAIT_SECONDS": "3600",
        }
        os.environ.update(env)
        manage(env, "migrate", "--noinput", "-v0")
        import django

        django.setup()

        web = Gunicorn(env, var_dir, args.web_workers, args.web_threads).start()
        stack.callback(web.stop)
        sim = live.app["/amis"]
        calls = CallLog(sim)
        sim.set_knobs(
            save_latency_ms=args.latency_ms,
            auto_generate=True,
            auto_generate_seconds=args.generate_after,
            callback_delay_seconds=0.2,
        )
        _set_callback_urls(live.url, f"{web.url}/callbacks/amis/")

        accounts = seed()
        queued = intake(args.orders)
        worker = services.CeleryWorker(env, concurrency=args.concurrency, name="amis", queues="celery")
        stack.callback(worker.stop)
        worker.spawn()
        worker.wait_ready()
        load_before = os.getloadavg()[0]
        figures = measure(sim, calls, queued, args)
        figures["code"] = code_version()
        figures["load"] = [round(load_before, 2), round(os.getloadavg()[0], 2), os.cpu_count()]
        figures["worker_tasks"] = task_stats(worker.output())
        if args.probe:
            worker.stop()
            figures["probe"] = probe(sim, calls, accounts["demo-hanoi"], args)
        if os.environ.get("BENCH_DEBUG"):
            log(worker.output()[-4000:])
            log(Path(web.log_path).read_text()[-2000:])
        return figures


def _set_callback_urls(sandbox_url: str, callback_url: str) -> None:
    import requests

    for code, _default in COMPANIES:
        answer = requests.post(
            f"{sandbox_url}/amis/_sandbox/callback_url",
            json={"company": code, "url": callback_url},
            timeout=5,
        )
        if answer.status_code != 200:
            raise SetupError(f"the simulator refused the callback URL of {code}: {answer.text}")


def seed() -> dict:
    from django.utils import timezone

    from connectors import registry
    from connectors.models import Connection, License, RoutingRule, TargetAccount, Tenant
    from haravan.models import HaravanShop

    tenant = Tenant.objects.create(name="Bench", slug="bench")
    for family, _label in registry.family_choices():
        License.objects.create(tenant=tenant, family=family, expires_at=timezone.now() + dt.timedelta(days=9))
    HaravanShop.objects.create(tenant=tenant, org_id=ORG, secrets={"access_token": "demo-token"})
    conn = Connection.objects.create(
        tenant=tenant, name="Bench → AMIS", source_kind="haravan", source_key=ORG, target_kind="amis"
    )
    accounts = {
        code: TargetAccount.objects.create(
            connection=conn,
            external_id=code,
            is_default=default,
            name=code,
            credentials={"access_code": "demo"},
            settings={"mapping": MAPPING},
        )
        for code, default in COMPANIES
    }
    for priority, dimension, value, code in RULES:
        RoutingRule.objects.create(
            connection=conn, dimension=dimension, value=value, priority=priority, account=accounts[code]
        )
    return accounts


def intake(count: int) -> int:
    from haravan.services import intake_order
    from syncjobs.models import SyncDocument

    started = time.monotonic()
    for i in range(count):
        intake_order(ORG, make_order(i), trigger="bench")
    queued = SyncDocument.objects.filter(state="queued").count()
    log(f"queued {queued} vouchers through the real intake in {time.monotonic() - started:.1f} s")
    if queued != count:
        states = Counter(SyncDocument.objects.values_list("state", flat=True))
        errors = list(SyncDocument.objects.exclude(state="queued").values_list("last_error", flat=True)[:3])
        raise SetupError(f"{count} orders made {queued} queued vouchers: {dict(states)} {errors}")
    return queued


def measure(sim, calls: CallLog, queued: int, args) -> dict:
    from syncjobs.models import InboundEvent, SyncDocument

    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if SyncDocument.objects.filter(state="done").count() >= queued:
            break
        if SyncDocument.objects.filter(state__in=("failed", "blocked")).exists():
            time.sleep(2)  # what is still in flight settles, then the figures say what went wrong
            break
        time.sleep(0.1)
    sim.webhooks.wait_idle(10)
    time.sleep(0.5)  # the last stored callbacks reach their worker

    saves = calls.saves()
    ok_saves = [c for c in saves if not c["error_code"]]
    first_save = min((c["started"] for c in saves), default=time.time())
    last_save = max((c["ended"] for c in saves), default=first_save)
    docs = list(
        SyncDocument.objects.values("source_id", "state", "target_ref", "result", "done_at", "account")
    )
    sent_at = [
        dt.datetime.fromisoformat(d["result"]["sent_at"]).timestamp()
        for d in docs
        if d["result"].get("sent_at")
    ]
    done_at = [d["done_at"].timestamp() for d in docs if d["done_at"]]
    last_sent = max(sent_at, default=first_save)
    posting_seconds = last_sent - first_save
    rate = len(sent_at) / posting_seconds if posting_seconds > 0 else 0.0
    companies = len(COMPANIES)
    ceiling = VOUCHERS_PER_CALL * companies / (args.latency_ms / 1000)

    events = list(
        InboundEvent.objects.filter(source_kind="amis").values(
            "status", "received_at", "processed_at", "deliveries", "topic"
        )
    )
    received = [e["received_at"].timestamp() for e in events]
    processed = [e["processed_at"].timestamp() for e in events if e["processed_at"]]
    stored_span = (max(received) - min(received)) if len(received) > 1 else 0.0
    handled_span = (max(processed) - min(received)) if processed else 0.0
    rejected = sum(1 for e in events if e["status"] == "rejected")

    return {
        "orders": args.orders,
        "queued": queued,
        "sent": len(sent_at),
        "save_calls": len(saves),
        "save_calls_refused": len(saves) - len(ok_saves),
        "mean_batch": round(len(sent_at) / len(ok_saves), 1) if ok_saves else 0,
        "save_call_seconds": round(sum(c["ended"] - c["started"] for c in ok_saves) / len(ok_saves), 3)
        if ok_saves
        else 0,
        "first_to_last_save_s": round(last_save - first_save, 2),
        "posting_seconds": round(posting_seconds, 2),
        "vouchers_per_s": round(rate, 1),
        "ceiling_per_s": round(ceiling, 1),
        "ratio": round(rate / ceiling, 3) if ceiling else 0,
        "per_company": per_company(saves, first_save),
        "callbacks_stored": len(events) - rejected,
        "callbacks_rejected": rejected,
        "callbacks_redelivered": sum(e["deliveries"] - 1 for e in events),
        "callbacks_applied": sum(1 for e in events if e["status"] == "done"),
        "callbacks_pending": sum(1 for e in events if e["status"] == "pending"),
        "callbacks_stored_per_s": round(len(received) / stored_span, 1) if stored_span else 0,
        "callbacks_handled_per_s": round(len(processed) / handled_span, 1) if handled_span else 0,
        "generated_seconds": round(max(done_at) - first_save, 2) if done_at else None,
        "done": len(done_at),
        "states": dict(Counter(d["state"] for d in docs)),
        **check(sim, docs),
    }


def task_stats(output: str) -> dict:
    """From the worker's log: per task name, how many ran, how many did nothing (sync_orders answering 0:
    another process held the company, or nothing was due), and the worker seconds they took."""
    import re

    stats: dict = defaultdict(lambda: {"tasks": 0, "seconds": 0.0, "idle": 0, "idle_seconds": 0.0})
    for name, seconds, result in re.findall(r"Task (\S+)\[[^\]]+\] succeeded in ([\d.]+)s: (.*)", output):
        row = stats[name]
        row["tasks"] += 1
        row["seconds"] += float(seconds)
        if result.strip() in ("0", "[None]", "None"):
            row["idle"] += 1
            row["idle_seconds"] += float(seconds)
    return {
        k: {**v, "seconds": round(v["seconds"], 1), "idle_seconds": round(v["idle_seconds"], 1)}
        for k, v in stats.items()
    }


def per_company(saves: list[dict], first: float) -> dict:
    """Per company: save calls, the time AMIS took per call, and the gaps between calls (our own time)."""
    out = {}
    by_company = defaultdict(list)
    for call in saves:
        by_company[call["company"]].append(call)
    for company, rows in sorted(by_company.items(), key=lambda kv: str(kv[0])):
        rows.sort(key=lambda r: r["started"])
        gaps = [b["started"] - a["ended"] for a, b in itertools.pairwise(rows)]
        out[str(company)] = {
            "calls": len(rows),
            "first_call_at_s": round(rows[0]["started"] - first, 3),
            "last_answer_at_s": round(rows[-1]["ended"] - first, 3),
            "amis_s_per_call": round(sum(r["ended"] - r["started"] for r in rows) / len(rows), 3),
            "gap_ms_mean": round(1000 * sum(gaps) / len(gaps), 1) if gaps else 0,
            "gap_ms_max": round(1000 * max(gaps), 1) if gaps else 0,
        }
    return out


def check(sim, docs: list[dict]) -> dict:
    """Duplicates and losses, from the simulator's side (what AMIS holds) and ours."""
    with sim.lock:
        proposals = [p for company in sim.companies.values() for p in company.proposals.values()]
        rows = [
            (
                p.company,
                p.org_refid.casefold(),
                p.voucher_type,
                p.status,
                p.versions,
                p.voucher.get("org_refno"),
            )
            for p in proposals
        ]
    resaved = sum(versions - 1 for *_, versions, _refno in rows if versions > 1)
    per_order = Counter(refno for _c, _r, voucher_type, *_rest, refno in rows if voucher_type == 13)
    second_sale = sum(n - 1 for n in per_order.values() if n > 1)
    generated = {(c.casefold(), r) for c, r, t, status, _v, _n in rows if t == 13 and status == "generated"}
    expected = {}
    from connectors.models import TargetAccount

    code_of = dict(TargetAccount.objects.values_list("pk", "external_id"))
    lost = 0
    for doc in docs:
        ok = (
            doc["state"] == "done"
            and (code_of[doc["account"]].casefold(), doc["target_ref"].casefold()) in generated
        )
        lost += not ok
        expected[doc["source_id"]] = code_of[doc["account"]]
    wrong_company = sum(
        1
        for doc in docs
        if expected[doc["source_id"]] != company_of(make_order(int(doc["source_id"]) - 7_000_000))
    )
    return {
        "duplicates": resaved + second_sale,
        "resaved_proposals": resaved,
        "second_sales_vouchers": second_sale,
        "lost": lost,
        "wrong_company": wrong_company,
    }


# --- the probe: where one company's posting time goes ------------------------------------------------------


class SqlMeter:
    """Counts the SQL statements this process runs and the time they take (django's execute_wrapper: no
    cap on how many, unlike connection.queries)."""

    def __init__(self):
        self.count = 0
        self.seconds = 0.0
        self.kinds: Counter = Counter()

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - started
            self.count += 1
            self.kinds[sql.split(None, 1)[0].upper()] += 1

    @contextlib.contextmanager
    def installed(self):
        from django.db import connection

        with connection.execute_wrapper(self):
            yield self


class Timed:
    """Wraps module functions (or methods) for the probe: total seconds and calls per name. Measuring only:
    what runs is the product's own code."""

    def __init__(self, sql: SqlMeter | None = None):
        self.seconds: Counter = Counter()
        self.sql_seconds: Counter = Counter()
        self.sql_count: Counter = Counter()
        self.calls: Counter = Counter()
        self.sql = sql
        self._undo: list = []

    def wrap(self, owner, name: str, label: str | None = None) -> None:
        original = getattr(owner, name)
        label = label or name

        def timed(*args, **kwargs):
            started = time.perf_counter()
            sql = (self.sql.seconds, self.sql.count) if self.sql is not None else (0.0, 0)
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - started
                self.calls[label] += 1
                if self.sql is not None:
                    self.sql_seconds[label] += self.sql.seconds - sql[0]
                    self.sql_count[label] += self.sql.count - sql[1]

        setattr(owner, name, timed)
        self._undo.append((owner, name, original))

    def restore(self) -> None:
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)
        self._undo.clear()

    def ms(self, per: int) -> dict:
        """label → [ms, of which in SQL, SQL statements], per batch or event."""
        per = max(1, per)
        return {
            k: [
                round(1000 * v / per, 1),
                round(1000 * self.sql_seconds[k] / per, 1),
                round(self.sql_count[k] / per, 1),
            ]
            for k, v in self.seconds.items()
            if k != "wrapped"
        }


def probe(sim, calls: CallLog, account, args) -> dict:
    """One company's posting pass, in this process, on a fresh backlog of that company's orders: the SQL
    statements per batch, our own time per batch apart from AMIS's answer, and where it goes (taking the
    next batch, the save call, recording the batch as sent, the timeline rows)."""
    from haravan.services import intake_order
    from syncjobs.models import SyncDocument

    count = 300
    since = time.time()
    for i in range(99_999, 99_999 + 3 * count, 3):  # multiples of 3: route 0, demo-hanoi
        intake_order(ORG, make_order(i), trigger="bench-probe")
    backlog = SyncDocument.objects.filter(account=account, state="queued").count()
    passed = _probe_pass(calls, account, backlog, args)
    return {
        "passes": {"as is": passed},
        "callbacks": probe_callbacks(sim, passed["backlog"] + passed["save_calls"], since, args),
    }


def _probe_pass(calls: CallLog, account, backlog: int, args) -> dict:
    import cProfile
    import io
    import pstats

    from amis import client as amis_client
    from amis import posting, sending

    meter = SqlMeter()
    timed = Timed(meter)
    timed.wrap(sending, "_next_batch", "next_batch")
    timed.wrap(amis_client.AmisClient, "save", "save_call")
    timed.wrap(sending, "_record_sent", "record_sent")
    timed.wrap(sending, "_still_processing", "lock_still_processing")
    timed.wrap(sending.SyncAttempt.objects, "bulk_create", "record_sent.bulk_create")
    timed.wrap(posting, "_row", "record_sent.timeline_rows")
    before = len(calls.saves())
    profiler = cProfile.Profile() if args.profile else None
    started = time.time()
    try:
        with meter.installed():
            if profiler is not None:
                profiler.enable()
            sent = sending.sync_orders(account.pk)
            if profiler is not None:
                profiler.disable()
    finally:
        timed.restore()
    elapsed = time.time() - started
    saves = calls.saves()[before:]
    batches = max(1, len(saves))
    amis = sum(c["ended"] - c["started"] for c in saves)
    out = {
        "backlog": backlog,
        "sent": sent,
        "save_calls": len(saves),
        "seconds": round(elapsed, 3),
        "amis_seconds": round(amis, 3),
        "own_ms_per_batch": round(1000 * (elapsed - amis) / batches, 1),
        "phases_ms_per_batch": timed.ms(batches),
        "queries_per_batch": round(meter.count / batches, 1),
        "sql_ms_per_batch": round(1000 * meter.seconds / batches, 1),
        "queries_by_kind": dict(meter.kinds),
    }
    if profiler is not None:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(40)
        out["profile"] = text.getvalue()
    return out


def probe_callbacks(sim, expected: int, since: float, args) -> dict:
    """The probe's callbacks (the save result and one per generated voucher), stored by gunicorn and left
    pending (no worker runs), then applied here one by one as a worker would: time and SQL per callback."""
    import cProfile
    import io
    import pstats

    from amis import callbacks, posting
    from syncjobs.models import InboundEvent

    def pending():
        return list(
            InboundEvent.objects.filter(
                source_kind="amis",
                status="pending",
                received_at__gte=dt.datetime.fromtimestamp(since, tz=dt.UTC),
            )
            .order_by("pk")
            .values_list("pk", "topic")
        )

    deadline = time.monotonic() + 120
    while len(pending()) < expected and time.monotonic() < deadline:
        time.sleep(0.2)
    events = sorted(pending(), key=lambda e: (e[1] != "amis/1", e[0]))  # save results first, as they came
    profiler = cProfile.Profile() if args.profile else None
    timings: dict[str, list[float]] = defaultdict(list)
    queries: dict[str, int] = Counter()
    meter = SqlMeter()
    timed = Timed(meter)
    with meter.installed():
        for pk, topic in events:
            if topic == "amis/18" and not timed.calls:  # the phases of applying a "generated" result
                timed.wrap(callbacks, "_accounts", "find_company")
                timed.wrap(callbacks, "apply", "apply")
                timed.wrap(posting, "_generated", "apply.generated")
                timed.wrap(posting, "evaluate", "apply.generated.evaluate_again")
                timed.wrap(posting, "_log", "apply.generated.timeline_row")
                timed.calls["wrapped"] = 1
            before = meter.count
            started = time.perf_counter()
            if profiler is not None and topic == "amis/18":
                profiler.enable()
            try:
                callbacks.process_event(pk)
            finally:
                if profiler is not None:
                    profiler.disable()
            timings[topic].append(time.perf_counter() - started)
            queries[topic] += meter.count - before
    timed.restore()
    out = {
        topic: {
            "events": len(values),
            "ms_per_event": round(1000 * sum(values) / len(values), 1),
            "queries_per_event": round(queries[topic] / len(values), 1),
        }
        for topic, values in timings.items()
    }
    if "amis/18" in out:
        out["amis/18"]["phases_ms_per_event"] = timed.ms(len(timings["amis/18"]))
    if profiler is not None:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(40)
        out["profile"] = text.getvalue()
    return out


# --- the report -------------------------------------------------------------------------------------------


def report(figures: dict, args) -> None:
    if args.json:
        print(json.dumps(figures))
        return
    f = figures
    print(f"code                  {f['code']}")
    print(
        f"machine               {f['load'][2]} cores; load average {f['load'][0]} when the worker started, "
        f"{f['load'][1]} at the end (this process, gunicorn, the worker and PostgreSQL share them)"
    )
    print(
        f"orders                {f['orders']} "
        f"(queued {f['queued']} sales vouchers over {len(COMPANIES)} companies)"
    )
    print(
        f"sent                  {f['sent']} in {f['save_calls']} save calls "
        f"({f['save_calls_refused']} refused; "
        f"mean batch {f['mean_batch']}, AMIS {f['save_call_seconds']} s per call)"
    )
    print(
        f"time                  {f['posting_seconds']} s from the first save call "
        "to the last voucher recorded as sent"
    )
    print(f"throughput            {f['vouchers_per_s']} vouchers/s")
    print(
        f"ceiling               {f['ceiling_per_s']} vouchers/s "
        f"({VOUCHERS_PER_CALL} per call × {len(COMPANIES)} "
        f"companies ÷ {args.latency_ms} ms per call, sequential per company)"
    )
    print(f"ratio                 {f['ratio'] * 100:.1f} % of the ceiling (goal ≥ 90 %)")
    for company, c in f["per_company"].items():
        print(
            f"  {company:<12}        {c['calls']} calls, first at {c['first_call_at_s']} s, last answered at "
            f"{c['last_answer_at_s']} s; gap between calls {c['gap_ms_mean']} ms mean, "
            f"{c['gap_ms_max']} ms max"
        )
    print(
        f"callbacks             {f['callbacks_stored']} stored ({f['callbacks_redelivered']} redelivered, "
        f"{f['callbacks_rejected']} rejected), {f['callbacks_applied']} applied, "
        f"{f['callbacks_pending']} pending"
    )
    print(
        f"callbacks/s           {f['callbacks_stored_per_s']} stored/s, "
        f"{f['callbacks_handled_per_s']} handled/s "
        "(stored and applied)"
    )
    print(
        f"all generated         {f['generated_seconds']} s after the first save call "
        f"({f['done']} done; generated {args.generate_after} s after each save)"
    )
    print(f"states                {f['states']}")
    for name, t in sorted(f["worker_tasks"].items()):
        print(
            f"worker tasks          {name}: {t['tasks']} in {t['seconds']} worker-s "
            f"({t['idle']} did nothing, {t['idle_seconds']} worker-s)"
        )
    print(
        f"duplicates            {f['duplicates']} (goal 0: {f['resaved_proposals']} proposals saved again, "
        f"{f['second_sales_vouchers']} second sales vouchers)"
    )
    print(f"lost                  {f['lost']} (goal 0; {f['wrong_company']} on the wrong company)")
    if "probe" in f:
        for label, p in f["probe"]["passes"].items():
            print(
                f"probe ({label}) one company, {p['backlog']} queued, in this process: {p['sent']} sent in "
                f"{p['save_calls']} calls, {p['seconds']} s ({p['amis_seconds']} s waiting for AMIS); "
                f"our own time {p['own_ms_per_batch']} ms per batch, "
                f"{p['queries_per_batch']} SQL statements per batch "
                f"({p['sql_ms_per_batch']} ms in the database) {p['queries_by_kind']}"
            )
            print(f"    per batch by phase [ms, ms in SQL, SQL statements]: {p['phases_ms_per_batch']}")
            if "profile" in p:
                print(p["profile"])
        for topic, c in f["probe"]["callbacks"].items():
            if topic != "profile":
                print(
                    f"probe callbacks {topic}: {c['events']} applied in this process, {c['ms_per_event']} ms "
                    f"and {c['queries_per_event']} SQL statements each"
                )
                if "phases_ms_per_event" in c:
                    print(
                        f"    per event by phase [ms, ms in SQL, SQL statements]: {c['phases_ms_per_event']}"
                    )
        if "profile" in f["probe"]["callbacks"]:
            print(f["probe"]["callbacks"]["profile"])


def main(argv=None) -> int:
    args = parse_args(argv)
    figures, code = run_to_exit_code(run, args, (SetupError, services.ServiceUnavailable))
    if figures is not None:
        report(figures, args)
    return code


if __name__ == "__main__":
    sys.exit(main())
