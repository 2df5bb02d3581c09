"""The device's scheduler: a thread of the worker's pool child that serves the work items
waiting on its device, in the order ``ZOO_WORK_ORDER`` names (``inference.run.items``).

Celery messages only wake it; it also looks every ``ZOO_SCHEDULER_POLL_S`` on its own, so
a lost message delays work by at most that. Each unit of work (an item, or up to
``GROUP_ITEMS`` batch items of one model served together) runs under the worker's time
limit (``ZOO_TASK_SOFT_TIME_LIMIT_S``), enforced the way Celery enforces it on a task: a
watchdog raises ``SoftTimeLimitExceeded`` inside the scheduler's thread (the work ends
with the reason; the manager keeps its books true whatever step it interrupts), but
never inside a critical section (a loader's call, a model's close:
``inference.runtime.interrupts``): it waits for the section to end. A minute past the
limit, if the work still runs (stuck in native code or a section), it ends the
process, whose parent starts a fresh one that queues the work again.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
import time
from collections.abc import Callable

from celery.exceptions import SoftTimeLimitExceeded
from django.db import close_old_connections, connection

from inference import run
from inference.models import WorkItem
from inference.runtime import interrupts
from inference.runtime.zoo import ModelZoo

logger = logging.getLogger(__name__)

HARD_GRACE_S = 60.0  # after the soft limit, as for Celery's hard limit
# An interrupt can be lost (raised inside a destructor, which Python ignores): while the
# work still runs, it is raised again this often until the hard limit.
AGAIN_S = 5.0
EXIT_STUCK = 70


def _interrupt(thread_id: int) -> None:
    """Raise SoftTimeLimitExceeded in another thread at its next Python instruction."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(SoftTimeLimitExceeded)
    )


class Scheduler:
    """Serves one device's work items, one at a time, until stopped."""

    def __init__(
        self,
        zoo: ModelZoo,
        *,
        order: str,
        max_wait_s: float,
        poll_s: float,
        soft_limit_s: float,
        hard_grace_s: float = HARD_GRACE_S,
        after_item: Callable[[], None] | None = None,
    ):
        if order not in run.ORDERS:
            raise ValueError(f"ZOO_WORK_ORDER must be one of {', '.join(run.ORDERS)}: {order!r}")
        self.zoo = zoo
        self.order = order
        self.max_wait_s = max_wait_s
        self.poll_s = poll_s
        self.soft_limit_s = soft_limit_s
        self.hard_grace_s = hard_grace_s
        self.after_item = after_item  # e.g. store the item's latency samples at once
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._guard = threading.Lock()
        self._current: tuple[int, float, float] | None = None  # item, started, interrupted at
        self._thread = threading.Thread(target=self._run, name="zoo-scheduler", daemon=True)
        self._watchdog = threading.Thread(target=self._watch, name="zoo-watchdog", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._watchdog.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        self._watchdog.join(timeout)

    def drain(self) -> int:
        """Serve rounds in the calling thread until nothing is ready; how many rounds
        (for tests and tools: the thread does the same, waiting between rounds)."""
        rounds = 0
        while self._round():
            rounds += 1
        return rounds

    # --- the scheduler's thread ----------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                served = self._round()
            except SoftTimeLimitExceeded:  # raised as an item ended: nothing is left open
                served = True
            except Exception:  # the database went away: its items are queued again
                logger.exception("Scheduler round failed; trying again")
                served = False
            finally:
                close_old_connections()
            if not served:
                self._wake.wait(self.poll_s)
                self._wake.clear()
        connection.close()

    def _round(self) -> bool:
        """Serve the next round of items; False when nothing was ready."""
        ids = run.round_next(self.zoo, order=self.order, max_wait_s=self.max_wait_s)
        served = False
        while ids and not self._stop.is_set():
            group, ids = run.group_claim(self.zoo, ids)
            if not group:
                continue  # served by a message's thread meanwhile
            self._serve(group)
            served = True
            if run.preempted(self.zoo, group[-1]):
                break
        return served

    def _serve(self, items: list[WorkItem]) -> None:
        with self._guard:
            self._current = (items[0].pk, time.monotonic(), 0.0)
        try:
            run.items_serve(self.zoo, items)
        finally:
            with self._guard:
                self._current = None
        if self.after_item is not None:
            self.after_item()

    # --- the watchdog's thread ------------------------------------------------------------

    def _watch(self) -> None:
        target = self._thread.ident
        while not self._stop.wait(0.25):
            with self._guard:
                current = self._current
                if current is None or target is None:
                    continue
                item_id, started, interrupted_at = current
                now = time.monotonic()
                if now - started >= self.soft_limit_s + self.hard_grace_s:
                    logger.critical("Item %s is stuck past the hard limit: exiting", item_id)
                    os._exit(EXIT_STUCK)
                if (
                    now - started >= self.soft_limit_s
                    and now - interrupted_at >= AGAIN_S
                    and not interrupts.in_critical(target)
                ):
                    logger.warning("Item %s passed the %s s time limit", item_id, self.soft_limit_s)
                    self._current = (item_id, started, now)
                    _interrupt(target)
