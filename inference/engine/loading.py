"""One load for a manager, under its load slot: admit, evict, load, measure, commit; or,
on any exception before the commit (``BaseException`` included), undo every step taken.

Two-phase: admission computes the room and the victims under the manager's lock, then
reserves the memory and takes the victims off the books; every later step (the
evictions, the ``loading`` row, the loader, the measure, the device's ``on_loaded``)
runs under one handler that undoes all of them (``Loading._undo``). The load stands
from the commit's last step (``status = loaded``) on. The manager's docstring states
the rule for every exit path; ``freeing`` how memory is given back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NoReturn

from inference.engine import admission, records
from inference.engine.devices import DeviceBackend, ceil_mb
from inference.engine.errors import ModelLoadFailed, ModelRefused
from inference.engine.freeing import Freeing, Freer
from inference.engine.loaders.base import LoadedModel
from inference.engine.residents import Books, Resident
from inference.engine.sink import StateSink
from inference.engine.specs import ManagerSettings, ModelSpec
from inference.engine.vocabulary import EventCause, EventKind, ModelStatus

logger = logging.getLogger(__name__)


@dataclass
class _Attempt:
    """What one load has done so far, for its undo."""

    admitted: bool = False  # past admission: a reservation may have been made
    victims: list[Resident] = field(default_factory=list)  # taken off the books for it
    loading: bool = False  # in the load itself (loader, measure, device)


class Loading:
    """Loads models onto a manager's device, on its books, under its lock."""

    def __init__(
        self,
        backend: DeviceBackend,
        *,
        sink: StateSink,
        books: Books,
        lock: threading.Condition,
        freer: Freer,
        loader: Callable[[ModelSpec, str], LoadedModel],
        clock: Callable[[], float],
        critical: Callable[[], AbstractContextManager[Any]] = nullcontext,
    ):
        self.backend = backend
        self._sink = sink
        self._books = books
        self._lock = lock
        self._critical = critical
        self._freer = freer
        self._loader = loader
        self._clock = clock
        # Last measured size by model: admission asks for the larger of it and the estimate.
        self.measured: dict[str, int] = dict(sink.measured_sizes())

    def load(self, resident: Resident, settings: ManagerSettings) -> None:
        """Load the model the resident stands for; the caller holds the load slot."""
        spec = resident.spec
        need = max(spec.vram_mb, self.measured.get(spec.name, 0))
        attempt = _Attempt()
        try:
            self._reserve(resident, need, settings, attempt)
            records.loading(self._sink, resident)
            started = self._clock()
            attempt.loading = True
            measured = self._load_and_measure(resident, need, settings, attempt)
            attempt.loading = False
            duration = self._clock() - started
            self._commit(resident, measured, duration)
        except BaseException as exc:
            self._undo(resident, attempt, exc)
        records.loaded(
            self._sink, resident, self.backend.name, measured=measured, duration=duration
        )

    def _reserve(
        self, resident: Resident, need: int, settings: ManagerSettings, attempt: _Attempt
    ) -> None:
        """Admit the model at ``need`` MB and evict the idle models it needs gone.

        A refusal is recorded and raised before anything is evicted or reserved.
        """
        spec = resident.spec
        try:
            with self._lock:
                on_cpu, victims = self._admit(spec, need, settings)
                attempt.admitted = True
                now = self._clock()
                batch = self._take_victims(
                    victims,
                    attempt,
                    lambda victim: records.eviction_reason(
                        victim, settings.policy, now - victim.last_used_mono, spec.name
                    ),
                )
                resident.on_cpu = on_cpu
                resident.held_mb = 0 if on_cpu else need
        except ModelRefused as refusal:
            records.refused(self._sink, spec, refusal, need)
            raise
        self._freer.free_all(batch)

    def _take_victims(
        self, victims: list[Resident], attempt: _Attempt, reason: Callable[[Resident], str]
    ) -> list[Freeing]:
        """Take the victims off the books (they count until freed). Under the lock."""
        attempt.victims.extend(victims)
        batch = [Freeing(v, EventKind.EVICT, reason(v), EventCause.MAKE_ROOM) for v in victims]
        for victim in victims:
            self._books.take(victim)
        return batch

    def _load_and_measure(
        self, resident: Resident, need: int, settings: ManagerSettings, attempt: _Attempt
    ) -> int:
        """Call the loader and measure what the model took (MB); the device takes it last."""
        spec = resident.spec
        if resident.on_cpu:
            with self._critical():
                resident.model = self._loader(spec, "cpu")
            return ceil_mb(resident.model.tensor_bytes())
        mark = self.backend.memory_mark()
        with self._critical():
            resident.model = self._loader(spec, self.backend.torch_device)
        measured = self.backend.measure(resident.model, mark)
        held = max(need, measured)
        self._grow(resident, held, settings, attempt)
        self.backend.on_loaded(spec.name, held)
        return measured

    def _grow(
        self, resident: Resident, held: int, settings: ManagerSettings, attempt: _Attempt
    ) -> None:
        """The model measured larger than its reservation: make room or fail the load."""
        if held <= resident.held_mb:
            return
        spec = resident.spec
        with self._lock:
            resident.held_mb = 0  # re-admit at the measured size
            try:
                _, victims = self._admit(spec, held, settings, cpu_ok=False)
            finally:
                resident.held_mb = held  # counted at its measure until committed or undone
            batch = self._take_victims(
                victims,
                attempt,
                lambda victim: records.regrowth_eviction_reason(
                    victim, settings.policy, spec.name, held
                ),
            )
        self._freer.free_all(batch)

    def _commit(self, resident: Resident, measured: int, duration: float) -> None:
        """The load is done. Its status is set last: from then on the load stands."""
        with self._lock:
            resident.measured_mb = measured
            resident.loaded_at = datetime.now(UTC)
            resident.load_duration_s = duration
            resident.last_used_at = resident.loaded_at
            resident.last_used_mono = self._clock()
            self.measured[resident.spec.name] = measured
            resident.status = ModelStatus.LOADED

    def _undo(self, resident: Resident, attempt: _Attempt, exc: BaseException) -> NoReturn:
        """Undo what the load did, then raise: victims not yet freed go back on the books,
        the model is closed and the device told, the reservation is dropped (the model
        stays counted, stranded, if it cannot be closed), and the row says why. What
        the undo itself raises is logged; an interrupt among it is raised in the end."""
        spec = resident.spec
        if resident.status == ModelStatus.LOADED or not attempt.admitted:
            raise exc  # it stands; or it was refused, or stopped, before anything was taken
        raised: list[BaseException] = []
        _quietly(raised, self._restore, attempt.victims)
        _quietly(raised, self._freer.close, resident)
        released = resident.model is None
        if released and not resident.on_cpu:
            _quietly(raised, self._freer.settle, spec.name, 0)
        with self._lock:
            if released:
                resident.held_mb = 0
            else:
                resident.doomed_cause = EventCause.FAULT
                resident.doomed = records.unclosed_reason(spec.name)
                resident.status = ModelStatus.ERROR
            self._lock.notify_all()
        oom = self.backend.is_out_of_memory(exc)
        where = "cpu" if resident.on_cpu else self.backend.name
        reason = records.load_failure_reason(spec, where, exc, oom)
        _quietly(raised, records.load_failed, self._sink, spec, reason, out_of_memory=oom)
        interrupt = next((e for e in raised if not isinstance(e, Exception)), None)
        if interrupt is not None:
            raise interrupt from exc
        if attempt.loading and isinstance(exc, Exception):
            raise ModelLoadFailed(reason, out_of_memory=oom) from exc
        raise exc

    def _restore(self, victims: list[Resident]) -> None:
        """Victims taken and not yet freed go back on the books, intact."""
        with self._lock:
            for victim in victims:
                self._books.restore(victim)
            self._lock.notify_all()

    def _admit(
        self, spec: ModelSpec, need: int, settings: ManagerSettings, *, cpu_ok: bool = True
    ) -> admission.Placement:
        """Where the model goes: (on the CPU?, idle models to evict first). Under the lock.

        Refuses a model larger than the whole budget before evicting anything.
        """
        room = admission.room_for(spec, settings, self.backend, self._books, cpu_ok=cpu_ok)
        idle = self._books.eviction_order(exclude=spec.name)
        return admission.admit(spec.name, need, room, idle)


def _quietly(raised: list[BaseException], call: Callable[..., object], *args: Any, **kw: Any):
    """Make one step of an undo: what it raises is logged and kept, and the undo goes on."""
    try:
        call(*args, **kw)
    except BaseException as exc:
        logger.warning("While undoing a load: %s: %s", type(exc).__name__, exc)
        raised.append(exc)
