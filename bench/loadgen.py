"""A closed-loop HTTP/1.1 load generator: N keep-alive connections on one asyncio event loop.

Requests are pre-built raw bytes, so the client only writes them and parses status line and
Content-Length of each answer: a few tens of microseconds of CPU per request. Each connection sends its
next request as soon as the previous answer is complete; the connections share one list of requests.
"""

import asyncio
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

REQUEST_TIMEOUT = 30.0  # seconds; a request that takes longer counts as an error


class Connection(asyncio.Protocol):
    """One keep-alive connection with one request in flight; answers must carry Content-Length."""

    def __init__(self):
        self.transport = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future | None = None
        self.status = 0
        self.body_start = 0
        self.message_end = 0

    @property
    def local_port(self) -> int:
        return self.transport.get_extra_info("sockname")[1]

    def connection_made(self, transport):
        self.transport = transport

    def connection_lost(self, exc):
        self.transport = None
        self._fail(ConnectionError(f"connection closed: {exc}"))

    def data_received(self, data):
        self.buffer += data
        if self.waiter is not None and not self.waiter.done():
            self._parse()

    async def request(self, raw: bytes, timeout: float = REQUEST_TIMEOUT) -> tuple[int, bytes]:
        loop = asyncio.get_running_loop()
        self.waiter = loop.create_future()
        timer = loop.call_later(timeout, self._fail, TimeoutError("no answer"))
        self.transport.write(raw)
        try:
            return await self.waiter
        finally:
            timer.cancel()

    def close(self):
        if self.transport is not None:
            self.transport.close()

    def _fail(self, exc: Exception):
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    def _parse(self):
        if not self.message_end:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            self.status = int(head[0].split(" ", 2)[1])
            fields = dict(line.lower().split(":", 1) for line in head[1:])
            if "content-length" not in fields:
                self._fail(ConnectionError("answer without Content-Length"))
                return
            self.body_start = end + 4
            self.message_end = self.body_start + int(fields["content-length"])
        if len(self.buffer) >= self.message_end:
            body = bytes(self.buffer[self.body_start : self.message_end])
            del self.buffer[: self.message_end]
            self.message_end = 0
            self.waiter.set_result((self.status, body))


# locate(client ports) -> (server process holding each connection or None if not accepted yet, all processes)
Locator = Callable[[list[int]], tuple[list[int | None], list[int]]]


@dataclass
class Run:
    seconds: float
    latencies_ms: list[float]  # ascending, answered requests only
    outcomes: Counter  # "accepted", an HTTP status, or an exception name
    reconnects: int  # connections opened again to spread them over the server's processes


async def _connect(port: int) -> Connection:
    _, conn = await asyncio.get_running_loop().create_connection(Connection, "127.0.0.1", port)
    return conn


async def open_spread(port: int, count: int, locate: Locator | None) -> tuple[list[Connection], int]:
    """Open `count` connections; with a locator, reopen some until every server process holds the same
    number (+-1). Kept-alive connections stay with the process that accepted them, and who accepts is
    a race: unchecked, one of two workers may get 13 of 16 connections and the run measures one core."""
    conns = [await _connect(port) for _ in range(count)]
    reconnects = 0
    for _ in range(50 * count):
        if locate is None:
            break
        owners, processes = locate([c.local_port for c in conns])
        if None in owners:
            await asyncio.sleep(0.01)  # not accepted yet
            continue
        load = dict.fromkeys(processes, 0)
        for owner in owners:
            load[owner] = load.get(owner, 0) + 1
        busiest, idlest = max(load, key=load.get), min(load, key=load.get)
        if load[busiest] - load[idlest] <= 1:
            break
        index = owners.index(busiest)
        conns[index].close()
        conns[index] = await _connect(port)
        reconnects += 1
    else:
        raise RuntimeError("could not spread the connections evenly over the server's processes")
    return conns, reconnects


async def _drive(
    port: int, requests: list[bytes], clients: int, expected: bytes, locate: Locator | None
) -> Run:
    queue = iter(requests)  # shared: whichever connection is free takes the next request
    latencies: list[int] = []
    outcomes: Counter = Counter()

    async def client(conn: Connection):
        for raw in queue:
            if conn.transport is None:
                conn = await _connect(port)
            started = time.perf_counter_ns()
            try:
                status, body = await conn.request(raw)
            except (OSError, TimeoutError) as exc:
                outcomes[type(exc).__name__] += 1
                conn.close()
                continue
            latencies.append(time.perf_counter_ns() - started)
            outcomes[classify(status, body, expected)] += 1
        conn.close()

    conns, reconnects = await open_spread(port, clients, locate)
    started = time.perf_counter()
    await asyncio.gather(*(client(conn) for conn in conns))
    seconds = time.perf_counter() - started
    return Run(seconds, sorted(ns / 1e6 for ns in latencies), outcomes, reconnects)


def run(
    port: int, requests: list[bytes], clients: int, expected: bytes, locate: Locator | None = None
) -> Run:
    """Send every request once; `expected` is a fragment the body of an accepted answer contains."""
    return asyncio.run(_drive(port, requests, clients, expected, locate))


def classify(status: int, body: bytes, expected: bytes) -> str:
    if status == 200 and expected in body:
        return "accepted"
    if status == 200:
        return f"200 {body[:40].decode(errors='replace')}"
    return str(status)


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]
