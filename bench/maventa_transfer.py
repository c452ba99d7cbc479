"""Severa → Maventa transfer throughput: how close does it come to the ceiling Severa's 10 requests/s set?

What is measured
    2,000 invoices are moved to "to transfer" in the Severa simulator (served over HTTP, its limit of 10
    requests a second per organisation on, no other fault) in a customer mix of every route and VAT case
    (--mix; by default PEPPOL with two rates ×2, Finnish OVT, e-mail only, print, reverse charge). Then real
    Celery worker processes and beat run the real pipeline: the poll reads them (list pages, each invoice's
    rows, settings, customer and country settings), each becomes a PEPPOL BIS 3 UBL document, is validated,
    sent to the Maventa simulator (each company's account, the original PDF attached) and its Severa status
    is set to "after transfer". Every Severa request the product makes shares the organisation's pace of
    10 a second, so Severa's limit is the ceiling:

    requests per invoice = Severa requests the simulator admitted ÷ invoices (from the simulator's own
                           request log: token, list pages, rows, settings, customers, PDFs, status writes)
    ceiling              = 10 requests/s ÷ requests per invoice
    measured             = invoices ÷ (the run's first Severa request → the last status write-back), both
                           from the simulator's log
    ratio                = measured ÷ ceiling — which is also (admitted requests ÷ the window) ÷ 10: the
                           share of Severa's budget used; the rest is time no request was admitted, and
                           "idle" below says where it went (gaps between admitted requests longer than the
                           0.1 s pacing, by the requests on each side, and 429s)

    Also printed: Severa requests by endpoint per invoice, 429s, validation time per invoice (median and
    p95: maventa.validate.validate on the UBL the product built and stored, re-run in this process on a
    sample, after a warm-up), the Maventa sends, duplicates (a second Maventa invoice for one Severa
    invoice) and lost (an invoice without its one Maventa invoice under the document's uuid, not in "after
    transfer" in Severa, or whose document is not DONE or SENT). Goal: ≥ 90 % of the ceiling, zero
    duplicates, zero lost. Exit code 0 whether or not a goal is met (a measurement), 2 when the setup fails,
    130 when interrupted.

How
    PostgreSQL and Redis from tests/support/services.py; both simulators served over HTTP in this process
    (sandbox.testing.LiveSandbox, call logs long enough to hold the whole run); one Celery worker
    (``celery -A config worker --concurrency 4``) and beat (DatabaseScheduler) as docker-compose starts
    them, with the same environment. The Demokonsult connection is seeded as the screens leave it
    (tests/support/severa_maventa.py: both accounts verified, statuses chosen, switched on). The invoices are
    in "to transfer" before the worker starts (a backlog, as after an outage or a month-end run).

Usage
    .venv/bin/python bench/maventa_transfer.py [--invoices 2000] [--mix peppol=2,ovt=1,email=1,print=1,
        reverse_charge=1] [--concurrency 4] [--poll-seconds 5] [--retry-seconds 30] [--validation-sample 200]
        [--no-pdf] [--json]
"""

import argparse
import contextlib
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.common import SetupError, code_version, create_database, log, manage, run_to_exit_code  # noqa: E402
from tests.support import services  # noqa: E402
from tests.support import severa_maventa as sm  # noqa: E402

DATABASE = "ledgerlink_maventa_transfer"
SEVERA_PER_SECOND = 10  # maventa-severa.md §3: 10 requests a second per organisation
PACE = 1 / SEVERA_PER_SECOND
DEFAULT_MIX = "peppol=2,ovt=1,email=1,print=1,reverse_charge=1"
WAIT_SECONDS = 3600
STALL_SECONDS = 180
SETTLED_OTHERWISE = ("failed", "blocked", "skipped")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invoices", type=int, default=2000)
    parser.add_argument("--mix", default=DEFAULT_MIX, help="template=weight,… (sandbox.severa.data)")
    parser.add_argument("--concurrency", type=int, default=4, help="the Celery worker's processes")
    parser.add_argument("--poll-seconds", type=float, default=5.0, help="SEVERA_POLL_INTERVAL_SECONDS")
    parser.add_argument(
        "--retry-seconds",
        type=float,
        default=30.0,
        help="MAVENTA_RETRY_BASE_SECONDS (production's 30 s; also the retry pass's beat interval)",
    )
    parser.add_argument("--validation-sample", type=int, default=200, help="UBL documents re-validated")
    parser.add_argument("--no-pdf", action="store_true", help="accounts without Severa's PDF attached")
    parser.add_argument("--json", action="store_true")
    return parser.parse_args(argv)


def parse_mix(text: str) -> dict[str, int]:
    mix = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, weight = part.partition("=")
        mix[name.strip()] = int(weight or 1)
    return mix


class Beat:
    """`celery -A config beat` with the database scheduler, in its own session."""

    def __init__(self, env: dict, log_dir: str):
        self.env = env
        self.log_path = os.path.join(log_dir, "beat.log")
        self.proc = None

    def start(self) -> "Beat":
        cmd = [
            sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO",
            "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler",
            "--schedule", os.path.join(os.path.dirname(self.log_path), "beat-schedule"),
        ]  # fmt: skip
        with open(self.log_path, "w") as out:
            self.proc = subprocess.Popen(
                cmd, cwd=REPO, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    def stop(self) -> None:
        import signal

        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


# --- the run ----------------------------------------------------------------------------------------------


def run(args) -> dict:
    import importlib.util

    if importlib.util.find_spec("maventa.posting") is None:
        raise SetupError("the transfer pipeline (maventa.posting) is not in this checkout")
    mix = parse_mix(args.mix)
    with contextlib.ExitStack() as stack:
        pg = services.PostgresServer().start()
        stack.callback(pg.stop)
        redis_server = services.RedisServer().start()
        stack.callback(redis_server.cleanup)
        create_database(pg.url("postgres"), DATABASE)

        from sandbox.server import default_app
        from sandbox.testing import LiveSandbox

        log_size = max(200_000, args.invoices * 40)
        app = default_app(
            seed_orders=False,
            severa_options={"seed_invoices": False, "call_log_size": log_size},
            maventa_options={"call_log_size": log_size},
        )
        live = LiveSandbox(app).start()
        stack.callback(live.stop)
        stack.callback(app.close)
        var_dir = tempfile.mkdtemp(prefix="ledgerlink-bench-maventa-")
        env = {
            **os.environ,
            **sm.environment(live.url),
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": pg.url(DATABASE),
            "CELERY_BROKER_URL": redis_server.url,
            "REDIS_URL": redis_server.url,
            "VAR_DIR": var_dir,
            "LOG_LEVEL": "WARNING",
            "DB_CONN_MAX_AGE": "60",
            "SEVERA_POLL_INTERVAL_SECONDS": str(args.poll_seconds),
            "MAVENTA_STATUS_INTERVAL_SECONDS": "5",
            "MAVENTA_RETRY_BASE_SECONDS": str(args.retry_seconds),
        }
        os.environ.update(env)
        manage(env, "migrate", "--noinput", "-v0")
        import django

        django.setup()

        connection = sm.seed(attach_pdf=not args.no_pdf)
        made = time.monotonic()
        guids = sm.generate(live.url, args.invoices, mix) if args.invoices <= 10000 else []
        if len(guids) != args.invoices:
            raise SetupError(f"the Severa simulator made {len(guids)} of {args.invoices} invoices")
        log(f"{len(guids)} invoices in 'to transfer' in {time.monotonic() - made:.1f} s (mix {mix})")

        worker = services.CeleryWorker(env, concurrency=args.concurrency, name="transfer")
        stack.callback(worker.stop)
        worker.spawn()
        worker.wait_ready()
        beat = Beat(env, var_dir).start()
        stack.callback(beat.stop)
        load_before = os.getloadavg()[0]
        figures = measure(live.url, connection, guids, args)
        figures["code"] = code_version()
        figures["mix"] = mix
        figures["load"] = [round(load_before, 2), round(os.getloadavg()[0], 2), os.cpu_count()]
        figures["worker_tasks"] = task_stats(worker.output())
        figures["validation"] = validation_times(connection, args.validation_sample)
        if os.environ.get("BENCH_DEBUG"):
            log(worker.output()[-6000:])
            log(Path(beat.log_path).read_text()[-2000:])
        return figures


def measure(url: str, connection, guids: list[str], args) -> dict:
    from syncjobs.models import SyncDocument

    deadline = time.monotonic() + WAIT_SECONDS
    watched = SyncDocument.objects.filter(connection=connection)
    progress, moved = -1, time.monotonic()
    while time.monotonic() < deadline:
        states = Counter(watched.values_list("state", flat=True))
        through = sum(states[s] for s in sm.FINAL_STATES)
        settled = through + sum(states[s] for s in SETTLED_OTHERWISE)
        if settled >= len(guids) and (through < len(guids) or written_back(url, guids)):
            break  # each one delivered, accepted, or settled otherwise (the figures say which)
        if settled != progress:
            progress, moved = settled, time.monotonic()
        elif time.monotonic() - moved > STALL_SECONDS:
            log(f"no invoice went through for {STALL_SECONDS} s: {dict(states)}")
            break
        time.sleep(1)
    time.sleep(2)  # the last status write-backs of the settled ones land
    book = sm.ledger(url, connection, guids)
    calls = sm.severa_calls(url)
    requests = sm.SeveraRequests.of(calls)
    window = transfer_window(calls)
    seconds = (window[1] - window[0]) if window else 0.0
    count = len(guids)
    per_invoice = requests.per_invoice(count)
    ceiling = SEVERA_PER_SECOND / per_invoice if per_invoice else 0.0
    rate = count / seconds if seconds > 0 else 0.0
    maventa_calls = sm.read(url, "maventa", "calls")["calls"]
    sends = [c for c in maventa_calls if c["method"] == "POST" and c["path"].endswith("/v1/invoices")]
    return {
        "invoices": count,
        "seconds": round(seconds, 2),
        "invoices_per_s": round(rate, 3),
        "severa_requests": requests.admitted,
        "requests_per_invoice": round(per_invoice, 3),
        "requests_by_endpoint_per_invoice": {
            k: round(v / count, 3) for k, v in requests.by_endpoint.most_common()
        },
        "refused_429": requests.refused_429,
        "ceiling_per_s": round(ceiling, 3),
        "ratio": round(rate / ceiling, 3) if ceiling else 0.0,
        "admitted_per_s": round(requests.admitted / seconds, 2) if seconds else 0.0,
        "idle": idle(calls, window),
        "maventa_sends": len(sends),
        "maventa_sends_refused": sum(1 for c in sends if c["status"] >= 400),
        "maventa_invoices": book.maventa_invoices,
        "states": dict(book.states),
        "severa_statuses": dict(book.severa_statuses),
        "duplicates": book.duplicates,
        "lost": len(book.lost),
        "lost_examples": book.lost[:5],
        "failed_examples": failed_examples(connection),
        "uuid_mismatch": len(book.uuid_mismatch),
    }


def task_stats(output: str) -> dict:
    """From the worker's log: per task name, how many ran, how many did nothing (answered 0, None or ""
    — a send_invoice whose document another task had taken, or that was not due), and the worker seconds
    they took."""
    import re

    stats: dict = {}
    for name, seconds, result in re.findall(r"Task (\S+)\[[^\]]+\] succeeded in ([\d.]+)s: (.*)", output):
        row = stats.setdefault(name, {"tasks": 0, "seconds": 0.0, "idle": 0, "idle_seconds": 0.0})
        row["tasks"] += 1
        row["seconds"] += float(seconds)
        if result.strip() in ("0", "None", "[None]", "''", '""'):
            row["idle"] += 1
            row["idle_seconds"] += float(seconds)
    return {
        k: {**v, "seconds": round(v["seconds"], 1), "idle_seconds": round(v["idle_seconds"], 1)}
        for k, v in stats.items()
    }


def failed_examples(connection, limit: int = 5) -> list[str]:
    """The distinct reasons documents failed or were held, with how many each."""
    from syncjobs.models import SyncDocument

    reasons = Counter(
        SyncDocument.objects.filter(connection=connection, state__in=SETTLED_OTHERWISE).values_list(
            "last_error", flat=True
        )
    )
    return [f"{n} × {reason}" for reason, n in reasons.most_common(limit)]


def written_back(url: str, guids: list[str]) -> bool:
    wanted = set(guids)
    invoices = sm.read(url, "severa", "invoices")["invoices"]
    return all(i["status"]["guid"] == sm.AFTER_TRANSFER for i in invoices if i["guid"] in wanted)


def moment(call: dict) -> float:
    return datetime.fromisoformat(call["at"]).timestamp()


def transfer_window(calls: list[dict]) -> tuple[float, float] | None:
    """(the run's first Severa request, the last status write-back), simulator wall-clock seconds."""
    admitted = [c for c in calls if c["status"] != 429]
    writes = [c for c in admitted if c["method"] == "PATCH"]
    if not admitted or not writes:
        return None
    return moment(admitted[0]), moment(writes[-1])


def idle(calls: list[dict], window: tuple[float, float] | None) -> dict:
    """Where Severa's budget went unused within the window: the gaps between admitted requests beyond the
    0.1 s pacing, summed by the pair of requests around them, and the 429s."""
    if window is None:
        return {}
    admitted = [c for c in calls if c["status"] != 429 and window[0] <= moment(c) <= window[1]]
    lost = Counter()
    count = Counter()
    total = 0.0
    for before, after in itertools.pairwise(admitted):
        gap = moment(after) - moment(before) - PACE
        if gap > 0.05:
            pair = f"{sm.endpoint_kind(before)} → {sm.endpoint_kind(after)}"
            lost[pair] += gap
            count[pair] += 1
            total += gap
    span = window[1] - window[0]
    return {
        "unused_s": round(total, 2),
        "unused_share": round(total / span, 3) if span else 0.0,
        "refused_429_in_window": sum(
            1 for c in calls if c["status"] == 429 and window[0] <= moment(c) <= window[1]
        ),
        "largest": [
            {"between": pair, "seconds": round(seconds, 2), "gaps": count[pair]}
            for pair, seconds in lost.most_common(8)
        ],
    }


def validation_times(connection, sample: int) -> dict:
    """maventa.validate.validate on the UBL the product stored, re-run here: ms per invoice, median and
    p95, after one warm-up (the schema and the compiled CEN rules load once per process). The verdict is
    the product's (stored with the payload: it waives the PEPPOL network's rules, such as the buyer's
    electronic address, for invoices going by e-mail or print); the rules the validator failed are shown
    as it reports them."""
    from maventa.validate import validate
    from syncjobs.models import SyncDocument

    docs = list(
        SyncDocument.objects.filter(connection=connection)
        .exclude(payload={})
        .order_by("pk")
        .values_list("payload", flat=True)[: sample + 1]
    )
    docs = [p for p in docs if p.get("ubl")]
    if len(docs) < 2:
        return {"sample": 0}
    validate(docs[0]["ubl"].encode())
    times, invalid, rules = [], 0, Counter()
    for payload in docs[1:]:
        started = time.perf_counter()
        result = validate(payload["ubl"].encode())
        times.append(1000 * (time.perf_counter() - started))
        invalid += not (payload.get("validation") or {}).get("valid", True)  # the product's own verdict
        rules.update(issue.rule for issue in result.errors)  # the validator's, before any waiver
    times.sort()
    return {
        "sample": len(times),
        "median_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[min(len(times) - 1, int(0.95 * len(times)))], 1),
        "max_ms": round(times[-1], 1),
        "invalid": invalid,
        "failed_rules": dict(rules.most_common(5)),
    }


# --- the report -------------------------------------------------------------------------------------------


def report(figures: dict, args) -> None:
    if args.json:
        print(json.dumps(figures))
        return
    f = figures
    print(f"code                  {f['code']}")
    print(
        f"machine               {f['load'][2]} cores; load average {f['load'][0]} when the worker started, "
        f"{f['load'][1]} at the end"
    )
    print(f"invoices              {f['invoices']} (mix {f['mix']}), Severa at {SEVERA_PER_SECOND} requests/s")
    print(
        f"time                  {f['seconds']} s from the first Severa request to the last status write-back"
    )
    print(f"throughput            {f['invoices_per_s']} invoices/s")
    print(
        f"Severa requests       {f['severa_requests']} admitted = {f['requests_per_invoice']} per invoice "
        f"({f['refused_429']} answered 429)"
    )
    for endpoint, per in f["requests_by_endpoint_per_invoice"].items():
        print(f"    {per:>7} per invoice  {endpoint}")
    print(
        f"ceiling               {f['ceiling_per_s']} invoices/s ({SEVERA_PER_SECOND}/s ÷ "
        f"{f['requests_per_invoice']} requests per invoice)"
    )
    print(
        f"ratio                 {f['ratio'] * 100:.1f} % of the ceiling (goal ≥ 90 %); Severa admitted "
        f"{f['admitted_per_s']} requests/s of {SEVERA_PER_SECOND}"
    )
    i = f["idle"]
    if i:
        print(
            f"idle                  {i['unused_s']} s ({i['unused_share'] * 100:.1f} % of the window) "
            f"without an admitted request beyond the pacing; "
            f"{i['refused_429_in_window']} 429s within the window"
        )
        for row in i["largest"]:
            print(f"    {row['seconds']:>8} s in {row['gaps']:>5} gaps  {row['between']}")
    v = f["validation"]
    if v.get("sample"):
        print(
            f"validation            {v['median_ms']} ms median, {v['p95_ms']} ms p95, {v['max_ms']} ms max "
            f"per invoice ({v['sample']} re-validated in this process; {v['invalid']} found invalid by the "
            f"product; rules failed before the product's waivers: {v['failed_rules']})"
        )
    print(
        f"Maventa               {f['maventa_sends']} sends ({f['maventa_sends_refused']} refused), "
        f"{f['maventa_invoices']} invoices held"
    )
    print(f"states                {f['states']}; Severa {f['severa_statuses']}")
    for name, t in sorted(f["worker_tasks"].items()):
        print(
            f"worker tasks          {name}: {t['tasks']} in {t['seconds']} worker-s "
            f"({t['idle']} did nothing, {t['idle_seconds']} worker-s)"
        )
    print(f"duplicates            {f['duplicates']} (goal 0; {f['uuid_mismatch']} under another uuid)")
    print(f"lost                  {f['lost']} (goal 0) {f['lost_examples']}")
    for reason in f["failed_examples"]:
        print(f"    failed or held: {reason}")


def main(argv=None) -> int:
    args = parse_args(argv)
    figures, code = run_to_exit_code(run, args, (SetupError, services.ServiceUnavailable))
    if figures is not None:
        report(figures, args)
    return code


if __name__ == "__main__":
    sys.exit(main())
