"""Settings for the test run: the demo settings (the production ones plus the simulators, see
config/demo_settings.py) over a throwaway PostgreSQL, started here.

The whole suite runs on PostgreSQL (row locks, partial unique indexes and concurrency behave as in
production); the embedded SQLite default is exercised by its own smoke test. Without PostgreSQL
binaries the suite falls back to SQLite and the service tests skip, unless REQUIRE_SERVICES=1.
"""

import atexit
import os
import tempfile

from tests.support import services

os.environ.setdefault("VAR_DIR", tempfile.mkdtemp(prefix="ledgerlink-test-"))
os.environ.setdefault("CELERY_BROKER_URL", "memory://")
os.environ.setdefault("HARAVAN_CLIENT_SECRET", "test-client-secret")
os.environ.setdefault("DB_CONN_MAX_AGE", "0")
# MISA's pacing per series (1 s between publish calls) has its own test: test workers need not wait
os.environ.setdefault("MEINVOICE_SERIES_GAP_SECONDS", "0")
# Simulated webhooks go nowhere unless a test points them at an app (never at a local demo on :8000).
os.environ.setdefault("SANDBOX_WEBHOOK_URL", "http://127.0.0.1:9/webhooks/haravan/")

POSTGRES_UNAVAILABLE = ""
if "DATABASE_URL" not in os.environ:
    try:
        _pg = services.PostgresServer().start()
    except services.ServiceUnavailable as exc:
        if services.required():
            raise
        POSTGRES_UNAVAILABLE = str(exc)
        os.environ["DATABASE_URL"] = "sqlite:///" + os.path.join(os.environ["VAR_DIR"], "test.sqlite3")
    else:
        atexit.register(_pg.stop)
        os.environ["DATABASE_URL"] = _pg.url("ledgerlink")
        os.environ["TEST_POSTGRES_ADMIN_URL"] = _pg.url("postgres")

from config.demo_settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not shared memory: threads and processes in tests see the same rows and wait for locks.
    DATABASES["default"]["TEST"] = {"NAME": os.path.join(os.environ["VAR_DIR"], "test-db.sqlite3")}  # noqa: F405
