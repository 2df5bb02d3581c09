"""What the manager knows of a registry entry: a plain, immutable copy.

The manager runs in worker threads and must not hold ORM objects across them; it reads
specs through a ``SpecSource`` that caches them briefly so an operator's enable/disable
takes effect within seconds without a query on every acquire.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from models_registry.models import EvictionPolicy, InferenceSettings, ModelEntry


class UnknownModel(LookupError):
    def __init__(self, name: str):
        super().__init__(f"Model '{name}' not found in registry")


@dataclass(frozen=True)
class ModelSpec:
    """A registry entry as the manager and the loaders see it."""

    id: int
    name: str
    display_name: str
    category: str
    loader: str
    path: str
    model_id: str
    vram_mb: int
    in_zoo: bool
    enabled: bool
    disabled_reason: str = ""
    pinned: bool = False
    priority: int = 0

    @classmethod
    def from_entry(cls, entry: ModelEntry) -> ModelSpec:
        return cls(
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


@dataclass(frozen=True)
class ManagerSettings:
    """The inference settings the manager acts on."""

    offload_threshold: float = 0.8
    zoo_pool_mb: int = 1650
    cpu_fallback: bool = False
    policy: str = EvictionPolicy.LRU
    keep_alive_s: float = 300.0

    @classmethod
    def from_row(cls, row: InferenceSettings) -> ManagerSettings:
        return cls(
            offload_threshold=row.offload_threshold,
            zoo_pool_mb=row.zoo_vram_budget_mb,
            cpu_fallback=row.cpu_fallback,
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
        spec = ModelSpec.from_entry(entry)
        with self._lock:
            self._specs[name] = (now, spec)
        return spec

    def settings(self) -> ManagerSettings:
        now = self._clock()
        cached = self._settings
        if cached and now - cached[0] < self._ttl:
            return cached[1]
        value = ManagerSettings.from_row(InferenceSettings.load())
        self._settings = (now, value)
        return value

    def invalidate(self) -> None:
        with self._lock:
            self._specs.clear()
            self._settings = None
