"""Giving a model's memory back (an eviction, an unload, an undone load) so that the
manager's books stay true whatever is raised on the way, a soft time limit included.

The rule: memory stops counting only once it is really given back, that is once the
model's ``close`` has returned (its tensors are released). A close interrupted is made
once more; a close that fails twice leaves the model counted, in error and doomed
(``Resident.stranded``), to be closed again by the next eviction, unload or use. A
resident taken off the books whose close never began goes back on them as it was.
Once closed, the device is told (``on_unloaded``, also made once more if interrupted),
the row is written, and the books follow; the exception that interrupted any of it is
raised again only after all of that is done.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, NamedTuple

from inference.engine import records
from inference.engine.devices import DeviceBackend
from inference.engine.residents import Books, Resident
from inference.engine.sink import StateSink
from inference.engine.vocabulary import EventCause, ModelStatus

logger = logging.getLogger(__name__)


class Freeing(NamedTuple):
    """A resident taken off the books, and how its going is recorded."""

    resident: Resident
    kind: str
    reason: str
    cause: str


class Freer:
    """Frees taken residents for a manager, under its lock and on its books."""

    def __init__(
        self,
        backend: DeviceBackend,
        sink: StateSink,
        books: Books,
        lock: threading.Condition,
        critical: Callable[[], AbstractContextManager[Any]] = nullcontext,
    ):
        self._critical = critical
        self._backend = backend
        self._sink = sink
        self._books = books
        self._lock = lock

    def free_all(self, batch: list[Freeing]) -> None:
        """Free each in turn (one not taken off the books after all is left alone).
        Interrupted, those not yet begun go back on the books intact (the one interrupted
        has been dealt with by ``free``), and the exception goes on."""
        done = 0
        try:
            for item in batch:
                with self._lock:
                    taken = self._books.taken(item.resident)
                if taken:
                    self.free(item)
                done += 1
        finally:
            if done < len(batch):
                with self._lock:
                    for item in batch[done:]:
                        self._books.restore(item.resident)
                    self._lock.notify_all()

    def free(self, item: Freeing) -> None:
        """Give a taken resident's memory back, then record it (see the module's rule)."""
        resident = item.resident
        began = False
        try:
            mark = 0 if resident.on_cpu else self._backend.memory_mark()
            began = True
            failure = self.close(resident)
        except BaseException as exc:
            self._keep(resident, exc, began=began)
            raise
        try:
            later = self._settle_and_record(item, mark)
            failure = failure or later
        finally:
            # Off the books last: until its row says so, its name is not free for a new
            # load (whose ``loading`` row would come before this ``unloaded`` one).
            with self._lock:
                self._books.freed(resident)
                self._lock.notify_all()
        if failure is not None:
            raise failure

    def _settle_and_record(self, item: Freeing, mark: int) -> BaseException | None:
        """Once closed: tell the device, then write the row and the log, each done even
        if what comes before raised. Returns the first exception raised."""
        resident = item.resident
        failure: BaseException | None = None
        freed: int | None = None
        reason = item.reason
        try:
            freed = None if resident.on_cpu else self.settle(resident.spec.name, mark)
        except BaseException as exc:
            failure = exc
        try:
            reason = self._reason(resident, reason, freed)
            logger.info("%s", reason)
        finally:
            try:
                records.freed(self._sink, resident, item.kind, reason, item.cause)
            except BaseException as exc:
                failure = failure or exc
        return failure

    def close(self, resident: Resident) -> BaseException | None:
        """Close the resident's model; one close interrupted or failed is made once more.

        Returns what interrupted the first close (None if nothing did): the model is then
        closed and ``resident.model`` None. Raises if the second close fails too, leaving
        ``resident.model`` set: its tensors may still be held.
        """
        model = resident.model
        if model is None:
            return None
        failure: BaseException | None = None
        try:
            with self._critical():
                model.close()
        except BaseException as exc:
            try:
                model.close()
            except Exception:
                logger.exception("Closing %s failed twice", resident.spec.name)
                closed = False
            else:
                closed = True
            if not closed:
                raise
            failure = exc
        resident.model = None
        return failure

    def settle(self, name: str, mark: int) -> int | None:
        """Tell the device the model's memory is released (``on_unloaded``), once more if
        that is interrupted or fails; then raise what interrupted it."""
        try:
            return self._backend.on_unloaded(name, mark)
        except BaseException:
            try:
                self._backend.on_unloaded(name, mark)
            except Exception:
                where = self._backend.name
                logger.exception("%s did not take %s back; it may still count it", where, name)
            raise

    def _keep(self, resident: Resident, exc: BaseException, *, began: bool) -> None:
        """Its memory was not given back: on the books again, still counted; in error and
        doomed where its close began (what is left of it cannot be used)."""
        with self._lock:
            if began:
                resident.doomed_cause = EventCause.FAULT
                resident.doomed = records.unclosed_reason(resident.spec.name)
                resident.status = ModelStatus.ERROR
            self._books.restore(resident)
            self._lock.notify_all()
        if began:
            logger.warning("%s (%s: %s)", resident.doomed, type(exc).__name__, exc)
            try:
                records.stranded(self._sink, resident, exc)
            except Exception:
                logger.exception("Could not record that %s is stranded", resident.spec.name)

    def _reason(self, resident: Resident, reason: str, freed: int | None) -> str:
        if freed is None:
            return reason
        reason += f"; freed {freed} MB"
        expected = resident.measured_mb or 0
        if freed < expected // 2:
            reason += f", expected about {expected} MB: something still holds its tensors"
            logger.warning("%s", reason)
        return reason
