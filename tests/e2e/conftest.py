"""The product as it runs in production, on real parts: gunicorn, Celery workers and beat, Redis, PostgreSQL.

Test data is written through the ORM in committed transactions (transactional_db); the processes see
the same test database through DATABASE_URL.
"""

import os
import subprocess
import sys
import tempfile
import time

import pytest
from django.conf import settings

from tests.support import services


class Stack:
    def __init__(self, postgres_url, redis_url, extra_env=None):
        self.var_dir = tempfile.mkdtemp(prefix="ledgerlink-e2e-")
        self.env = {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": postgres_url,
            "CELERY_BROKER_URL": redis_url,
            "REDIS_URL": redis_url,
            "SECRET_KEY": settings.SECRET_KEY,  # the same key: credentials encrypted here decrypt there
            "HARAVAN_CLIENT_SECRET": settings.HARAVAN_CLIENT_SECRET,
            "VAR_DIR": self.var_dir,
            "DB_CONN_MAX_AGE": "0",
            "LOG_LEVEL": "INFO",
            **(extra_env or {}),
        }
        self.procs = []
        self.workers = []
        self.web_url = None

    def _spawn(self, name: str, cmd: list[str]) -> subprocess.Popen:
        """A product process with the stack's environment, its output in var_dir/<name>.log."""
        log = open(os.path.join(self.var_dir, f"{name}.log"), "w")  # noqa: SIM115 - lives with the process
        proc = subprocess.Popen(
            cmd,
            cwd=services.REPO,
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def start_web(self):
        port = services.free_port()
        proc = self._spawn(
            "web",
            [
                os.path.join(os.path.dirname(sys.executable), "gunicorn"),
                "config.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--threads",
                "4",
                "--worker-class",
                "gthread",
            ],
        )
        services.wait_for_port(port, proc=proc)
        self.web_url = f"http://127.0.0.1:{port}"
        return self.web_url

    def start_worker(self, name="w1", concurrency=1, **env):
        worker = services.CeleryWorker({**self.env, **env}, concurrency=concurrency, name=name).spawn()
        self.workers.append(worker)  # before waiting: a worker that never gets ready is still stopped
        return worker.wait_ready()

    def start_beat(self):
        return self._spawn(
            "beat",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "beat",
                "--loglevel",
                "INFO",
                "--scheduler",
                "django_celery_beat.schedulers:DatabaseScheduler",
            ],
        )

    def stop(self):
        for worker in self.workers:
            worker.stop()
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()

    def logs(self) -> str:
        parts = [w.output()[-4000:] for w in self.workers]
        for name in ("web.log", "beat.log"):
            path = os.path.join(self.var_dir, name)
            if os.path.exists(path):
                with open(path) as fh:
                    parts.append(fh.read()[-4000:])
        return "\n----\n".join(parts)


@pytest.fixture
def stack(transactional_db, postgres_url, redis_server):
    s = Stack(postgres_url, redis_server.url)
    yield s
    s.stop()


def wait_until(predicate, timeout=30.0, interval=0.1, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")
