"""Web-side waits for a worker's answer (an inference, a load) that cost no polling while
nothing changes.

On PostgreSQL one thread per web process listens on the ``zoo_work`` channel, which
database triggers notify when an inference request's status or a model's state changes
(migration ``inference.0004_work_notify``), and wakes every waiting thread; each reads
its own answer again, on the connection it keeps (opening one per wake-up cost a backend
start each: with 50 waiters, that alone tripled the other requests' p99). Should the
listener be down, waits poll every ``POLL_S``; on SQLite they poll at 10 ms growing to
100 ms, as before.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import connection

log = logging.getLogger(__name__)

T = TypeVar("T")
CHANNEL = "zoo_work"
# How long a wait sleeps without a wake-up before it reads again: a safety net only (the
# listener wakes every waiter when it connects again after a drop).
SAFETY_S = 5.0
POLL_S = 0.1


class Listener:
    """The process's one listening connection and the waits it wakes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: set[threading.Event] = set()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._stopping = threading.Event()
        self.listening = threading.Event()

    def register(self) -> threading.Event:
        self._ensure_running()
        event = threading.Event()
        with self._lock:
            self._waiting.add(event)
        return event

    def unregister(self, event: threading.Event) -> None:
        with self._lock:
            self._waiting.discard(event)

    def _wake_all(self) -> None:
        with self._lock:
            for event in self._waiting:
                event.set()

    def _ensure_running(self) -> None:
        import os

        with self._lock:
            if self._thread is not None and self._pid == os.getpid():
                return
            # First wait of this process (a forked server worker starts without threads).
            self._pid = os.getpid()
            self._stopping.clear()
            self.listening.clear()
            self._thread = threading.Thread(target=self._run, name="zoo-wait-listener", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """End the listener and close its connection (a test session's end)."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._stopping.set()
            thread.join(5)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._listen()
            except Exception:  # a dropped connection: waits poll until it is back
                log.warning("wait listener lost its connection; retrying", exc_info=True)
                self._stopping.wait(1.0)
            self.listening.clear()
            self._wake_all()

    def _listen(self) -> None:
        import psycopg

        params = connection.get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        with psycopg.connect(**params, autocommit=True) as listening:
            listening.execute(f"LISTEN {CHANNEL}")
            self.listening.set()
            self._wake_all()  # anything committed before LISTEN took effect
            while not self._stopping.is_set():
                for _ in listening.notifies(timeout=1.0):
                    self._wake_all()


listener = Listener()


def wait_for(read: Callable[[], T | None], timeout_s: float) -> T | None:
    """Read until ``read()`` gives something, or None after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    if connection.vendor != "postgresql":
        return _poll(read, deadline)
    event = listener.register()
    try:
        while True:
            event.clear()  # cleared before the read: a change after it wakes us
            value = read()
            left = deadline - time.monotonic()
            if value is not None or left <= 0:
                return value
            pause = SAFETY_S if listener.listening.is_set() else POLL_S
            event.wait(min(pause, left))
    finally:
        listener.unregister(event)


def _poll(read: Callable[[], T | None], deadline: float) -> T | None:
    delay = 0.01
    while True:
        value = read()
        if value is not None or time.monotonic() >= deadline:
            return value
        time.sleep(min(delay, max(deadline - time.monotonic(), 0.0)))
        delay = min(delay * 1.5, POLL_S)
