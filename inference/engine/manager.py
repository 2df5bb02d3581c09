"""The model manager: one per device, living in the worker process.

It keeps models in memory inside the device's budget and the zoo's pool, loads them one at a
time, shares one load among concurrent acquirers, never evicts a model in use, and writes every
transition through a ``StateSink`` so both APIs show what really happened.

Locks: ``_lock`` guards the bookkeeping and is only ever held briefly; ``_load_slot`` makes
loads sequential on the device and is held only by the thread that loads. Nobody holds a lock
while a model runs, and acquiring a model already in memory never waits for a load of another
model.

Every exit path leaves the books true. A worker's soft time limit raises an exception wherever
its main thread is (in the loader, the device, a sink write, a model's close or predict, or at
any call made here), so each step is written to be undone or completed, and then the exception
goes on:

- A load is two-phase (``loading``). Admission computes the room and the victims under
  ``_lock``, then reserves; every later step (the evictions, the ``loading`` row, the loader,
  the measure, the device's ``on_loaded``) runs under one handler that, on any exception
  (``BaseException`` included), undoes all of them: victims not yet freed go back on the books
  intact, the model is closed and the device told, the reservation is dropped and the row says
  ``error``; the loader's lease then takes the load off the books and wakes its waiters with the
  failure (``_unlease``). The load stands from its commit's last step (``status = loaded``) on:
  what raises after that (the ``loaded`` row, a hook) gives back only the acquirer's lease.
- A count (a lease taken or given back, a resident taken off the books) is made under ``_lock``
  and handed at once to the handler that undoes or completes it: an acquisition that raises
  gives its lease back, a lease is given back once, a resident taken to be freed is freed or put
  back.
- Memory stops counting only once it is really given back (``freeing``): a model whose close
  fails stays counted, in error, and is closed again by the next eviction, unload, reap or use
  (``Resident.stranded``). A close or device call interrupted is made once more, and so is each
  write of a record (``records.write_all``).
- Locks are taken only in ``with`` blocks: the lock and the load slot are free, and those
  waiting on a load are woken, on every exit.
- A failure of the load itself (loader, measure, device) that is an ``Exception`` is raised as
  ``ModelLoadFailed``; anything else is raised as it was.

The parts it decides with live beside it: ``residents`` (what is held, leases), ``admission``
(what fits, which idle models go), ``idle_policy`` (when an idle model leaves), ``freeing``
(giving memory back), ``records`` (what is written through the sink), ``errors`` (why not).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

from inference.engine import idle_policy, records
from inference.engine.devices import DeviceBackend
from inference.engine.errors import (
    ManagerError,
    ModelBusy,
    ModelDisabled,
    ModelLoadFailed,
    ModelNotLocal,
    ModelRefused,
    again,
)
from inference.engine.freeing import Freeing, Freer
from inference.engine.loaders.base import ImageLike, LoadedModel
from inference.engine.loading import Loading
from inference.engine.residents import Books, Lease, Resident, ResidentView
from inference.engine.sink import StateSink
from inference.engine.specs import ManagerSettings, ModelSpec
from inference.engine.vocabulary import EventCause, EventKind, Loader, ModelStatus

# What callers import from here; the exceptions and the lease live in their own modules.
__all__ = [
    "NOT_LOCAL",
    "InferenceHook",
    "Lease",
    "LoadHook",
    "Loaderfn",
    "ManagerError",
    "ModelBusy",
    "ModelDisabled",
    "ModelLoadFailed",
    "ModelManager",
    "ModelNotLocal",
    "ModelRefused",
    "SpecProvider",
]

logger = logging.getLogger(__name__)

NOT_LOCAL = (Loader.EXTERNAL, Loader.SERVER)

# What an acquirer does once its lease is counted.
_LOAD, _WAIT, _READY = "load", "wait for the load", "ready"


class _Step(NamedTuple):
    """A lease ``acquire`` counted: on what, and what it does next."""

    resident: Resident
    role: str


class SpecProvider(Protocol):
    """Where the manager reads entries and settings (``inference.runtime.specs.SpecSource``)."""

    def spec(self, name: str) -> ModelSpec: ...

    def settings(self) -> ManagerSettings: ...

    def invalidate(self) -> None: ...


Loaderfn = Callable[[ModelSpec, str], LoadedModel]
InferenceHook = Callable[[ModelSpec, str, float, bool], None]  # spec, device, seconds, cold
LoadHook = Callable[[ModelSpec, str, float], None]  # spec, device, seconds


class ModelManager:
    """Models in memory on one device, inside its budget."""

    def __init__(
        self,
        backend: DeviceBackend,
        *,
        specs: SpecProvider,
        sink: StateSink,
        loader: Loaderfn | None = None,
        on_inference: InferenceHook | None = None,
        on_load: LoadHook | None = None,
        clock: Callable[[], float] = time.monotonic,
        critical: Callable[[], AbstractContextManager[Any]] = nullcontext,
    ):
        """``critical`` wraps what a time limit must not cut: a loader's call, a close."""
        if loader is None:
            from inference.engine.loaders import load_model

            loader = load_model
        self.backend = backend
        self._specs = specs
        self._sink = sink
        self._on_inference = on_inference
        self._on_load = on_load
        self._clock = clock
        self._lock = threading.Condition()
        self._load_slot = threading.Lock()
        self._books = Books()
        self._freer = Freer(backend, sink, self._books, self._lock, critical)
        self._loading = Loading(
            backend,
            sink=sink,
            books=self._books,
            lock=self._lock,
            freer=self._freer,
            loader=loader,
            clock=clock,
            critical=critical,
        )

    # --- acquiring and releasing -----------------------------------------------------

    def acquire(self, name: str, *, batch: str | None = None) -> Lease:
        """A lease on the model, loading it first if needed (shared, one load at a time).

        Whatever is raised on the way, the lease counted for this call is given back:
        the count is the last thing done under the lock and is seen by the handler below
        from then on.
        """
        spec = self._usable(name)
        while True:
            counted: list[_Step] = []
            freeing: list[Freeing] = []
            try:
                try:
                    with self._lock:
                        self._next_step(spec, batch, counted, freeing)
                finally:
                    self._freer.free_all(freeing)  # a stranded model, first closed again
                if not counted:
                    continue
                step = counted[0]
                self._serve(step)
                return Lease(self, step.resident, cold=step.role != _READY)
            except BaseException as exc:
                if counted:
                    self._unlease(counted[0], exc)
                raise

    def _usable(self, name: str) -> ModelSpec:
        spec = self._specs.spec(name)
        if not spec.enabled:
            reason = f": {spec.disabled_reason}" if spec.disabled_reason else ""
            raise ModelDisabled(f"{name} is disabled{reason}")
        if spec.loader in NOT_LOCAL:
            raise ModelNotLocal(
                f"{name} is served by {spec.model_id or name} outside this process "
                f"({spec.loader}); it is never loaded into device memory"
            )
        return spec

    def _next_step(
        self, spec: ModelSpec, batch: str | None, counted: list[_Step], freeing: list[Freeing]
    ) -> None:
        """Count a lease (into ``counted``), putting the model on the books if it is not
        there; or wait for one on its way out; or take a stranded one off the books to be
        freed first (into ``freeing``). Under ``_lock``. A count goes into ``counted`` at
        once, a resident into ``freeing`` before it is taken: ``acquire``'s handlers see
        every change made here, whatever is raised."""
        resident = self._books.get(spec.name)
        if resident is not None and resident.stranded:
            why = records.unload_retried(spec.name)
            freeing.append(Freeing(resident, EventKind.UNLOAD, why, EventCause.FAULT))
            self._books.take(resident)
        elif (resident is not None and resident.doomed) or (
            resident is None and self._books.freeing(spec.name)
        ):
            self._lock.wait(timeout=1.0)  # on its way out; then load anew
        elif resident is None:
            resident = Resident(spec=spec, leases=1, batches={batch} if batch else set())
            step = _Step(resident, _LOAD)
            self._books.add(resident)
            counted.append(step)
        else:
            resident.spec = spec  # pins and priorities apply from the next use
            if batch:
                resident.batches.add(batch)
            role = _READY if resident.status == ModelStatus.LOADED else _WAIT
            if role == _READY:
                self._touch(resident, None)
            step = _Step(resident, role)
            resident.leases += 1
            counted.append(step)
            if role == _READY:  # under the lock, so that the rows see counts in order
                records.used(self._sink, spec, resident.leases, resident.last_used_at)

    def _serve(self, step: _Step) -> None:
        """Load the model, or wait for its load (a model loaded already is ready)."""
        if step.role == _LOAD:
            self._load_for_all(step.resident)
        elif step.role == _WAIT:
            self._wait_for_load(step.resident)

    def _load_for_all(self, resident: Resident) -> None:
        """Load the model, then wake those waiting on this load (a failed load wakes them
        in ``_unlease``)."""
        settings = self._specs.settings()
        with self._load_slot:
            self._loading.load(resident, settings)
        resident.ready.set()
        device = self.device_of(resident)
        logger.info("Loaded %s on %s", resident.spec.name, device)
        if self._on_load is not None and resident.load_duration_s is not None:
            self._on_load(resident.spec, device, resident.load_duration_s)

    def _unlease(self, step: _Step, exc: BaseException) -> None:
        """Give back a lease ``acquire`` counted and could not hand over. The loader's
        lease on a load that does not stand takes the load with it: it leaves the books
        (unless stranded), its leases are void, and its waiters get its failure."""
        resident = step.resident
        if step.role == _LOAD:
            standing = False
            try:
                with self._lock:
                    standing = resident.status == ModelStatus.LOADED
                    if not standing:
                        # A copy, not ``exc``: its traceback holds the loader's frames
                        # (and their tensors) in a cycle through this resident.
                        resident.error = (
                            again(exc)
                            if isinstance(exc, ManagerError)
                            else ModelLoadFailed(f"{type(exc).__name__}: {exc}")
                        )
                        resident.leases = 0
                        if not resident.stranded:
                            self._books.drop(resident)
                    self._lock.notify_all()
            finally:
                resident.ready.set()
            if not standing:
                return
        self._release(resident)

    def _wait_for_load(self, resident: Resident) -> None:
        """Another thread is loading the model: share its outcome."""
        resident.ready.wait()
        if resident.error is not None:
            raise again(resident.error) from resident.error
        with self._lock:
            self._touch(resident, None)

    def _touch(self, resident: Resident, batch: str | None) -> None:
        resident.last_used_at = datetime.now(UTC)
        resident.last_used_mono = self._clock()
        if batch:
            resident.batches.add(batch)

    def _release(self, resident: Resident, lease: Lease | None = None) -> None:
        """Give one lease back: ``lease``'s, counted once (its flag is set with the
        count), or the one ``acquire`` counted. A model doomed and now unused goes."""
        freeing: list[Freeing] = []
        try:
            with self._lock:
                if resident.error is not None:  # its load failed: its leases went with it
                    return
                if lease is not None:
                    if lease._released:
                        return
                    lease._released = True
                resident.leases -= 1
                self._touch(resident, None)
                if resident.leases == 0:
                    self._lock.notify_all()
                    self._retire_if_over(resident, freeing)
                if not freeing:  # under the lock, so that the rows see counts in order
                    records.used(self._sink, resident.spec, resident.leases, resident.last_used_at)
        finally:
            self._freer.free_all(freeing)

    def _retire_if_over(self, resident: Resident, freeing: list[Freeing]) -> None:
        """Its last lease is back: take it off the books (into ``freeing``) if it is doomed,
        or if ``after_batch`` is done with it. Under ``_lock``."""
        if not resident.doomed and idle_policy.over_after_use(resident, self._specs.settings()):
            resident.doomed_cause = EventCause.AFTER_BATCH
            resident.doomed = "after_batch: its use finished"
        if resident.doomed and self._books.holds(resident):
            item = Freeing(resident, EventKind.UNLOAD, resident.doomed, resident.doomed_cause)
            freeing.append(item)
            self._books.take(resident)

    def _run(self, lease: Lease, image: ImageLike, options: dict[str, Any]) -> dict[str, Any]:
        return self._run_many(lease, [image], options)[0]

    def _run_many(
        self, lease: Lease, images: list[ImageLike], options: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """The model on the images (one batched call); each image is recorded as one
        inference taking its share of the call's time, the first one cold if the lease
        paid for the load."""
        resident = lease._resident
        start = self._clock()
        try:
            results = lease.model.predict_many(images, **options)
        except Exception as exc:
            if self.backend.is_out_of_memory(exc):
                self._fault(resident, f"Out of memory while running {resident.spec.name}: {exc}")
                raise ModelLoadFailed(
                    f"Out of memory while running {resident.spec.name}", out_of_memory=True
                ) from exc
            raise
        if self._on_inference is not None and images:
            share = (self._clock() - start) / len(images)
            for index in range(len(images)):
                self._on_inference(resident.spec, lease.device, share, lease.cold and index == 0)
        return results

    def _fault(self, resident: Resident, reason: str) -> None:
        """A loaded model failed in a way that leaves it unusable: error, then unload."""
        with self._lock:
            resident.doomed_cause = EventCause.FAULT
            resident.doomed = reason  # first: doomed, it goes on release whatever follows
            resident.status = ModelStatus.ERROR
        records.faulted(self._sink, resident, reason)

    def device_of(self, resident: Resident) -> str:
        return "cpu" if resident.on_cpu else self.backend.name

    # --- unloading ---------------------------------------------------------------------

    def unload(
        self,
        name: str,
        *,
        wait_s: float = 0.0,
        reason: str = "",
        cause: str = EventCause.REQUEST,
    ) -> bool:
        """Unload a model. One in use is waited for up to ``wait_s``, else ``ModelBusy``.
        A stranded one (its close failed before) is closed again.

        Returns whether anything was unloaded.
        """
        deadline = self._clock() + wait_s
        why = reason or f"unloaded {name} on request"
        freeing: list[Freeing] = []
        try:
            with self._lock:
                resident = self._idle_or_stranded(name, deadline)
                if resident is None:
                    return False
                freeing.append(Freeing(resident, EventKind.UNLOAD, why, cause))
                self._books.take(resident)
        finally:
            self._freer.free_all(freeing)
        return True

    def _idle_or_stranded(self, name: str, deadline: float) -> Resident | None:
        """``unload``'s model once unused (None if there is nothing to unload). Under
        ``_lock``; waits until ``deadline`` for its leases, else ``ModelBusy``."""
        while True:
            resident = self._books.get(name)
            if resident is None:
                return None
            if resident.stranded:
                return resident
            if resident.status == ModelStatus.LOADING:
                raise ModelBusy(f"{name} is loading; unload it once it is loaded")
            if resident.status != ModelStatus.LOADED:
                return None
            if resident.leases == 0:
                return resident
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise ModelBusy(
                    f"{name} is in use ({resident.leases} lease(s)); it is unloaded only "
                    "once released"
                )
            self._lock.wait(timeout=remaining)

    def end_batch(self, batch: str) -> None:
        """A batch finished. Under ``after_batch``, idle models it used are unloaded."""
        why = f"after_batch: batch {batch} finished"
        freeing: list[Freeing] = []
        try:
            with self._lock:
                settings = self._specs.settings()
                for resident in list(self._books.residents.values()):
                    if batch not in resident.batches:
                        continue
                    resident.batches.discard(batch)
                    if idle_policy.over_after_batch(resident, settings):
                        freeing.append(
                            Freeing(resident, EventKind.UNLOAD, why, EventCause.AFTER_BATCH)
                        )
                        self._books.take(resident)
        finally:
            self._freer.free_all(freeing)

    def reap(self) -> list[str]:
        """Apply the registry and the idle policy: unload disabled models and, under
        ``keep_alive``, models idle longer than ``keep_alive_s``; free stranded ones.
        Returns their names."""
        settings = self._specs.settings()
        now = self._clock()
        freeing: list[Freeing] = []
        try:
            with self._lock:
                for resident in list(self._books.residents.values()):
                    verdict = self._reap_verdict(resident, settings, now)
                    if verdict is not None:
                        freeing.append(Freeing(resident, EventKind.UNLOAD, *verdict))
                        self._books.take(resident)
        finally:
            self._freer.free_all(freeing)
        return [item.resident.spec.name for item in freeing]

    def _reap_verdict(
        self, resident: Resident, settings: ManagerSettings, now: float
    ) -> tuple[str, str] | None:
        """(reason, cause) for ``reap`` to unload this resident, or None. Under ``_lock``."""
        name = resident.spec.name
        if resident.stranded:
            return records.unload_retried(name), EventCause.FAULT
        if resident.status != ModelStatus.LOADED or resident.leases:
            return None
        try:
            spec: ModelSpec | None = self._specs.spec(name)
        except LookupError:
            spec = None
        return idle_policy.reap_reason(resident, spec, settings, now)

    def close(self) -> None:
        """Unload every idle model (at worker shutdown)."""
        for name in list(self._books.residents):
            try:
                self.unload(
                    name,
                    reason=f"unloaded {name}: worker shutting down",
                    cause=EventCause.SHUTDOWN,
                )
            except ModelBusy:
                logger.warning("%s still in use at shutdown", name)
        self._sink.flush()

    def refresh(self) -> None:
        """Read registry entries and settings afresh on their next use."""
        self._specs.invalidate()

    def reserve(self, wanted: dict[str, int]) -> tuple[list[str], list[str]]:
        """Hold exactly ``wanted`` for servers outside this process (``Books.reserve``)."""
        with self._lock:
            self._lock.notify_all()  # a released reservation is room for those waiting
            return self._books.reserve(wanted)

    def snapshot(self) -> dict[str, ResidentView]:
        with self._lock:
            return self._books.snapshot()

    def held_mb(self) -> int:
        with self._lock:
            return self._books.held()
