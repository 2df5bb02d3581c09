"""Reservations: memory a device gives to a model served outside the worker's process
(a server-run option's own server, sglang or vllm, running on that device). While its
server answers, the option's ``vram_mb`` counts against the device's budget, as a model
in use does: never evicted, and a load admitted beside it sees only the room left.
Nothing is loaded for it and nothing is freed when it goes: the server owns that memory.
"""

from __future__ import annotations

from typing import Any


def reservations_set(manager: Any, wanted: dict[str, int]) -> tuple[list[str], list[str]]:
    """Hold exactly ``wanted`` (model name → MB) as the device's reservations, under the
    manager's lock, so that an admission sees all of them or none; (added, released)."""
    with manager._lock:
        books = manager._books
        added = [name for name in wanted if name not in books.reserved]
        released = [name for name in books.reserved if name not in wanted]
        books.reserved = dict(wanted)
        manager._lock.notify_all()  # a released reservation is room for those waiting
    return added, released


def reserved(manager: Any) -> dict[str, int]:
    """The device's reservations now (model name → MB)."""
    with manager._lock:
        return dict(manager._books.reserved)
