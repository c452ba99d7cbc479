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
    env.update({"DJANGO_SETTINGS_MODULE": "config.settings", "VAR_DIR": str(tmp_path)})
    for args in (["migrate", "--noinput"], ["demo", "--seed-only"], ["demo", "--seed-only"]):
        result = run(args, env)
        assert result.returncode == 0, result.stderr
    db = sqlite3.connect(tmp_path / "db.sqlite3")
    counts = {
        table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608 - fixed table names
        for table in ("connectors_tenant", "connectors_targetaccount", "connectors_routingrule", "auth_user")
    }
    assert counts == {
        "connectors_tenant": 1,
        "connectors_targetaccount": 3,
        "connectors_routingrule": 2,
        "auth_user": 1,
    }
    default = db.execute("SELECT external_id FROM connectors_targetaccount WHERE is_default").fetchall()
    assert default == [("0101243150",)]
    schedule = db.execute(
        "SELECT task FROM django_celery_beat_periodictask WHERE task='haravan.scheduled_sync'"
    )
    assert schedule.fetchall() == [("haravan.scheduled_sync",)]
