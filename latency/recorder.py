"""The worker's buffered latency writer: measuring costs an append, storing happens
off the inference path.

The manager calls ``inference`` / ``load`` after every predict and every load; they
append to an in-memory buffer and return. A background thread stores the buffer in one
transaction (``services.samples_record``) at least every ``interval`` seconds; tasks
call ``flush`` when they finish, so what a worker acknowledged is stored, and the
worker flushes once more at shutdown. If the database is away, samples wait in the
buffer and go with the next flush; past ``max_buffered`` the oldest are dropped, with a
warning that says how many. Samples the database refuses as data are dropped, logged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from datetime import UTC, datetime
from typing import Protocol

from django.db import DataError, IntegrityError, close_old_connections, connection

from latency import services
from latency.models import SampleKind
from latency.services import Sample

logger = logging.getLogger(__name__)

# (model id, model name, kind, epoch seconds, duration seconds, cold)
_Buffered = tuple[int, str, int, float, float, bool]


class MeasuredModel(Protocol):
    """What the recorder reads of the model it is told about: the engine's ``ModelSpec``
    fits, and latency need not know the inference layer that defines it."""

    @property
    def id(self) -> int: ...

    @property
    def name(self) -> str: ...


class LatencyRecorder:
    """Buffers samples of one worker and writes them in bulk."""

    def __init__(
        self,
        *,
        worker: str = "",
        device_id: int | None = None,
        interval: float = 1.0,
        max_buffered: int = 100_000,
    ):
        self.worker = worker
        self.device_id = device_id
        self.interval = interval
        self.dropped = 0
        self._buffer: deque[_Buffered] = deque()
        self._max = max_buffered
        self._flush_lock = threading.Lock()  # one writer at a time, in sample order
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- the hooks the manager calls (cheap: an append) --------------------------------

    def inference(self, spec: MeasuredModel, device: str, seconds: float, cold: bool) -> None:
        self._add(spec, SampleKind.INFERENCE, seconds, cold)

    def load(self, spec: MeasuredModel, device: str, seconds: float) -> None:
        self._add(spec, SampleKind.LOAD, seconds, True)

    def _add(self, spec: MeasuredModel, kind: int, seconds: float, cold: bool) -> None:
        # A bare tuple and the wall clock: the Sample rows are built by the flush.
        self._buffer.append((spec.id, spec.name, kind, time.time(), seconds, cold))
        overflow = len(self._buffer) - self._max
        for _ in range(max(0, overflow)):
            try:
                self._buffer.popleft()
            except IndexError:  # a flush just took them all
                break
            self.dropped += 1
        if overflow > 0 and self.dropped % 1000 == 1:
            logger.warning("Latency buffer full: %s samples dropped so far", self.dropped)

    # --- storing -----------------------------------------------------------------------

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def flush(self) -> int:
        """Store everything buffered now; on failure keep it for the next try and raise."""
        with self._flush_lock:
            taken: list[_Buffered] = []
            while self._buffer:
                taken.append(self._buffer.popleft())
            samples = [
                Sample(
                    model_id=model_id,
                    model_name=name,
                    kind=kind,
                    at=datetime.fromtimestamp(at, UTC),
                    duration_s=seconds,
                    cold=cold,
                    device_id=self.device_id,
                    worker=self.worker,
                )
                for model_id, name, kind, at, seconds, cold in taken
            ]
            try:
                return services.samples_record(samples=samples)
            except (IntegrityError, DataError):
                # The rows themselves are refused: retrying would block every later flush.
                self.dropped += len(taken)
                raise
            except Exception:
                self._buffer.extendleft(reversed(taken))  # back in front, in order
                raise

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="zoo-latency", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and store what is left (at worker shutdown)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 10)
            self._thread = None
        try:
            self.flush()
        except Exception:
            logger.exception("Could not store %s latency samples at shutdown", self.pending)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if not self._buffer:
                continue
            try:
                self.flush()
            except Exception:  # the database is away: keep the samples, retry next tick
                logger.exception("Could not store latency samples (%s buffered)", self.pending)
            finally:
                close_old_connections()
        connection.close()  # this thread's own connection
