"""The model manager: one per device, living in the worker process.

It keeps models in memory inside the device's budget and the zoo's pool, loads them one
at a time, shares one load among concurrent acquirers, never evicts a model in use, and
writes every transition through a ``StateSink`` so both APIs show what really happened.

Locks: ``_lock`` guards the bookkeeping and is only ever held briefly; ``_load_slot``
makes loads sequential on the device and is held only by the thread that loads. Nobody
holds a lock while a model runs, and acquiring a model already in memory never waits
for a load of another model.

The parts it decides with live beside it: ``residents`` (what is held, leases),
``admission`` (what fits, which idle models go), ``idle_policy`` (when an idle model
leaves), ``records`` (what is written through the sink), ``errors`` (why not).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NoReturn, Protocol

from inference.engine import admission, idle_policy, records
from inference.engine.devices import DeviceBackend, ceil_mb
from inference.engine.errors import (
    ManagerError,
    ModelBusy,
    ModelDisabled,
    ModelLoadFailed,
    ModelNotLocal,
    ModelRefused,
    again,
)
from inference.engine.loaders.base import ImageLike, LoadedModel
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
    "ResidentView",
    "SpecProvider",
]

logger = logging.getLogger(__name__)

NOT_LOCAL = (Loader.EXTERNAL, Loader.SERVER)


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
    ):
        if loader is None:
            from inference.engine.loaders import load_model

            loader = load_model
        self.backend = backend
        self._specs = specs
        self._sink = sink
        self._loader = loader
        self._on_inference = on_inference
        self._on_load = on_load
        self._clock = clock
        self._lock = threading.Condition()
        self._load_slot = threading.Lock()
        self._books = Books()
        self._measured: dict[str, int] = dict(sink.measured_sizes())

    # --- acquiring and releasing -----------------------------------------------------

    def acquire(self, name: str, *, batch: str | None = None) -> Lease:
        """A lease on the model, loading it first if needed (shared, one load at a time)."""
        spec = self._specs.spec(name)
        if not spec.enabled:
            reason = f": {spec.disabled_reason}" if spec.disabled_reason else ""
            raise ModelDisabled(f"{name} is disabled{reason}")
        if spec.loader in NOT_LOCAL:
            raise ModelNotLocal(
                f"{name} is served by {spec.model_id or name} outside this process "
                f"({spec.loader}); it is never loaded into device memory"
            )
        while True:
            with self._lock:
                resident = self._books.get(name)
                if resident is not None and resident.doomed:
                    self._lock.wait(timeout=1.0)  # it is on its way out; then load anew
                    continue
                if resident is None:
                    resident = Resident(spec=spec, leases=1)
                    self._books.add(resident)
                    loader_thread = True
                else:
                    resident.spec = spec  # pins and priorities apply from the next use
                    resident.leases += 1
                    loader_thread = False
                    if resident.status == ModelStatus.LOADED:
                        self._touch(resident, batch)
                        self._sink.usage(spec, resident.leases, resident.last_used_at)
                        return Lease(self, resident, cold=False)
                if batch:
                    resident.batches.add(batch)
                break
        if loader_thread:
            self._load_for_all(resident)
        else:
            self._wait_for_load(resident)
        return Lease(self, resident, cold=True)

    def _load_for_all(self, resident: Resident) -> None:
        """Load the model, then wake those waiting on this load with its outcome."""
        try:
            self._load(resident)
        except ManagerError as exc:
            with self._lock:
                resident.error = exc
                self._books.drop(resident)
                self._lock.notify_all()
            resident.ready.set()
            raise
        resident.ready.set()

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

    def _release(self, resident: Resident) -> None:
        to_free: Resident | None = None
        with self._lock:
            resident.leases -= 1
            self._touch(resident, None)
            if resident.leases == 0:
                settings = self._specs.settings()
                if not resident.doomed and idle_policy.over_after_use(resident, settings):
                    resident.doomed = "after_batch: its use finished"
                    resident.doomed_cause = EventCause.AFTER_BATCH
                if resident.doomed and self._books.holds(resident):
                    to_free = self._books.take(resident)
                self._lock.notify_all()
            leases = resident.leases
        if to_free is not None:
            self._free(to_free, EventKind.UNLOAD, to_free.doomed, to_free.doomed_cause)
        else:
            self._sink.usage(resident.spec, leases, resident.last_used_at)

    def _run(self, lease: Lease, image: ImageLike, options: dict[str, Any]) -> dict[str, Any]:
        resident = lease._resident
        start = self._clock()
        try:
            result = lease.model.predict(image, **options)
        except Exception as exc:
            if self.backend.is_out_of_memory(exc):
                self._fault(resident, f"Out of memory while running {resident.spec.name}: {exc}")
                raise ModelLoadFailed(
                    f"Out of memory while running {resident.spec.name}", out_of_memory=True
                ) from exc
            raise
        if self._on_inference is not None:
            self._on_inference(resident.spec, lease.device, self._clock() - start, lease.cold)
        return result

    def _fault(self, resident: Resident, reason: str) -> None:
        """A loaded model failed in a way that leaves it unusable: error, then unload."""
        with self._lock:
            resident.status = ModelStatus.ERROR
            resident.doomed = reason
            resident.doomed_cause = EventCause.FAULT
        records.faulted(self._sink, resident, reason)

    # --- loading -----------------------------------------------------------------------

    def _load(self, resident: Resident) -> None:
        spec = resident.spec
        with self._load_slot:
            self._admit_and_load(resident)
        logger.info("Loaded %s on %s", spec.name, self.device_of(resident))

    def device_of(self, resident: Resident) -> str:
        return "cpu" if resident.on_cpu else self.backend.name

    def _admit_and_load(self, resident: Resident) -> None:
        spec = resident.spec
        settings = self._specs.settings()
        need = max(spec.vram_mb, self._measured.get(spec.name, 0))
        self._reserve(resident, need, settings)
        device = "cpu" if resident.on_cpu else self.backend.torch_device
        self._sink.transition(
            spec, status=ModelStatus.LOADING, load_count=resident.leases, on_cpu=resident.on_cpu
        )
        started = self._clock()
        model, measured = self._load_and_measure(resident, device, need, settings)
        duration = self._clock() - started
        with self._lock:
            resident.model = model
            resident.status = ModelStatus.LOADED
            resident.measured_mb = measured
            resident.loaded_at = datetime.now(UTC)
            resident.load_duration_s = duration
            self._touch(resident, None)
            self._measured[spec.name] = measured
        records.loaded(
            self._sink, resident, self.backend.name, measured=measured, duration=duration
        )
        if self._on_load is not None:
            self._on_load(spec, self.device_of(resident), duration)

    def _reserve(self, resident: Resident, need: int, settings: ManagerSettings) -> None:
        """Admit the model at ``need`` MB and evict the idle models it needs gone.

        A refusal is recorded and raised before anything is evicted.
        """
        spec = resident.spec
        try:
            with self._lock:
                on_cpu, victims = self._admit(spec, need, settings)
                taken = [self._books.take(victim) for victim in victims]
                resident.on_cpu = on_cpu
                resident.held_mb = 0 if on_cpu else need
        except ModelRefused as refusal:
            records.refused(self._sink, spec, refusal, need)
            raise
        for victim in taken:
            idle = self._clock() - victim.last_used_mono
            self._free(
                victim,
                EventKind.EVICT,
                records.eviction_reason(victim, settings.policy, idle, spec.name),
                EventCause.MAKE_ROOM,
            )

    def _load_and_measure(
        self, resident: Resident, device: str, need: int, settings: ManagerSettings
    ) -> tuple[LoadedModel, int]:
        """Call the loader and measure what it took; on any failure, undo and raise."""
        spec = resident.spec
        model: LoadedModel | None = None
        try:
            mark = 0 if resident.on_cpu else self.backend.memory_mark()
            model = self._loader(spec, device)
            if resident.on_cpu:
                measured = ceil_mb(model.tensor_bytes())
            else:
                measured = self.backend.measure(model, mark)
                held = max(need, measured)
                self._grow(resident, held, settings)
                self.backend.on_loaded(spec.name, held)
        except Exception as exc:
            self._abort_load(resident, model, exc)
        return model, measured

    def _grow(self, resident: Resident, held: int, settings: ManagerSettings) -> None:
        """The model measured larger than its reservation: make room or fail the load."""
        if held <= resident.held_mb:
            return
        with self._lock:
            extra_need = held
            resident.held_mb = 0  # re-admit at the measured size
            try:
                _, victims = self._admit(resident.spec, extra_need, settings, cpu_ok=False)
            except ModelRefused:
                resident.held_mb = held  # keep it counted until the abort frees it
                raise
            taken = [self._books.take(victim) for victim in victims]
            resident.held_mb = held
        for victim in taken:
            self._free(
                victim,
                EventKind.EVICT,
                records.regrowth_eviction_reason(victim, settings.policy, resident.spec.name, held),
                EventCause.MAKE_ROOM,
            )

    def _abort_load(
        self, resident: Resident, model: LoadedModel | None, exc: Exception
    ) -> NoReturn:
        spec = resident.spec
        out_of_memory = self.backend.is_out_of_memory(exc)
        if model is not None:
            model.close()
        self.backend.on_unloaded(spec.name)
        with self._lock:
            resident.held_mb = 0
        if out_of_memory:
            reason = f"Out of memory while loading {spec.name} on {self.device_of(resident)}: {exc}"
        elif isinstance(exc, ManagerError):
            reason = str(exc)
        else:
            reason = f"{type(exc).__name__}: {exc}"
        records.load_failed(self._sink, spec, reason, out_of_memory=out_of_memory)
        raise ModelLoadFailed(reason, out_of_memory=out_of_memory) from exc

    def _admit(
        self, spec: ModelSpec, need: int, settings: ManagerSettings, *, cpu_ok: bool = True
    ) -> admission.Placement:
        """Where the model goes: (on the CPU?, idle models to evict first). Under ``_lock``.

        Refuses a model larger than the whole budget before evicting anything.
        """
        room = admission.room_for(spec, settings, self.backend, self._books, cpu_ok=cpu_ok)
        idle = self._books.eviction_order(exclude=spec.name)
        return admission.admit(spec.name, need, room, idle)

    # --- unloading ---------------------------------------------------------------------

    def _free(self, resident: Resident, kind: str, reason: str, cause: str) -> None:
        """Give a taken resident's memory back, then record it."""
        spec = resident.spec
        mark = 0 if resident.on_cpu else self.backend.memory_mark()
        if resident.model is not None:
            resident.model.close()
            resident.model = None
        freed = None if resident.on_cpu else self.backend.on_unloaded(spec.name, mark)
        if freed is not None:
            reason += f"; freed {freed} MB"
            expected = resident.measured_mb or 0
            if freed < expected // 2:
                reason += f", expected about {expected} MB: something still holds its tensors"
                logger.warning("%s", reason)
        with self._lock:
            self._books.freed(resident)
            self._lock.notify_all()
        records.freed(self._sink, resident, kind, reason, cause)
        logger.info("%s", reason)

    def unload(
        self,
        name: str,
        *,
        wait_s: float = 0.0,
        reason: str = "",
        cause: str = EventCause.REQUEST,
    ) -> bool:
        """Unload a model. One in use is waited for up to ``wait_s``, else ``ModelBusy``.

        Returns whether anything was unloaded.
        """
        deadline = self._clock() + wait_s
        with self._lock:
            while True:
                resident = self._books.get(name)
                if resident is None or resident.status != ModelStatus.LOADED:
                    if resident is not None and resident.status == ModelStatus.LOADING:
                        raise ModelBusy(f"{name} is loading; unload it once it is loaded")
                    return False
                if resident.leases == 0:
                    break
                remaining = deadline - self._clock()
                if remaining <= 0:
                    raise ModelBusy(
                        f"{name} is in use ({resident.leases} lease(s)); it is unloaded only "
                        "once released"
                    )
                self._lock.wait(timeout=remaining)
            taken = self._books.take(resident)
        self._free(taken, EventKind.UNLOAD, reason or f"unloaded {name} on request", cause)
        return True

    def end_batch(self, batch: str) -> None:
        """A batch finished. Under ``after_batch``, idle models it used are unloaded."""
        to_free = []
        with self._lock:
            settings = self._specs.settings()
            for resident in list(self._books.residents.values()):
                if batch not in resident.batches:
                    continue
                resident.batches.discard(batch)
                if idle_policy.over_after_batch(resident, settings):
                    to_free.append(self._books.take(resident))
        for resident in to_free:
            self._free(
                resident,
                EventKind.UNLOAD,
                f"after_batch: batch {batch} finished",
                EventCause.AFTER_BATCH,
            )

    def reap(self) -> list[str]:
        """Apply the registry and the idle policy: unload disabled models and, under
        ``keep_alive``, models idle longer than ``keep_alive_s``. Returns their names."""
        settings = self._specs.settings()
        now = self._clock()
        to_free: list[tuple[Resident, str, str]] = []
        with self._lock:
            for resident in list(self._books.residents.values()):
                if resident.status != ModelStatus.LOADED or resident.leases:
                    continue
                try:
                    spec: ModelSpec | None = self._specs.spec(resident.spec.name)
                except LookupError:
                    spec = None
                verdict = idle_policy.reap_reason(resident, spec, settings, now)
                if verdict is not None:
                    reason, cause = verdict
                    to_free.append((self._books.take(resident), reason, cause))
        for resident, reason, cause in to_free:
            self._free(resident, EventKind.UNLOAD, reason, cause)
        return [resident.spec.name for resident, _, _ in to_free]

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

    # --- views ---------------------------------------------------------------------------

    def snapshot(self) -> dict[str, ResidentView]:
        with self._lock:
            return self._books.snapshot()

    def held_mb(self) -> int:
        with self._lock:
            return self._books.held()
