"""The model manager: one per device, living in the worker process.

It keeps models in memory inside the device's budget and the zoo's pool, loads them one
at a time, shares one load among concurrent acquirers, never evicts a model in use, and
writes every transition through a ``StateSink`` so both APIs show what really happened.

Locks: ``_lock`` guards the bookkeeping and is only ever held briefly; ``_load_slot``
makes loads sequential on the device and is held only by the thread that loads. Nobody
holds a lock while a model runs, and acquiring a model already in memory never waits
for a load of another model.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from inference.engine.devices import DeviceBackend, ceil_mb
from inference.engine.loaders.base import ImageLike, LoadedModel
from inference.engine.sink import StateSink
from inference.engine.specs import ManagerSettings, ModelSpec
from inference.engine.vocabulary import EventCause, EventKind, EvictionPolicy, Loader, ModelStatus

logger = logging.getLogger(__name__)

NOT_LOCAL = (Loader.EXTERNAL, Loader.SERVER)


class ManagerError(RuntimeError):
    """A model could not be provided; the message is the reason, for people."""


class ModelDisabled(ManagerError):
    pass


class ModelNotLocal(ManagerError):
    """An external-API or separate-server model: nothing to load in this process."""


class ModelRefused(ManagerError):
    """Admission said no: too large for the budget, or no room beside models in use."""


class ModelLoadFailed(ManagerError):
    """The load itself failed (missing or corrupt weights, out of memory, ...)."""

    def __init__(self, message: str, *, out_of_memory: bool = False):
        super().__init__(message)
        self.out_of_memory = out_of_memory


class ModelBusy(ManagerError):
    """An unload was asked of a model still in use."""


class SpecProvider(Protocol):
    """Where the manager reads entries and settings (``inference.worker.specs.SpecSource``)."""

    def spec(self, name: str) -> ModelSpec: ...

    def settings(self) -> ManagerSettings: ...

    def invalidate(self) -> None: ...


@dataclass(eq=False)
class _Resident:
    """A model the manager holds or is loading; its memory counts while it is here."""

    spec: ModelSpec
    status: str = ModelStatus.LOADING
    leases: int = 0
    held_mb: int = 0
    on_cpu: bool = False
    model: LoadedModel | None = None
    measured_mb: int | None = None
    loaded_at: datetime | None = None
    last_used_at: datetime | None = None
    last_used_mono: float = 0.0
    load_duration_s: float | None = None
    ready: threading.Event = field(default_factory=threading.Event)
    error: ManagerError | None = None
    doomed: str = ""  # why it must go as soon as nobody uses it
    doomed_cause: str = ""
    batches: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class ResidentView:
    """A read-only view of a resident model, for status and tests."""

    name: str
    status: str
    leases: int
    held_mb: int
    on_cpu: bool
    measured_mb: int | None
    load_duration_s: float | None


class Lease:
    """The right to use a loaded model until released; a context manager.

    ``predict`` runs the model without any manager lock. Releasing twice is harmless.
    """

    def __init__(self, manager: ModelManager, resident: _Resident, *, cold: bool):
        self._manager = manager
        self._resident = resident
        self._released = False
        self.cold = cold  # this acquisition paid for the load

    @property
    def spec(self) -> ModelSpec:
        return self._resident.spec

    @property
    def model(self) -> LoadedModel:
        model = self._resident.model
        if model is None or self._released:
            raise ManagerError(f"the lease on {self.spec.name} was released")
        return model

    @property
    def device(self) -> str:
        return "cpu" if self._resident.on_cpu else self._manager.backend.name

    def predict(self, image: ImageLike, **options: Any) -> dict[str, Any]:
        return self._manager._run(self, image, options)

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._manager._release(self._resident)

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


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
        self._residents: dict[str, _Resident] = {}
        self._freeing: dict[int, _Resident] = {}  # taken off the books, not yet freed
        self._measured: dict[str, int] = dict(sink.measured_sizes())
        self.loads_in_flight = 0
        self.peak_loads_in_flight = 0

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
                resident = self._residents.get(name)
                if resident is not None and resident.doomed:
                    self._lock.wait(timeout=1.0)  # it is on its way out; then load anew
                    continue
                if resident is None:
                    resident = _Resident(spec=spec, leases=1)
                    self._residents[name] = resident
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
        if not loader_thread:
            resident.ready.wait()
            if resident.error is not None:
                raise _again(resident.error) from resident.error
            with self._lock:
                self._touch(resident, None)
            return Lease(self, resident, cold=True)
        try:
            self._load(resident)
        except ManagerError as exc:
            with self._lock:
                resident.error = exc
                if self._residents.get(name) is resident:
                    del self._residents[name]
                self._lock.notify_all()
            resident.ready.set()
            raise
        resident.ready.set()
        return Lease(self, resident, cold=True)

    def _touch(self, resident: _Resident, batch: str | None) -> None:
        resident.last_used_at = datetime.now(UTC)
        resident.last_used_mono = self._clock()
        if batch:
            resident.batches.add(batch)

    def _release(self, resident: _Resident) -> None:
        to_free: _Resident | None = None
        with self._lock:
            resident.leases -= 1
            self._touch(resident, None)
            if resident.leases == 0:
                settings = self._specs.settings()
                if (
                    not resident.doomed
                    and settings.policy == EvictionPolicy.AFTER_BATCH
                    and not resident.batches
                    and not resident.spec.pinned
                ):
                    resident.doomed = "after_batch: its use finished"
                    resident.doomed_cause = EventCause.AFTER_BATCH
                if resident.doomed and self._residents.get(resident.spec.name) is resident:
                    to_free = self._take(resident)
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

    def _fault(self, resident: _Resident, reason: str) -> None:
        """A loaded model failed in a way that leaves it unusable: error, then unload."""
        with self._lock:
            resident.status = ModelStatus.ERROR
            resident.doomed = reason
            resident.doomed_cause = EventCause.FAULT
        self._sink.transition(
            resident.spec,
            status=ModelStatus.ERROR,
            load_count=resident.leases,
            last_error=reason,
            error_count_increment=1,
        )
        self._sink.event(resident.spec, EventKind.FAIL, reason, cause=EventCause.INFERENCE_FAULT)

    # --- loading -----------------------------------------------------------------------

    def _load(self, resident: _Resident) -> None:
        spec = resident.spec
        with self._load_slot:
            with self._lock:
                self.loads_in_flight += 1
                self.peak_loads_in_flight = max(self.peak_loads_in_flight, self.loads_in_flight)
            try:
                self._admit_and_load(resident)
            finally:
                with self._lock:
                    self.loads_in_flight -= 1
        logger.info("Loaded %s on %s", spec.name, self.device_of(resident))

    def device_of(self, resident: _Resident) -> str:
        return "cpu" if resident.on_cpu else self.backend.name

    def _admit_and_load(self, resident: _Resident) -> None:
        spec = resident.spec
        settings = self._specs.settings()
        need = max(spec.vram_mb, self._measured.get(spec.name, 0))
        try:
            with self._lock:
                on_cpu, victims = self._admit(spec, need, settings)
                taken = [self._take(victim) for victim in victims]
                resident.on_cpu = on_cpu
                resident.held_mb = 0 if on_cpu else need
        except ModelRefused as refusal:
            self._sink.transition(
                spec,
                status=ModelStatus.ERROR,
                load_count=0,
                last_error=str(refusal),
                error_count_increment=1,
            )
            self._sink.event(
                spec, EventKind.REFUSE, str(refusal), memory_mb=need, cause=EventCause.REFUSED
            )
            raise
        for victim in taken:
            idle = self._clock() - victim.last_used_mono
            self._free(
                victim,
                EventKind.EVICT,
                f"evicted {victim.spec.name} ({settings.policy}, idle {_age(idle)}, "
                f"{victim.held_mb} MB) to fit {spec.name}",
                EventCause.MAKE_ROOM,
            )
        device = "cpu" if resident.on_cpu else self.backend.torch_device
        self._sink.transition(
            spec, status=ModelStatus.LOADING, load_count=resident.leases, on_cpu=resident.on_cpu
        )
        started = self._clock()
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
        duration = self._clock() - started
        with self._lock:
            resident.model = model
            resident.status = ModelStatus.LOADED
            resident.measured_mb = measured
            resident.loaded_at = datetime.now(UTC)
            resident.load_duration_s = duration
            self._touch(resident, None)
            self._measured[spec.name] = measured
        self._sink.transition(
            spec,
            status=ModelStatus.LOADED,
            load_count=resident.leases,
            measured_mb=measured,
            loaded_at=resident.loaded_at,
            last_used_at=resident.last_used_at,
            load_duration_s=duration,
            on_cpu=resident.on_cpu,
            last_error="",
        )
        where = "on the CPU (fallback)" if resident.on_cpu else f"on {self.backend.name}"
        self._sink.event(
            spec,
            EventKind.CPU_FALLBACK if resident.on_cpu else EventKind.LOAD,
            f"loaded {spec.name} {where} in {duration:.2f} s "
            f"(estimate {spec.vram_mb} MB, measured {measured} MB)",
            # What counts against the budget, so the log alone can audit it.
            memory_mb=measured if resident.on_cpu else resident.held_mb,
            duration_s=duration,
            cause=EventCause.LOADED,
        )
        if self._on_load is not None:
            self._on_load(spec, self.device_of(resident), duration)

    def _grow(self, resident: _Resident, held: int, settings: ManagerSettings) -> None:
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
            taken = [self._take(victim) for victim in victims]
            resident.held_mb = held
        for victim in taken:
            self._free(
                victim,
                EventKind.EVICT,
                f"evicted {victim.spec.name} ({settings.policy}, {victim.held_mb} MB) to fit "
                f"{resident.spec.name}, which measured {held} MB",
                EventCause.MAKE_ROOM,
            )

    def _abort_load(self, resident: _Resident, model: LoadedModel | None, exc: Exception) -> None:
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
        self._sink.transition(
            spec,
            status=ModelStatus.ERROR,
            load_count=0,
            last_error=reason,
            error_count_increment=1,
            on_cpu=False,
        )
        cause = EventCause.OUT_OF_MEMORY if out_of_memory else EventCause.LOAD_ERROR
        self._sink.event(spec, EventKind.FAIL, reason, cause=cause)
        raise ModelLoadFailed(reason, out_of_memory=out_of_memory) from exc

    def _admit(
        self, spec: ModelSpec, need: int, settings: ManagerSettings, *, cpu_ok: bool = True
    ) -> tuple[bool, list[_Resident]]:
        """Where the model goes: (on the CPU?, idle models to evict first). Under ``_lock``.

        Refuses a model larger than the whole budget before evicting anything.
        """
        fallback = cpu_ok and settings.cpu_fallback and self.backend.kind != "cpu"
        budget = self.backend.budget_mb(settings.offload_threshold)
        pool = min(settings.zoo_pool_mb, budget) if spec.in_zoo else None
        where = self.backend.name
        if need > budget or (pool is not None and need > pool):
            if fallback:
                return True, []
            too_big_for_pool = pool is not None and need > pool
            limit, label = (pool, "zoo pool") if too_big_for_pool else (budget, "device budget")
            raise ModelRefused(
                f"{spec.name} needs {need} MB, more than the whole {label} of {limit} MB "
                f"on {where}; nothing was evicted"
            )
        device_free = budget - self._held()
        pool_free = (pool - self._held(zoo_only=True)) if pool is not None else 0
        victims: list[_Resident] = []

        def fits() -> bool:
            return need <= device_free and (pool is None or need <= pool_free)

        for candidate in self._eviction_order(exclude=spec.name):
            if fits():
                break
            helps_pool = pool is not None and need > pool_free and candidate.spec.in_zoo
            if need > device_free or helps_pool:
                victims.append(candidate)
                device_free += candidate.held_mb
                if candidate.spec.in_zoo:
                    pool_free += candidate.held_mb
        if fits():
            return False, self._only_needed(victims, need, device_free, pool_free, pool)
        if fallback:
            return True, []
        in_use = sum(r.held_mb for r in self._residents.values() if r.leases and not r.on_cpu)
        raise ModelRefused(
            f"no room for {spec.name} ({need} MB) on {where}: {budget - self._held()} MB of "
            f"the {budget} MB budget free"
            + (f", {max(0, pool_free)} MB of the {pool} MB zoo pool" if pool is not None else "")
            + f"; {in_use} MB held by models in use or pinned cannot be evicted"
        )

    @staticmethod
    def _only_needed(
        victims: list[_Resident], need: int, device_free: int, pool_free: int, pool: int | None
    ) -> list[_Resident]:
        """Spare the victims the load turns out not to need, most recently used first.

        Victims are chosen oldest first until the model fits; when a large one late in
        that order frees enough on its own, the small ones before it need not go (the
        small always-used depth model, say, need not be reloaded on every batch).
        """
        kept = list(victims)
        for victim in reversed(victims):
            in_pool = pool is not None and victim.spec.in_zoo
            device_after = device_free - victim.held_mb
            pool_after = pool_free - victim.held_mb if in_pool else pool_free
            if need <= device_after and (pool is None or need <= pool_after):
                kept.remove(victim)
                device_free, pool_free = device_after, pool_after
        return kept

    def _held(self, *, zoo_only: bool = False) -> int:
        """MB counted against the budget: residents on the device and memory being freed."""
        return sum(
            r.held_mb
            for r in [*self._residents.values(), *self._freeing.values()]
            if not r.on_cpu and (r.spec.in_zoo or not zoo_only)
        )

    def _eviction_order(self, *, exclude: str) -> list[_Resident]:
        """Idle, unpinned, loaded models: lowest priority first, then least recently used."""
        idle = [
            r
            for r in self._residents.values()
            if r.status == ModelStatus.LOADED
            and r.leases == 0
            and not r.spec.pinned
            and not r.on_cpu
            and r.spec.name != exclude
        ]
        return sorted(idle, key=lambda r: (r.spec.priority, r.last_used_mono))

    # --- unloading ---------------------------------------------------------------------

    def _take(self, resident: _Resident) -> _Resident:
        """Remove a resident from the books; its memory counts as freeing until freed."""
        del self._residents[resident.spec.name]
        self._freeing[id(resident)] = resident
        return resident

    def _free(self, resident: _Resident, kind: str, reason: str, cause: str) -> None:
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
            self._freeing.pop(id(resident), None)
            self._lock.notify_all()
        fields: dict[str, Any] = {"load_count": 0, "on_cpu": False}
        if resident.status != ModelStatus.ERROR:
            fields["status"] = ModelStatus.UNLOADED
        self._sink.transition(spec, **fields)
        self._sink.event(spec, kind, reason, memory_mb=resident.held_mb or None, cause=cause)
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
                resident = self._residents.get(name)
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
            taken = self._take(resident)
        self._free(taken, EventKind.UNLOAD, reason or f"unloaded {name} on request", cause)
        return True

    def end_batch(self, batch: str) -> None:
        """A batch finished. Under ``after_batch``, idle models it used are unloaded."""
        to_free = []
        with self._lock:
            after_batch = self._specs.settings().policy == EvictionPolicy.AFTER_BATCH
            for resident in list(self._residents.values()):
                if batch not in resident.batches:
                    continue
                resident.batches.discard(batch)
                if (
                    after_batch
                    and not resident.batches
                    and resident.leases == 0
                    and resident.status == ModelStatus.LOADED
                    and not resident.spec.pinned
                ):
                    to_free.append(self._take(resident))
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
        to_free: list[tuple[_Resident, str, str]] = []
        with self._lock:
            for resident in list(self._residents.values()):
                if resident.status != ModelStatus.LOADED or resident.leases:
                    continue
                try:
                    spec = self._specs.spec(resident.spec.name)
                except LookupError:
                    spec = None
                if spec is None or not spec.enabled:
                    why = "deleted from" if spec is None else "disabled in"
                    reason = f"unloaded {resident.spec.name}: {why} the registry"
                    cause: str = EventCause.REGISTRY
                elif (
                    settings.policy == EvictionPolicy.KEEP_ALIVE
                    and not spec.pinned
                    and now - resident.last_used_mono >= settings.keep_alive_s
                ):
                    idle = _age(now - resident.last_used_mono)
                    reason = f"unloaded {spec.name}: keep_alive, idle {idle}"
                    cause = EventCause.KEEP_ALIVE
                else:
                    continue
                to_free.append((self._take(resident), reason, cause))
        for resident, reason, cause in to_free:
            self._free(resident, EventKind.UNLOAD, reason, cause)
        return [resident.spec.name for resident, _, _ in to_free]

    def close(self) -> None:
        """Unload every idle model (at worker shutdown)."""
        for name in list(self._residents):
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
            return {
                name: ResidentView(
                    name=name,
                    status=r.status,
                    leases=r.leases,
                    held_mb=r.held_mb,
                    on_cpu=r.on_cpu,
                    measured_mb=r.measured_mb,
                    load_duration_s=r.load_duration_s,
                )
                for name, r in self._residents.items()
            }

    def held_mb(self) -> int:
        with self._lock:
            return self._held()


def _again(exc: ManagerError) -> ManagerError:
    """A fresh copy of a load's failure for each thread that waited on that load."""
    if isinstance(exc, ModelLoadFailed):
        return ModelLoadFailed(str(exc), out_of_memory=exc.out_of_memory)
    return type(exc)(str(exc))


def _age(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
