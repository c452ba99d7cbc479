"""What every benchmark here does around its measurement: prepare a database, say which code it measured,
and clean up on a signal."""

import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


class SetupError(RuntimeError):
    """The benchmark could not be set up: nothing was measured (exit code 2)."""


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def create_database(admin_url: str, name: str) -> None:
    import psycopg2  # only the benchmarks on PostgreSQL need it

    conn = psycopg2.connect(admin_url)
    conn.autocommit = True  # CREATE DATABASE cannot run inside a transaction
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name}")
    finally:
        conn.close()


def manage(env: dict, *args: str) -> None:
    """`manage.py <args>` in a child process with `env`; its output only when it fails."""
    cmd = [sys.executable, "manage.py", *args]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SetupError(f"manage.py {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")


def code_version() -> str:
    """The commit measured, and the tracked files changed in the working tree (other people edit too)."""
    git = ["git", "-C", str(REPO)]
    commit = subprocess.run(
        [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    status = subprocess.run([*git, "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                            text=True, check=False)  # fmt: skip
    changed = [line[3:] for line in status.stdout.splitlines()]
    return commit.stdout.strip() + (f" + uncommitted changes in {', '.join(changed)}" if changed else "")


class Interrupted(BaseException):
    """Ctrl-C or `kill`: unwinds the benchmark's exit stack, which stops every process it started and
    removes every temp dir."""


def on_signal(signum, frame):
    signal.signal(signum, signal.SIG_IGN)  # one is enough; the cleanup must not be interrupted
    raise Interrupted(signal.Signals(signum).name)


def run_to_exit_code(
    run: Callable, args, setup_errors: tuple[type[BaseException], ...]
) -> tuple[dict | None, int]:
    """(figures, 0) from run(args), or (None, exit code): 130 on Ctrl-C or kill, 2 when the setup failed.

    Ctrl-C also reaches the servers a benchmark started (same process group): what is reported is the
    signal, after the exit stack has stopped them.
    """
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)
    try:
        return run(args), 0
    except Interrupted as exc:
        print(f"interrupted by {exc}", file=sys.stderr)
        return None, 130
    except setup_errors as exc:
        print(f"bench setup failed: {exc}", file=sys.stderr)
        return None, 2
