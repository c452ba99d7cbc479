"""Throwaway PostgreSQL, Redis and Celery worker processes for tests and benchmarks.

Started from the binaries on the machine; a missing binary skips the tests that need it, unless
REQUIRE_SERVICES=1 (CI), where a skip would hide a missing install step and so becomes a failure.
"""

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def required() -> bool:
    return os.environ.get("REQUIRE_SERVICES") == "1"


class ServiceUnavailable(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ServiceUnavailable(f"process exited with code {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise ServiceUnavailable(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def _pg_bindir() -> str | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(candidate, "initdb")):
            return candidate
    found = shutil.which("initdb")
    return os.path.dirname(found) if found else None


class PostgresServer:
    """A private cluster in a temp dir; as root it runs as the `postgres` user (PostgreSQL refuses root)."""

    def __init__(self):
        self.bindir = _pg_bindir()
        if not self.bindir:
            raise ServiceUnavailable("PostgreSQL binaries (initdb, pg_ctl) not installed")
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="ledgerlink-pg-")
        self.data = os.path.join(self.dir, "data")
        self.as_postgres = os.geteuid() == 0
        self.user = "postgres" if self.as_postgres else os.environ.get("USER", "postgres")

    def _run(self, *args, check=True):
        cmd = list(args)
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=check, capture_output=True, text=True)

    def start(self) -> "PostgresServer":
        if self.as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        try:
            self._run(
                os.path.join(self.bindir, "initdb"),
                "-D",
                self.data,
                "-A",
                "trust",
                "-U",
                self.user,
                "-E",
                "UTF8",
                "--no-sync",
            )
            opts = (
                f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
            )
            self._run(
                os.path.join(self.bindir, "pg_ctl"),
                "-D",
                self.data,
                "-o",
                opts,
                "-w",
                "-t",
                "30",
                "-l",
                os.path.join(self.dir, "log"),
                "start",
            )
        except subprocess.CalledProcessError as exc:
            raise ServiceUnavailable(f"PostgreSQL did not start: {exc.stderr or exc.stdout}") from exc
        return self

    def url(self, dbname: str = "postgres") -> str:
        return f"postgres://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def stop(self) -> None:
        self._run(
            os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-m", "immediate", "-w", "stop", check=False
        )
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisServer:
    def __init__(self, port: int | None = None):
        self.binary = shutil.which("redis-server")
        if not self.binary:
            raise ServiceUnavailable("redis-server not installed")
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="ledgerlink-redis-")
        self.proc = None

    def start(self) -> "RedisServer":
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, proc=self.proc)
        return self

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class CeleryWorker:
    """A real `celery worker` process (prefork) with its own environment."""

    def __init__(
        self, env: dict, *, concurrency: int = 1, name: str = "w1", queues: str = "celery,writeback"
    ):
        self.env = {**os.environ, **env}
        self.concurrency = concurrency
        self.name = name
        self.proc = None
        self.log_path = os.path.join(tempfile.mkdtemp(prefix="ledgerlink-worker-"), f"{name}.log")
        self.queues = queues

    def start(self) -> "CeleryWorker":
        return self.spawn().wait_ready()

    def spawn(self) -> "CeleryWorker":
        cmd = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            str(self.concurrency),
            "--hostname",
            f"{self.name}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        if self.queues:
            cmd += ["--queues", self.queues]
        self.log = open(self.log_path, "w")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            cmd, cwd=REPO, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        return self

    def wait_ready(self) -> "CeleryWorker":
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServiceUnavailable(f"celery worker exited early:\n{self.output()}")
            if " ready." in self.output():
                return self
            time.sleep(0.2)
        raise ServiceUnavailable(f"celery worker not ready after 60s:\n{self.output()}")

    def output(self) -> str:
        try:
            return Path(self.log_path).read_text()
        except FileNotFoundError:
            return ""

    def kill(self, sig=signal.SIGKILL) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        if getattr(self, "log", None):
            self.log.close()
