"""Sections an asynchronous interrupt must not cut, per thread.

The scheduler's watchdog applies the worker's time limit by raising an exception inside
the scheduler's thread, wherever it is. Some places must not be cut: a loader's call
(half-run library imports stay broken in ``sys.modules`` for the whole process; a
device allocation half made) and a model's close. The manager runs those inside
``critical()``; the watchdog waits while ``in_critical`` says one runs, then interrupts
(the hard limit still ends a process stuck in one).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_depth: dict[int, int] = {}  # thread ident → critical sections it is in


@contextlib.contextmanager
def critical() -> Iterator[None]:
    """Run the block with asynchronous interrupts of this thread deferred."""
    ident = threading.get_ident()
    entered = False
    try:
        with _lock:
            _depth[ident] = _depth.get(ident, 0) + 1
            entered = True
        yield
    finally:
        if entered:
            with _lock:
                left = _depth[ident] - 1
                if left:
                    _depth[ident] = left
                else:
                    del _depth[ident]


def in_critical(ident: int) -> bool:
    """Whether the thread ``ident`` is inside a critical section now."""
    with _lock:
        return _depth.get(ident, 0) > 0
