"""Named locks shared by every worker process, released by the server if the holder dies.

PostgreSQL: a session advisory lock (gone when the connection closes, e.g. a killed worker).
Elsewhere (the embedded SQLite demo, one machine): an flock on a file under VAR_DIR, gone with the process.
"""

import fcntl
import hashlib
import os
from contextlib import contextmanager

from django.conf import settings
from django.db import connection


def _key64(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextmanager
def try_lock(name: str):
    """Yields True when this process now holds the lock (until the block ends), False when another does."""
    if connection.vendor == "postgresql":
        key = _key64(name)
        with connection.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_lock(%s)", [key])
            got = cur.fetchone()[0]
        try:
            yield got
        finally:
            if got:
                with connection.cursor() as cur:
                    cur.execute("SELECT pg_advisory_unlock(%s)", [key])
        return
    folder = os.path.join(settings.VAR_DIR, "locks")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, hashlib.sha256(name.encode()).hexdigest()[:32] + ".lock")
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
