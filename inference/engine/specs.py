"""What the manager knows of a registry entry and of the settings: plain, immutable
copies. The manager runs in worker threads and must not hold ORM objects across them;
``inference.runtime.specs`` makes these from the database."""

from __future__ import annotations

from dataclasses import dataclass

from inference.engine.vocabulary import EvictionPolicy


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


@dataclass(frozen=True)
class ManagerSettings:
    """The inference settings the manager acts on."""

    offload_threshold: float = 0.8
    zoo_pool_mb: int = 1650
    cpu_fallback: bool = True  # task models: the Model Management document's degradation
    zoo_cpu_fallback: bool = False  # zoo models stay on the GPU unless configured
    policy: str = EvictionPolicy.LRU
    keep_alive_s: float = 300.0

    def cpu_fallback_for(self, spec: ModelSpec) -> bool:
        """Whether ``spec``, not fitting its device, may be placed on the CPU instead."""
        return self.zoo_cpu_fallback if spec.in_zoo else self.cpu_fallback
