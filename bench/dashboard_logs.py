"""The logs page over a million documents: is every page answered in p95 < 200 ms?

What is measured
    The product's real views (/logs/ and friends) through Django's test client, in this process: the whole
    request cycle (every middleware, the session, the tenant, the failure banner's count, the template),
    over a throwaway PostgreSQL holding 1,000,000 SyncDocument rows. No HTTP server: what a page costs the
    application and the database, not the network.

    Scenarios (signed in as an accountant of tenant A):
      first page       GET /logs/                                   the newest 50 of tenant A's documents
      deep, filtered   GET /logs/?state=failed&account=<MST A>&after=<cursor>, the cursor reached by
                       following 50 "Older" links first (page 51 of the filter)
      deep, all        GET /logs/?after=<cursor> after 50 "Older" links (page 51, no filter)
      order search     GET /logs/?order=<number>, a different existing order number each time, half of
                       them typed with '#', half without
      two states       GET /logs/?state=failed&state=blocked (two partitions per connection, merged)
      bulk retry list  GET /retry/ (failed documents, with "N documents match")
      rare filters     an account + a rare kind (MST B's cancellations), a kind family (every refund:<id>)
      empty filters    an account without any document, a kind never used: the filters that would read a
                       whole connection without the right index
    Per scenario: requests, p50/p95/max in ms, rows on the page, SQL queries per request. Then the CSV
    export of tenant A's failed documents (streamed: rows, seconds, rows/s), and with --explain the plans
    of the list queries of the deep filtered page (EXPLAIN ANALYZE, BUFFERS).

    Goal: p95 < 200 ms for every page scenario. The exit code is 0 whether or not the goal is met (this
    is a measurement) and 2 when the setup fails.

How
    PostgreSQL comes from tests/support/services.py (fsync off); `manage.py migrate` prepares the schema
    (DATABASE_URL pointing at it, as bench/webhook_ingest.py does). Tenants, connections, accounts and the
    user are made with the ORM; the documents with one INSERT … SELECT over generate_series, seeded so
    that every run has the same data:
      tenant A  connection 1: MST A 45 %, MST B 20 %; connection 2: MST C 15 %   (80 % of the rows)
                (plus a fourth account on connection 1 without any document yet)
      tenant B  one connection, one account                                      (20 %)
      states    done 90 %, draft 3 %, failed 2 %, skipped 1.5 %, blocked 1 %, pending 1 %, queued 1 %,
                retrying 0.5 %
      kinds     invoice 95 %, refund:<id> 3 %, cancel 2 %
      updated   spread over the last 90 days, truncated to the second (many rows share a timestamp, as a
                batch publish leaves them), independent of the insertion order
      snapshot  a ~300-byte order snapshot in source_data and a ~250-byte draft in payload per row
    then VACUUM ANALYZE. Each scenario is warmed up (3 requests) before it is measured.

Usage
    .venv/bin/python bench/dashboard_logs.py [--rows 1000000] [--requests 40] [--deep 50] [--explain]
                                             [--json]
"""

import argparse
import contextlib
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psycopg2

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.common import SetupError, code_version, create_database, log, manage, run_to_exit_code  # noqa: E402
from tests.support.services import PostgresServer, ServiceUnavailable  # noqa: E402

DB_NAME = "ledgerlink_bench_logs"
GOAL_P95_MS = 200.0
MST_A, MST_B, MST_C, MST_OTHER = "0101243150", "0312345673", "0101243150-001", "0312345673-002"
MST_NEW = "0101243150-002"  # an account added last week: no document yet


# --- Setup: PostgreSQL, schema, Django in this process ----------------------------------------------------


def prepare(pg: PostgresServer, var_dir: str) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": pg.url(DB_NAME),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "CELERY_BROKER_URL": "memory://",
        "DB_CONN_MAX_AGE": "600",
        "LOG_LEVEL": "WARNING",
        "VAR_DIR": var_dir,
    }
    create_database(pg.url("postgres"), DB_NAME)
    log("migrating")
    manage(env, "migrate", "--noinput")
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "CELERY_BROKER_URL",
                                           "DB_CONN_MAX_AGE", "LOG_LEVEL", "VAR_DIR")})  # fmt: skip
    import django

    django.setup()


def seed(rows: int) -> dict:
    """Two tenants (A: two connections, three accounts), an accountant of A, and `rows` documents."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from connectors.models import Connection, Membership, TargetAccount, Tenant

    def tenant_with(name, slug, shops):
        tenant = Tenant.objects.create(name=name, slug=slug)
        accounts = []
        for org, msts in shops:
            conn = Connection.objects.create(
                tenant=tenant,
                name=f"Shop {org}",
                source_kind="haravan",
                source_key=org,
                target_kind="meinvoice",
            )
            for i, mst in enumerate(msts):
                accounts.append(
                    TargetAccount.objects.create(
                        connection=conn, external_id=mst, name=mst, is_default=i == 0
                    )
                )
        return tenant, accounts

    tenant_a, (acc_a, acc_b, acc_new, acc_c) = tenant_with(
        "A", "a", [("300000001", [MST_A, MST_B, MST_NEW]), ("300000002", [MST_C])]
    )
    _tenant_b, (acc_other,) = tenant_with("B", "b", [("300000003", [MST_OTHER])])
    user = get_user_model().objects.create_user(username="ke.toan@example.com", password="x")  # noqa: S106
    Membership.objects.create(user=user, tenant=tenant_a, role=Membership.Role.ACCOUNTANT)

    log(f"inserting {rows:,} documents")
    started = time.monotonic()
    picks = {
        "a": (acc_a.connection_id, acc_a.pk),
        "b": (acc_b.connection_id, acc_b.pk),
        "c": (acc_c.connection_id, acc_c.pk),
        "o": (acc_other.connection_id, acc_other.pk),
    }
    sql = """
        INSERT INTO syncjobs_syncdocument (
            connection_id, account_id, source_type, source_id, source_label, kind, state, source_data,
            source_updated_at, route_explanation, payload, result, attempts, last_error, next_retry_at,
            created_at, updated_at)
        SELECT
            CASE WHEN r1 < .45 THEN %(ca)s WHEN r1 < .65 THEN %(cb)s
                 WHEN r1 < .80 THEN %(cc)s ELSE %(co)s END,
            CASE WHEN r1 < .45 THEN %(aa)s WHEN r1 < .65 THEN %(ab)s
                 WHEN r1 < .80 THEN %(ac)s ELSE %(ao)s END,
            'order', (1300000000 + g)::text, '#' || (100000 + g)::text,
            CASE WHEN r3 < .03 THEN 'refund:' || g WHEN r3 < .05 THEN 'cancel' ELSE 'invoice' END,
            CASE WHEN r2 < .90 THEN 'done' WHEN r2 < .92 THEN 'failed' WHEN r2 < .93 THEN 'blocked'
                 WHEN r2 < .96 THEN 'draft' WHEN r2 < .97 THEN 'pending' WHEN r2 < .98 THEN 'queued'
                 WHEN r2 < .985 THEN 'retrying' ELSE 'skipped' END,
            jsonb_build_object('id', 1300000000 + g, 'name', '#' || (100000 + g), 'financial_status', 'paid',
                'total_price', 100000 + (g %% 900) * 1000, 'currency', 'VND', 'source_name', 'web',
                'location_id', 1001 + g %% 3, 'customer', jsonb_build_object('email', 'khach' || g ||
                '@example.com', 'phone', '09' || lpad((g %% 100000000)::text, 8, '0')),
                'note', 'Giao hàng giờ hành chính, gọi trước khi giao'),
            upd, 'Location ' || (1001 + g %% 3) || ' → default account',
            jsonb_build_object('RefID', md5(g::text), 'InvSeries', '1C26TAA', 'BuyerLegalName', 'Khách lẻ',
                'TotalAmount', 100000 + (g %% 900) * 1000, 'OriginalInvoiceDetail', jsonb_build_array(
                jsonb_build_object('ItemName', 'Áo thun', 'Quantity', 1, 'UnitPrice', 100000))),
            jsonb_build_object('ref_id', md5(g::text), 'series', '1C26TAA'),
            CASE WHEN r2 >= .90 AND r2 < .93 THEN 8 WHEN r2 < .90 THEN 1 ELSE 0 END,
            CASE WHEN r2 >= .90 AND r2 < .92
                     THEN 'meInvoice did not answer in 30 s (HTTP 504); tried 8 times.'
                 WHEN r2 >= .92 AND r2 < .93
                     THEN 'No invoice issued: the buyer''s tax code 010124315 is invalid.'
                 ELSE '' END,
            NULL, upd - interval '5 minutes', upd
        FROM (
            SELECT g, random() AS r1, random() AS r2, random() AS r3,
                   date_trunc('second', now() - random() * interval '90 days') AS upd
            FROM generate_series(1, %(rows)s) AS g
        ) AS s
    """
    params = {"rows": rows}
    for key, (conn_id, acc_id) in picks.items():
        params[f"c{key}"], params[f"a{key}"] = conn_id, acc_id
    with connection.cursor() as cur:
        cur.execute("SELECT setseed(0.42)")
        cur.execute(sql, params)
    inserted = time.monotonic() - started
    log(f"inserted in {inserted:.0f} s; VACUUM ANALYZE")
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE syncjobs_syncdocument")
        cur.execute("VACUUM ANALYZE connectors_connection")
        cur.execute("VACUUM ANALYZE connectors_targetaccount")
        cur.execute("SELECT pg_size_pretty(pg_total_relation_size('syncjobs_syncdocument'))")
        size = cur.fetchone()[0]
        cur.execute("SELECT state, count(*) FROM syncjobs_syncdocument GROUP BY state ORDER BY 2 DESC")
        states = dict(cur.fetchall())
    return {
        "user": user,
        "tenant": tenant_a,
        "acc_a": acc_a,
        "acc_b": acc_b,
        "acc_new": acc_new,
        "insert_seconds": round(inserted, 1),
        "table_size": size,
        "states": states,
    }


# --- Measuring --------------------------------------------------------------------------------------------


def percentile(values, q):
    ordered = sorted(values)
    if not ordered:
        return 0.0
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


NEXT_LINK = re.compile(r'rel="next" href="[^"]*(?:\?|;)after=([^"&]+)')


def rows_on(html: str) -> int:
    return html.count('<td><a href="/documents/')


def next_cursor(html: str) -> str | None:
    found = NEXT_LINK.search(html)
    return found[1] if found else None


class Timer:
    """Requests through the test client; answers are read as a browser would (no template instrumentation)."""

    def __init__(self, client):
        self.client = client

    def get(self, url, params=None) -> tuple[float, str]:
        started = time.perf_counter()
        resp = self.client.get(url, params or {})
        body = resp.content.decode()
        ms = (time.perf_counter() - started) * 1000
        if resp.status_code != 200:
            raise SetupError(f"GET {url} {params} answered {resp.status_code}")
        return ms, body

    def queries(self, url, params=None) -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            self.client.get(url, params or {})
        return len(captured)


def scenario(timer, name, requests, warmup=3) -> dict:
    """Each (url, params) of `requests` is measured once, after `warmup` unmeasured ones."""
    plan = list(requests)
    for url, params in plan[:warmup]:
        timer.get(url, params)
    times, rows = [], []
    for url, params in plan[warmup:]:
        ms, body = timer.get(url, params)
        times.append(ms)
        rows.append(rows_on(body))
    return {
        "scenario": name,
        "requests": len(times),
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(percentile(times, 0.95), 1),
        "max_ms": round(max(times), 1),
        "rows_per_page": f"{min(rows)}-{max(rows)}" if min(rows) != max(rows) else str(rows[0]),
        "queries": timer.queries(*plan[-1]),
    }


def follow(timer, params, pages) -> tuple[str, list[float]]:
    """Follow `pages` 'Older' links from the first page; the cursor reached and each step's time."""
    cursor, steps = None, []
    for _ in range(pages):
        ms, body = timer.get("/logs/", {**params, **({"after": cursor} if cursor else {})})
        steps.append(ms)
        cursor = next_cursor(body)
        if not cursor:
            raise SetupError(f"ran out of pages following {params}")
    return cursor, steps


def measure(setup: dict, args) -> dict:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from syncjobs.models import SyncDocument

    client = Client()
    client.force_login(setup["user"])
    timer = Timer(client)
    n = args.requests + 3
    acc_a = setup["acc_a"].pk
    results = []

    log("first page")
    results.append(scenario(timer, "first page", [("/logs/", {})] * n))

    log(f"following {args.deep} 'Older' links, filtered (state=failed, MST A)")
    filtered = {"state": "failed", "account": acc_a}
    deep_cursor, walk_filtered = follow(timer, filtered, args.deep)
    results.append(
        scenario(
            timer,
            f"deep, filtered (page {args.deep + 1})",
            [("/logs/", {**filtered, "after": deep_cursor})] * n,
        )
    )
    log(f"following {args.deep} 'Older' links, no filter")
    all_cursor, walk_all = follow(timer, {}, args.deep)
    results.append(
        scenario(timer, f"deep, all (page {args.deep + 1})", [("/logs/", {"after": all_cursor})] * n)
    )

    log("order-number search")
    labels = list(
        SyncDocument.objects.for_tenant(setup["tenant"])
        .order_by("?")
        .values_list("source_label", flat=True)[:n]
    )
    typed = [(label if i % 2 else label.lstrip("#")) for i, label in enumerate(labels)]
    results.append(scenario(timer, "order search", [("/logs/", {"order": t}) for t in typed]))

    log("two states, merged")
    results.append(
        scenario(timer, "two states (failed+blocked)", [("/logs/", {"state": ["failed", "blocked"]})] * n)
    )
    log("bulk retry list")
    results.append(scenario(timer, "bulk retry list (/retry/)", [("/retry/", {})] * n))
    log("rare and empty filters")
    acc_b, acc_new = setup["acc_b"].pk, setup["acc_new"].pk
    results.append(
        scenario(timer, "rare: MST B + cancel", [("/logs/", {"account": acc_b, "kind": "cancel"})] * n)
    )
    results.append(scenario(timer, "rare: refund adjustments", [("/logs/", {"kind": "refund"})] * n))
    results.append(scenario(timer, "empty: MST without documents", [("/logs/", {"account": acc_new})] * n))
    results.append(scenario(timer, "empty: kind never used", [("/logs/", {"kind": "replace"})] * n))

    log("CSV export of tenant A's failed documents")
    started = time.perf_counter()
    resp = client.get("/logs/export.csv", {"state": "failed"})
    lines = sum(chunk.count(b"\n") for chunk in resp.streaming_content) - 1
    export_s = time.perf_counter() - started

    plans = []
    if args.explain:
        pages = [
            {**filtered, "after": deep_cursor},
            {"order": labels[0]},
            {"account": acc_b, "kind": "cancel"},
            {"kind": "replace"},
        ]
        for params in pages:
            with CaptureQueriesContext(connection) as captured:
                client.get("/logs/", params)
            listing = [
                q["sql"]
                for q in captured.captured_queries
                if 'FROM "syncjobs_syncdocument"' in q["sql"] and "COUNT(" not in q["sql"]
            ]
            with connection.cursor() as cur:
                for sql in listing:
                    cur.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql)
                    plans.append({"sql": sql, "plan": "\n".join(row[0] for row in cur.fetchall())})

    return {
        "scenarios": results,
        "walks_ms": {
            "filtered": {
                "p50": round(statistics.median(walk_filtered), 1),
                "max": round(max(walk_filtered), 1),
            },
            "all": {"p50": round(statistics.median(walk_all), 1), "max": round(max(walk_all), 1)},
        },
        "export": {"rows": lines, "seconds": round(export_s, 2), "rows_per_s": round(lines / export_s)},
        "plans": plans,
    }


# --- Report -----------------------------------------------------------------------------------------------


def report(figures: dict) -> str:
    setup = figures["setup"]
    lines = [
        f"code: {setup['code']}",
        f"Logs over {setup['rows']:,} documents ({setup['table_size']} with indexes; inserted in "
        f"{setup['insert_seconds']} s); states {', '.join(f'{k} {v:,}' for k, v in setup['states'].items())}",
        "Django test client in-process, signed in as an accountant of tenant A (80 % of the rows, "
        "2 connections, 3 accounts with documents and 1 without); each scenario warmed up with 3 requests",
        "",
        f"{'scenario':<30} {'requests':>8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'rows':>6} "
        f"{'queries':>8}",
    ]
    for s in figures["scenarios"]:
        lines.append(
            f"{s['scenario']:<30} {s['requests']:>8} {s['p50_ms']:>8.1f} {s['p95_ms']:>8.1f} "
            f"{s['max_ms']:>8.1f} {s['rows_per_page']:>6} {s['queries']:>8}"
        )
    walks, export = figures["walks_ms"], figures["export"]
    lines += [
        "",
        f"walking {setup['deep']} pages: filtered p50 {walks['filtered']['p50']} ms "
        f"(max {walks['filtered']['max']}), unfiltered p50 {walks['all']['p50']} ms "
        f"(max {walks['all']['max']})",
        f"CSV export, state=failed: {export['rows']:,} rows streamed in {export['seconds']} s "
        f"({export['rows_per_s']:,} rows/s)",
    ]
    for plan in figures["plans"]:
        lines += ["", "EXPLAIN " + plan["sql"][:300] + ("…" if len(plan["sql"]) > 300 else ""), plan["plan"]]
    worst = max(figures["scenarios"], key=lambda s: s["p95_ms"])
    ok = all(s["p95_ms"] < GOAL_P95_MS for s in figures["scenarios"])
    lines.append(
        f"VERDICT: worst p95 {worst['p95_ms']:.1f} ms ({worst['scenario']}), goal p95 < {GOAL_P95_MS:.0f} ms "
        f"on every page: {'MET' if ok else 'MISSED'}"
    )
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--rows", type=int, default=1_000_000, help="documents to create (default 1,000,000)")
    add("--requests", type=int, default=40, help="measured requests per scenario (default 40)")
    add("--deep", type=int, default=50, help="'Older' links followed for the deep pages (default 50)")
    add("--explain", action="store_true", help="print the plans of the deep filtered page's list queries")
    add("--json", action="store_true", help="print the figures as JSON")
    return parser.parse_args(argv)


def run(args) -> dict:
    with contextlib.ExitStack() as stack:
        var_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="ledgerlink-bench-"))
        log("starting PostgreSQL")
        pg = PostgresServer()
        stack.callback(pg.stop)
        pg.start()
        prepare(pg, var_dir)
        setup = seed(args.rows)
        figures = measure(setup, args)
        from django.db import connections

        connections.close_all()
        log("stopping PostgreSQL")
    figures["setup"] = {
        "code": code_version(),
        "rows": args.rows,
        "deep": args.deep,
        **{k: setup[k] for k in ("insert_seconds", "table_size", "states")},
    }
    figures["goal_met"] = all(s["p95_ms"] < GOAL_P95_MS for s in figures["scenarios"])
    return figures


def main(argv=None) -> int:
    args = parse_args(argv)
    figures, exit_code = run_to_exit_code(
        run, args, (ServiceUnavailable, SetupError, psycopg2.Error, OSError, RuntimeError)
    )
    if figures is not None:
        print(json.dumps(figures, indent=2, default=str) if args.json else report(figures))
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
