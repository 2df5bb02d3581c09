"""Admission: whether a model of a given size fits on the device, inside both the device
budget and (for a zoo model) the zoo pool, and which idle models must be evicted first.

Pure decisions on figures the manager reads under its lock: nothing here evicts, loads
or writes; the manager does what the answer says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from inference.engine.devices import DeviceBackend
from inference.engine.errors import ModelRefused, ModelTooLarge
from inference.engine.residents import Books, Resident
from inference.engine.specs import ManagerSettings, ModelSpec


@dataclass(frozen=True)
class Room:
    """The device as admission sees it at one moment."""

    where: str  # the device's name, for the reasons
    budget_mb: int
    pool_mb: int | None  # the zoo pool (at most the budget) for a zoo model; else None
    held_mb: int  # counted against the budget now, memory being freed included
    held_zoo_mb: int
    in_use_mb: int  # held by models in use or loading: it cannot be evicted
    cpu_fallback: bool  # this model, not fitting, may run on the CPU instead


class Placement(NamedTuple):
    on_cpu: bool
    victims: list[Resident]  # idle models to evict before the load, in this order


def room_for(
    spec: ModelSpec,
    settings: ManagerSettings,
    backend: DeviceBackend,
    books: Books,
    *,
    cpu_ok: bool = True,
) -> Room:
    """The room ``spec`` would load into. Read under the manager's lock.

    CPU fallback is the setting of the model's kind: ``cpu_fallback`` for a task model,
    ``zoo_cpu_fallback`` for a zoo model."""
    budget = backend.budget_mb(settings.offload_threshold)
    return Room(
        where=backend.name,
        budget_mb=budget,
        pool_mb=min(settings.zoo_pool_mb, budget) if spec.in_zoo else None,
        held_mb=books.held(),
        held_zoo_mb=books.held(zoo_only=True),
        in_use_mb=books.in_use_mb(),
        cpu_fallback=cpu_ok and settings.cpu_fallback_for(spec) and backend.kind != "cpu",
    )


def admit(name: str, need: int, room: Room, idle: list[Resident]) -> Placement:
    """Where a model needing ``need`` MB goes, evicting from ``idle`` (in eviction order).

    Refuses a model larger than the whole budget or pool before choosing any victim;
    falls back to the CPU, where allowed, instead of refusing.
    """
    pool = room.pool_mb
    if need > room.budget_mb or (pool is not None and need > pool):
        if room.cpu_fallback:
            return Placement(True, [])
        raise _larger_than_everything(name, need, room)
    device_free = room.budget_mb - room.held_mb
    pool_free = (pool - room.held_zoo_mb) if pool is not None else 0
    victims: list[Resident] = []

    def fits() -> bool:
        return need <= device_free and (pool is None or need <= pool_free)

    for candidate in idle:
        if fits():
            break
        helps_pool = pool is not None and need > pool_free and candidate.spec.in_zoo
        if need > device_free or helps_pool:
            victims.append(candidate)
            device_free += candidate.held_mb
            if candidate.spec.in_zoo:
                pool_free += candidate.held_mb
    if fits():
        return Placement(False, only_needed(victims, need, device_free, pool_free, pool))
    if room.cpu_fallback:
        return Placement(True, [])
    raise _no_room(name, need, room, pool_free)


def only_needed(
    victims: list[Resident], need: int, device_free: int, pool_free: int, pool: int | None
) -> list[Resident]:
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


def _larger_than_everything(name: str, need: int, room: Room) -> ModelTooLarge:
    pool = room.pool_mb
    too_big_for_pool = pool is not None and need > pool
    limit, label = (pool, "zoo pool") if too_big_for_pool else (room.budget_mb, "device budget")
    return ModelTooLarge(
        f"{name} needs {need} MB, more than the whole {label} of {limit} MB "
        f"on {room.where}; nothing was evicted"
    )


def _no_room(name: str, need: int, room: Room, pool_free: int) -> ModelRefused:
    pool = room.pool_mb
    return ModelRefused(
        f"no room for {name} ({need} MB) on {room.where}: {room.budget_mb - room.held_mb} MB "
        f"of the {room.budget_mb} MB budget free"
        + (f", {max(0, pool_free)} MB of the {pool} MB zoo pool" if pool is not None else "")
        + f"; {room.in_use_mb} MB held by models in use or pinned cannot be evicted"
    )
