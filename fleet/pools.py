"""How much room a model of each kind has on the fleet's devices: a zoo model the zoo
pool (its cap, or a device's whole budget where that is smaller), a task model a
device's whole budget. Plain arithmetic on figures the caller has read, so the status
documents stay a fixed number of queries."""

from __future__ import annotations

from collections.abc import Callable, Iterable


def device_room(*, in_zoo: bool, budget: int, cap: int) -> int:
    """The room a model of this kind has on one device of ``budget`` MB, as admission
    counts it: a zoo model the zoo's ``cap`` or the whole budget where that is smaller,
    a task model the whole budget."""
    return min(cap, budget) if in_zoo else budget


def room_mb(
    *, in_zoo: bool, budgets: Iterable[int], cap: int, default_budget: Callable[[], int]
) -> int:
    """The largest room a model of this kind has on any device with these budgets.

    With no device: the zoo's cap for a zoo model (the one pool the registry's
    ``vram_budget_mb`` then counts), ``default_budget()`` for a task model (the device
    the Management API reports, its memory × ``offload_threshold``).
    """
    rooms = [device_room(in_zoo=in_zoo, budget=budget, cap=cap) for budget in budgets]
    if rooms:
        return max(rooms)
    return cap if in_zoo else default_budget()


def pool_note(*, in_zoo: bool, need_mb: int, room: int, fallback: bool) -> str:
    """What an operator reads beside a model larger than its room: "" when it fits."""
    if need_mb <= room:
        return ""
    where = "the zoo pool" if in_zoo else "the device budget"
    note = f"needs {need_mb:,} MB; {where} is {room:,} MB"
    return note + ("; runs on the CPU (CPU fallback)" if fallback else "; it is not loaded")
