"""``model_zoo``: the process's entry point to its device's model manager.

The Model Zoo document's usage works as written::

    from inference import model_zoo

    async with model_zoo.load("yolo11-license-plate") as model:
        results = await model.predict(image)

and code that is not async uses the twin ``with model_zoo.load_sync(name) as model:``.
Entering acquires a lease (loading the model if needed); leaving releases it, on every
exit path. Only worker processes (and ``zoo_run``) use this: the web process never loads
a model.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

from django.conf import settings

from core.devices import device_name_checked
from fleet import services as fleet_services
from fleet.hardware import device_total_mb, probe_default_device
from fleet.models import Device
from inference.engine.devices import DeviceBackend, backend_for
from inference.engine.loaders.base import ImageLike
from inference.engine.manager import InferenceHook, Lease, Loaderfn, LoadHook, ModelManager
from inference.engine.specs import ModelSpec
from inference.runtime import interrupts
from inference.runtime.specs import SpecSource
from inference.runtime.state import DatabaseStateSink


class AsyncModel:
    """A leased model for async code: ``predict`` runs in a thread, off the event loop."""

    def __init__(self, lease: Lease):
        self._lease = lease

    @property
    def spec(self) -> ModelSpec:
        return self._lease.spec

    @property
    def device(self) -> str:
        return self._lease.device

    async def predict(self, image: ImageLike, **options: Any) -> dict[str, Any]:
        return await asyncio.to_thread(self._lease.predict, image, **options)


def device_backend(device: str = "", total_memory_mb: int | None = None) -> DeviceBackend:
    """The backend for a device of this machine, without touching it.

    ``device`` defaults to ``ZOO_WORKER_DEVICE``, else the probe's default device; its
    memory to ``ZOO_DEVICE_TOTAL_MEMORY_MB``, else what this machine has. Raises
    ``ValueError`` for a device string that is not ``cpu``, ``cuda:N`` or ``sim:N``, or
    that names no device here.
    """
    source = "--device" if device else "ZOO_WORKER_DEVICE"
    if not (device or settings.ZOO_WORKER_DEVICE):
        source = "ZOO_DEVICE"
    name = device or settings.ZOO_WORKER_DEVICE or probe_default_device().name
    device_name_checked(name, source=source)
    total = total_memory_mb or settings.ZOO_DEVICE_TOTAL_MEMORY_MB or device_total_mb(name)
    return backend_for(name, total, sim_load_mb_per_s=settings.ZOO_SIM_LOAD_MB_PER_S)


class ModelZoo:
    """One manager for the device this process serves, created on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._manager: ModelManager | None = None
        self._sink: DatabaseStateSink | None = None
        self.worker = ""  # "label-token:pid@host", once configured
        # Batches this process claimed (an attempt each), while it serves their items.
        self.claimed_batches: set[uuid.UUID] = set()
        # What wakes this process's scheduler when work arrives (None: no scheduler).
        self.on_work: Callable[[], None] | None = None
        self._on_inference: InferenceHook | None = None

    def notify_work(self) -> bool:
        """Wake the scheduler serving this device; False when none listens here."""
        if self.on_work is None:
            return False
        self.on_work()
        return True

    def configure(
        self,
        device: str | None = None,
        *,
        total_memory_mb: int | None = None,
        worker: str = "",
        worker_id: str = "",
        on_inference: InferenceHook | None = None,
        on_load: LoadHook | None = None,
        loader: Loaderfn | None = None,
    ) -> ModelManager:
        """Bind this process to a device (``cpu``, ``cuda:N``, ``sim:N``) and claim it.

        Without arguments: ``ZOO_WORKER_DEVICE``, else the probe's default device.
        ``worker_id`` continues a claim made by a parent process (``zoo_worker``);
        otherwise this process claims the device under a new id labelled ``worker``.
        """
        with self._lock:
            if self._manager is not None:
                raise RuntimeError(f"already serving {self._manager.backend.name}")
            backend = device_backend(device or "", total_memory_mb)
            specs = SpecSource()
            self.worker = worker_id or new_worker_id(worker or "zoo")
            claimed = claim_device(backend, self.worker, specs.settings().offload_threshold)
            self._sink = DatabaseStateSink(backend, device=claimed)
            self._on_inference = on_inference
            self._manager = ModelManager(
                backend,
                specs=specs,
                sink=self._sink,
                loader=loader,
                on_inference=on_inference,
                on_load=on_load,
                critical=interrupts.critical,
            )
            return self._manager

    @property
    def manager(self) -> ModelManager:
        if self._manager is None:
            self.configure()
        assert self._manager is not None
        return self._manager

    @contextlib.contextmanager
    def load_sync(self, name: str, *, batch: str | None = None) -> Iterator[Lease]:
        """A leased model for the duration of the block."""
        lease = self.manager.acquire(name, batch=batch)
        try:
            yield lease
        finally:
            lease.release()

    @contextlib.asynccontextmanager
    async def load(self, name: str, *, batch: str | None = None) -> AsyncIterator[AsyncModel]:
        """The async twin of ``load_sync``; a cancelled wait still releases its lease."""
        manager = self.manager
        pending = asyncio.ensure_future(asyncio.to_thread(manager.acquire, name, batch=batch))
        try:
            lease = await asyncio.shield(pending)
        except asyncio.CancelledError:
            pending.add_done_callback(_release_when_acquired)
            raise
        try:
            yield AsyncModel(lease)
        finally:
            await asyncio.to_thread(lease.release)

    def record_remote(self, spec: ModelSpec, seconds: float) -> None:
        """Record a call to a model served outside this process (a server-run or external
        option) as the manager records a predict: a latency sample, never cold."""
        if self._on_inference is not None:
            self._on_inference(spec, self.manager.backend.name, seconds, False)

    @property
    def device(self) -> Device:
        """The device row this process owns."""
        if self._sink is None:
            raise RuntimeError("model_zoo is not configured")
        return self._sink.device

    def close(self) -> None:
        """Unload everything, stop writing state and let the device go (shutdown)."""
        with self._lock:
            if self._manager is not None:
                self._manager.close()
            if self._sink is not None:
                self._sink.stop()
                fleet_services.device_release(device_id=self._sink.device.pk, worker=self.worker)
            self._manager = None
            self._sink = None
            self.claimed_batches.clear()


class DeviceBusy(RuntimeError):
    """Another live process owns this device."""


def new_worker_id(label: str) -> str:
    """Unique per process and per instance: ``label-token:pid@host``."""
    return f"{label}-{uuid.uuid4().hex[:6]}:{os.getpid()}@{socket.gethostname()}"


def claim_device(backend: DeviceBackend, worker: str, threshold: float) -> Device:
    """Claim the device for ``worker``, taking it over from a dead owner on this host;
    ``DeviceBusy`` if a live process owns it."""
    host = socket.gethostname()
    fields = {
        "host": host,
        "name": backend.name,
        "kind": backend.kind,
        "total_memory_mb": backend.total_memory_mb,
        "budget_mb": backend.budget_mb(threshold),
        "worker": worker,
        "stale_after_s": settings.ZOO_WORKER_HEARTBEAT_TIMEOUT_S,
    }
    claimed = fleet_services.device_claim(**fields)
    if claimed is None:
        holder = Device.objects.get(host=host, name=backend.name).worker
        if not _alive_here(holder, host):
            claimed = fleet_services.device_claim(**fields, take_over=True)
    if claimed is None:
        raise DeviceBusy(
            f"{backend.name} on {host} is served by {holder}; stop it or use another device"
        )
    return claimed


def _alive_here(worker: str, host: str) -> bool:
    """Whether a worker id ("label:pid@host") names a live process; other hosts are
    assumed alive (their heartbeat decides)."""
    label, _, where = worker.rpartition("@")
    pid = label.rpartition(":")[2]
    if where != host or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed process nobody reaped yet is a zombie: dead all the same
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] != "Z"


def _release_when_acquired(future: asyncio.Future[Lease]) -> None:
    if not future.cancelled() and future.exception() is None:
        future.result().release()


model_zoo = ModelZoo()
