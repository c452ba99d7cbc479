"""Named locks shared by every worker process, released by the server if the holder dies.

PostgreSQL: a session advisory lock (gone when the connection closes, e.g. a killed worker).
Elsewhere (the embedded SQLite demo, one machine): an flock on a file under VAR_DIR, gone with the process.

Behind pgbouncer in transaction mode this breaks, like the webhook intake's prepared statements
(DB_PREPARED_STATEMENTS): a session lock belongs to whichever server connection pgbouncer lent for that one
statement. The unlock may reach another server connection (and release nothing), the lock stays with a
server connection that goes on serving other clients, and a worker handed that same connection is granted
the lock again (session locks are re-entrant): two publishers on one series, or a series nobody can take
until pgbouncer closes the connection. A transaction-level lock (pg_try_advisory_xact_lock) would survive
pooling but does not fit: it is held for a whole publishing pass of a series (meinvoice.services.sync_orders),
which commits several times (each batch is marked as sent, and committed, before its HTTP call, so a crash
leaves evidence) and waits on HTTP calls in between. So the workers need a direct connection to PostgreSQL or
a pgbouncer pool in session mode; only the web app may go through transaction mode (with
DB_PREPARED_STATEMENTS=false). See README, "Run in production".
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
