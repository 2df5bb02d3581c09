"""Specs and settings from the database, for the engine (which never queries it).

``SpecSource`` caches them briefly, so an operator's enable/disable takes effect within
seconds without a query on every acquire.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from inference.engine.specs import ManagerSettings, ModelSpec, UnknownModel
from models_registry.models import InferenceSettings, ModelEntry


def spec_of(entry: ModelEntry) -> ModelSpec:
    """A registry entry as the manager and the loaders see it."""
    return ModelSpec(
        id=entry.pk,
        name=entry.name,
        display_name=entry.display_name,
        category=entry.category,
        loader=entry.loader,
        path=entry.path,
        model_id=entry.model_id,
        vram_mb=entry.vram_mb,
        in_zoo=entry.in_zoo,
        enabled=entry.enabled,
        disabled_reason=entry.disabled_reason,
        pinned=entry.pinned,
        priority=entry.priority,
    )


def settings_of(row: InferenceSettings) -> ManagerSettings:
    """The inference settings the manager acts on."""
    return ManagerSettings(
        offload_threshold=row.offload_threshold,
        zoo_pool_mb=row.zoo_vram_budget_mb,
        cpu_fallback=row.cpu_fallback,
        zoo_cpu_fallback=row.zoo_cpu_fallback,
        policy=row.eviction_policy,
        keep_alive_s=float(row.keep_alive_s),
    )


class SpecSource:
    """Specs and settings from the database, each cached for ``ttl`` seconds."""

    def __init__(self, ttl: float = 2.0, clock: Callable[[], float] = time.monotonic):
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._specs: dict[str, tuple[float, ModelSpec]] = {}
        self._settings: tuple[float, ManagerSettings] | None = None

    def spec(self, name: str) -> ModelSpec:
        now = self._clock()
        with self._lock:
            cached = self._specs.get(name)
        if cached and now - cached[0] < self._ttl:
            return cached[1]
        entry = ModelEntry.objects.filter(name=name).first()
        if entry is None:
            raise UnknownModel(name)
        spec = spec_of(entry)
        with self._lock:
            self._specs[name] = (now, spec)
        return spec

    def settings(self) -> ManagerSettings:
        now = self._clock()
        cached = self._settings
        if cached and now - cached[0] < self._ttl:
            return cached[1]
        value = settings_of(InferenceSettings.load())
        self._settings = (now, value)
        return value

    def invalidate(self) -> None:
        with self._lock:
            self._specs.clear()
            self._settings = None
