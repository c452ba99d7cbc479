"""What every benchmark here does around its measurement: say which code it measured, and clean up on a
signal."""

import signal
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


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
