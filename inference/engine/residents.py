"""What a manager holds: the models in memory (or loading), the leases on them, and the
books that say how much of the device they take.

Nothing here locks: every method of ``Books`` and every field of ``Resident`` is read and
written under the manager's ``_lock``, which the caller holds.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from inference.engine.devices import DeviceBackend
from inference.engine.errors import ManagerError
from inference.engine.loaders.base import ImageLike, LoadedModel
from inference.engine.specs import ModelSpec
from inference.engine.vocabulary import ModelStatus


@dataclass(eq=False)
class Resident:
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

    @property
    def stranded(self) -> bool:
        """Doomed, unused and still on the books: its going failed or was interrupted (its
        close failed, say). It counts until the next eviction, unload, reap or use of it
        frees it."""
        return bool(self.doomed) and self.leases == 0


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


class Books:
    """Residents by name, and those taken off the books whose memory is not yet freed.

    A taken resident still counts against the budget until ``freed``, so a load admitted
    meanwhile cannot count on memory that the device has not given back.
    """

    def __init__(self) -> None:
        self.residents: dict[str, Resident] = {}
        self._freeing: dict[int, Resident] = {}
        # Memory held on the device by servers outside this process (a server-run
        # option's server, while it answers): counted, never evicted (``reserve``).
        self.reserved: dict[str, int] = {}

    def reserve(self, wanted: dict[str, int]) -> tuple[list[str], list[str]]:
        """Hold exactly ``wanted`` (model name → MB) as the device's reservations, memory
        a server outside this process holds on it: counted as a model in use is, never
        evicted; nothing is loaded for it or freed when it goes. (added, released)."""
        added = [name for name in wanted if name not in self.reserved]
        released = [name for name in self.reserved if name not in wanted]
        self.reserved = dict(wanted)
        return added, released

    def get(self, name: str) -> Resident | None:
        return self.residents.get(name)

    def add(self, resident: Resident) -> None:
        self.residents[resident.spec.name] = resident

    def holds(self, resident: Resident) -> bool:
        """Whether this very resident (not a later one of the same name) is on the books."""
        return self.residents.get(resident.spec.name) is resident

    def drop(self, resident: Resident) -> None:
        """Forget a resident whose load failed; it held nothing left to free."""
        if self.holds(resident):
            del self.residents[resident.spec.name]

    def take(self, resident: Resident) -> Resident:
        """Remove a resident from the books; its memory counts as freeing until freed."""
        del self.residents[resident.spec.name]
        self._freeing[id(resident)] = resident
        return resident

    def freed(self, resident: Resident) -> None:
        self._freeing.pop(id(resident), None)

    def restore(self, resident: Resident) -> None:
        """Put a taken resident whose memory was not given back on the books again, as it
        was; it still counts meanwhile. A no-op once it is freed or back."""
        name = resident.spec.name
        if id(resident) in self._freeing and name not in self.residents:
            del self._freeing[id(resident)]
            self.residents[name] = resident

    def taken(self, resident: Resident) -> bool:
        """Whether this resident is off the books, its memory not yet freed."""
        return id(resident) in self._freeing

    def freeing(self, name: str) -> bool:
        """Whether a resident of that name is being freed (its name is not free yet)."""
        return any(r.spec.name == name for r in self._freeing.values())

    def held(self, *, zoo_only: bool = False) -> int:
        """MB counted against the budget: residents on the device and memory being freed."""
        return sum(
            r.held_mb
            for r in [*self.residents.values(), *self._freeing.values()]
            if not r.on_cpu and (r.spec.in_zoo or not zoo_only)
        ) + (0 if zoo_only else sum(self.reserved.values()))

    def in_use_mb(self) -> int:
        """MB on the device held by models with a lease (or a load) on them, and by the
        servers reserved on it."""
        leased = sum(r.held_mb for r in self.residents.values() if r.leases and not r.on_cpu)
        return leased + sum(self.reserved.values())

    def eviction_order(self, *, exclude: str) -> list[Resident]:
        """Idle, unpinned, loaded models: lowest priority first, then least recently used;
        stranded ones (see ``Resident.stranded``) before all, pinned or not."""
        idle = [
            r
            for r in self.residents.values()
            if r.leases == 0
            and not r.on_cpu
            and r.spec.name != exclude
            and (r.stranded or (r.status == ModelStatus.LOADED and not r.spec.pinned))
        ]
        return sorted(idle, key=lambda r: (not r.stranded, r.spec.priority, r.last_used_mono))

    def snapshot(self) -> dict[str, ResidentView]:
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
            for name, r in self.residents.items()
        }


class LeaseHolder(Protocol):
    """What a lease needs of the manager that granted it (``ModelManager``), named here
    so that this module does not import the manager, which imports it."""

    backend: DeviceBackend

    def _run(self, lease: Lease, image: ImageLike, options: dict[str, Any]) -> dict[str, Any]: ...

    def _run_many(
        self, lease: Lease, images: list[ImageLike], options: dict[str, Any]
    ) -> list[dict[str, Any]]: ...

    def _release(self, resident: Resident, lease: Lease | None = None) -> None: ...


class Lease:
    """The right to use a loaded model until released; a context manager.

    ``predict`` runs the model without any manager lock. Releasing twice is harmless:
    ``released`` is set by the manager under its lock, with the count it gives back.
    """

    def __init__(self, manager: LeaseHolder, resident: Resident, *, cold: bool):
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

    def predict_many(self, images: list[ImageLike], **options: Any) -> list[dict[str, Any]]:
        """``predict`` on each image with the same options, batched where the model can."""
        return self._manager._run_many(self, images, options)

    def release(self) -> None:
        if self._released:
            return
        try:
            self._manager._release(self._resident, self)
        except BaseException:
            if not self._released:  # interrupted before it was counted: count it now
                self._manager._release(self._resident, self)
            raise

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
