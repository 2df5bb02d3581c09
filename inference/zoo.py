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
from collections.abc import AsyncIterator, Iterator
from typing import Any

from django.conf import settings

from inference.devices import DeviceBackend, backend_for, probe_default_device
from inference.loaders.base import ImageLike
from inference.manager import InferenceHook, Lease, Loaderfn, ModelManager
from inference.specs import ModelSpec, SpecSource
from inference.state import DatabaseStateSink


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


class ModelZoo:
    """One manager for the device this process serves, created on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._manager: ModelManager | None = None
        self._sink: DatabaseStateSink | None = None

    def configure(
        self,
        device: str | None = None,
        *,
        total_memory_mb: int | None = None,
        worker: str = "",
        on_inference: InferenceHook | None = None,
        loader: Loaderfn | None = None,
    ) -> ModelManager:
        """Bind this process to a device (``cpu``, ``cuda:N``, ``sim:N``) and register it.

        Without arguments: ``ZOO_WORKER_DEVICE``, else the probe's default device.
        """
        with self._lock:
            if self._manager is not None:
                raise RuntimeError(f"already serving {self._manager.backend.name}")
            name = device or settings.ZOO_WORKER_DEVICE or probe_default_device().name
            total = total_memory_mb or settings.ZOO_DEVICE_TOTAL_MEMORY_MB or None
            backend: DeviceBackend = backend_for(name, total)
            specs = SpecSource()
            self._sink = DatabaseStateSink(
                backend,
                budget_mb=backend.budget_mb(specs.settings().offload_threshold),
                worker=worker or f"{os.getpid()}@{socket.gethostname()}",
            )
            self._manager = ModelManager(
                backend, specs=specs, sink=self._sink, loader=loader, on_inference=on_inference
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

    def close(self) -> None:
        """Unload everything and stop writing state (worker shutdown)."""
        with self._lock:
            if self._manager is not None:
                self._manager.close()
            if self._sink is not None:
                self._sink.stop()
            self._manager = None
            self._sink = None


def _release_when_acquired(future: asyncio.Future[Lease]) -> None:
    if not future.cancelled() and future.exception() is None:
        future.result().release()


model_zoo = ModelZoo()
