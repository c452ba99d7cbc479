"""Outbound webhook delivery for the simulators: a queue, a background thread, retries with backoff.

A *sender* is any callable ``sender(method, url, headers, body) -> (status_code, response_text)`` that
raises on network failure. ``http_sender`` uses ``requests``; ``sandbox.testing.django_client_sender``
delivers to Django's test client in-process.

Two modes:
- ``background=True`` (servers, live tests): the API answer never waits; a daemon thread delivers,
  retrying failures after ``backoff * 2**(attempt-1)`` seconds. ``wait_idle()`` waits for the queue.
- ``background=False`` (in-process tests): deliveries queue up until ``drain()`` sends them in the
  caller's thread (retries immediately, no sleeping) — deterministic, and database-friendly.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)

Sender = Callable[[str, str, dict, bytes], tuple[int, str]]


def http_sender(
    method: str, url: str, headers: dict, body: bytes, *, timeout: float = 10.0
) -> tuple[int, str]:
    import requests

    resp = requests.request(method, url, headers=headers, data=body, timeout=timeout, allow_redirects=False)
    return resp.status_code, resp.text[:2000]


@dataclass
class Delivery:
    id: int
    topic: str
    url: str
    headers: dict[str, str]
    body: bytes
    meta: dict[str, Any] = field(default_factory=dict)
    duplicate: bool = False
    attempts: int = 0
    status_code: int | None = None
    ok: bool = False
    error: str = ""
    response: str = ""
    created_at: str = ""
    last_attempt_at: str | None = None
    delivered_at: str | None = None
    gave_up: bool = False

    def as_log(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "topic": self.topic,
            "url": self.url,
            **self.meta,
            "duplicate": self.duplicate,
            "attempts": self.attempts,
            "status_code": self.status_code,
            "ok": self.ok,
            "gave_up": self.gave_up,
            "error": self.error,
            "response": self.response[:300],
            "created_at": self.created_at,
            "last_attempt_at": self.last_attempt_at,
            "delivered_at": self.delivered_at,
        }


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class WebhookDispatcher:
    def __init__(
        self,
        sender: Sender | None = None,
        *,
        background: bool = True,
        max_attempts: int = 4,
        backoff: float = 1.0,
        log_size: int = 2000,
    ):
        self.sender: Sender = sender or http_sender
        self.background = background
        self.max_attempts = max_attempts
        self.backoff = backoff
        self._ids = itertools.count(1)
        self._seq = itertools.count()
        self._heap: list[tuple[float, int, Delivery]] = []
        self._cond = threading.Condition()
        self._in_flight = 0
        self._log: deque[Delivery] = deque(maxlen=log_size)
        self._thread: threading.Thread | None = None
        self._stopping = False

    # --- queueing --------------------------------------------------------------------------------

    def enqueue(
        self,
        *,
        topic: str,
        url: str,
        headers: dict,
        body: bytes,
        meta: dict | None = None,
        duplicate: bool = False,
    ) -> Delivery:
        delivery = Delivery(
            id=next(self._ids),
            topic=topic,
            url=url,
            headers=dict(headers),
            body=body,
            meta=dict(meta or {}),
            duplicate=duplicate,
            created_at=_now_iso(),
        )
        with self._cond:
            self._log.append(delivery)
            heapq.heappush(self._heap, (time.monotonic(), next(self._seq), delivery))
            self._cond.notify_all()
        if self.background:
            self._ensure_thread()
        return delivery

    def pending(self) -> int:
        with self._cond:
            return len(self._heap) + self._in_flight

    def deliveries(self) -> list[dict[str, Any]]:
        with self._cond:
            return [d.as_log() for d in self._log]

    def clear(self) -> None:
        with self._cond:
            self._heap.clear()
            self._log.clear()

    # --- delivering ------------------------------------------------------------------------------

    def _attempt(self, delivery: Delivery) -> bool:
        """One try. True when finished (delivered or given up), False when it should be retried."""
        delivery.attempts += 1
        delivery.last_attempt_at = _now_iso()
        try:
            status, text = self.sender("POST", delivery.url, dict(delivery.headers), delivery.body)
            delivery.status_code = int(status)
            delivery.response = text or ""
            delivery.error = "" if 200 <= delivery.status_code < 300 else f"HTTP {delivery.status_code}"
        except Exception as exc:  # network trouble is what retries are for
            delivery.status_code = None
            delivery.error = f"{type(exc).__name__}: {exc}"[:500]
        delivery.ok = delivery.status_code is not None and 200 <= delivery.status_code < 300
        if delivery.ok:
            delivery.delivered_at = _now_iso()
            return True
        if delivery.attempts >= self.max_attempts:
            delivery.gave_up = True
            log.warning(
                "Webhook %s %s to %s given up after %s attempts: %s",
                delivery.id,
                delivery.topic,
                delivery.url,
                delivery.attempts,
                delivery.error,
            )
            return True
        return False

    def drain(self, max_rounds: int = 100) -> int:
        """Deliver everything queued, in this thread (retries at once). Returns how many tries were made."""
        tries = 0
        for _ in range(max_rounds * max(1, self.max_attempts)):
            with self._cond:
                if not self._heap:
                    break
                _, _, delivery = heapq.heappop(self._heap)
                self._in_flight += 1
            finished = True
            try:
                tries += 1
                finished = self._attempt(delivery)
            finally:
                with self._cond:
                    self._in_flight -= 1
                    if not finished:
                        heapq.heappush(self._heap, (time.monotonic(), next(self._seq), delivery))
                    self._cond.notify_all()
        return tries

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until nothing is queued or being delivered (background mode); drains in manual mode."""
        if not self.background:
            self.drain()
            return self.pending() == 0
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._heap or self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
            return True

    def _ensure_thread(self) -> None:
        with self._cond:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping:
                    if self._heap and self._heap[0][0] <= time.monotonic():
                        break
                    timeout = (self._heap[0][0] - time.monotonic()) if self._heap else 0.5
                    self._cond.wait(max(0.005, min(timeout, 0.5)))
                if self._stopping:
                    return
                _, _, delivery = heapq.heappop(self._heap)
                self._in_flight += 1
            finished = True
            try:
                finished = self._attempt(delivery)
            except Exception:  # never let the delivery thread die
                log.exception("Webhook delivery %s crashed", delivery.id)
            finally:
                with self._cond:
                    self._in_flight -= 1
                    if not finished:
                        delay = self.backoff * (2 ** (delivery.attempts - 1))
                        heapq.heappush(self._heap, (time.monotonic() + delay, next(self._seq), delivery))
                    self._cond.notify_all()

    def close(self, timeout: float = 2.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._thread = None
