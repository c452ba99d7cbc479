"""The embedded default (SQLite, no servers) migrates and seeds the demo, twice without harm."""

import os
import sqlite3
import subprocess
import sys

from tests.support.services import REPO


def run(args, env):
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


def test_migrate_and_seed_on_sqlite_is_idempotent(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL")}
    env.update({"DJANGO_SETTINGS_MODULE": "config.demo_settings", "VAR_DIR": str(tmp_path)})
    for args in (["migrate", "--noinput"], ["demo", "--seed-only"], ["demo", "--seed-only"]):
        result = run(args, env)
        assert result.returncode == 0, result.stderr
    db = sqlite3.connect(tmp_path / "db.sqlite3")
    counts = {
        table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608 - fixed table names
        for table in (
            "connectors_tenant",
            "connectors_targetaccount",
            "connectors_routingrule",
            "auth_user",
            "severa_severaorganisation",
        )
    }
    assert counts == {
        "connectors_tenant": 2,  # the Haravan merchant "Demo", the Severa → Maventa merchant "Demokonsult"
        "connectors_targetaccount": 8,  # 3 MSTs, 3 AMIS companies, 2 Maventa companies
        "connectors_routingrule": 6,  # 2 rules each
        "auth_user": 3,  # owner (of both), accountant, viewer
        "severa_severaorganisation": 1,
    }
    default = db.execute(
        "SELECT external_id FROM connectors_targetaccount WHERE is_default ORDER BY external_id"
    ).fetchall()
    assert default == [("0101243150",), ("SE556677889901",), ("demo-hanoi",)]  # one per connection
    schedule = db.execute(
        "SELECT task FROM django_celery_beat_periodictask WHERE task='haravan.scheduled_sync'"
    )
    assert schedule.fetchall() == [("haravan.scheduled_sync",)] * 2  # one per connection of the shop


WEBHOOK_TWICE = """
from django.conf import settings
from django.test import Client
from haravan.signature import sign
body = b'{"id": 7001, "name": "#7001", "financial_status": "pending"}'
headers = {"HTTP_X_HARAVAN_TOPIC": "orders/create", "HTTP_X_HARAVAN_ORG_ID": "200000001",
           "HTTP_X_HARAVAN_HMACSHA256": sign(body, settings.HARAVAN_CLIENT_SECRET)}
for _ in range(2):
    answer = Client().post("/webhooks/haravan/", data=body, content_type="application/json", **headers)
    print(answer.json()["status"])
headers["HTTP_X_HARAVAN_ORG_ID"] = "999999999"
print(Client().post("/webhooks/haravan/", data=body, content_type="application/json", **headers).status_code)
"""


def test_webhooks_are_stored_once_on_sqlite(tmp_path):
    """The intake's one statement (tenant lookup, then insert or count) speaks SQLite too: the demo's."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL")}
    env.update({"DJANGO_SETTINGS_MODULE": "config.demo_settings", "VAR_DIR": str(tmp_path)})
    for args in (["migrate", "--noinput"], ["demo", "--seed-only"]):
        assert run(args, env).returncode == 0
    result = run(["shell", "--no-imports", "-c", WEBHOOK_TWICE], env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["accepted", "duplicate", "404"]  # the last from a shop nobody connected
    db = sqlite3.connect(tmp_path / "db.sqlite3")
    rows = db.execute(
        "SELECT deliveries, status FROM syncjobs_inboundevent WHERE topic='orders/create' ORDER BY id"
    )
    assert rows.fetchall() == [(2, "pending"), (1, "rejected")]
