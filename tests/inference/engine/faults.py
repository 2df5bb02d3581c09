"""Fault injection for the manager's edges: a switchboard that makes the next call of a
chosen point (the loader, a backend call, a sink write, a model's close or predict)
raise, and the wiring that puts those points into a rig built by ``make_manager``.

An exception raised at such a point stands for what Celery's soft time limit does to a
worker (an exception raised wherever the main thread happens to be), as well as for an
ordinary failure of that edge. The checks below are the manager's books as a test can
see them from outside.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from inference.engine.vocabulary import ModelStatus
from tests.fakes import FakeLoader

# Every point a fault can be injected at. ``on_loaded.after`` fails once the device has
# taken the memory (a time limit during the simulated bus transfer).
POINTS = (
    "loader",
    "on_loaded",
    "on_loaded.after",
    "on_unloaded",
    "transition",
    "event",
    "usage",
    "close",
    "predict",
)


class InjectedFault(RuntimeError):
    """An ordinary failure of an edge, raised on purpose."""


class Faults:
    """Which point fails next, with what, and for which model (any, when ``model`` is None)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: dict[str, tuple[Callable[[], BaseException], str | None, int]] = {}
        self.fired: list[tuple[str, str]] = []

    def arm(
        self,
        point: str,
        error: Callable[[], BaseException],
        *,
        model: str | None = None,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` calls of ``point`` (-1: every call) raise ``error()``."""
        assert point in POINTS, point
        with self._lock:
            self._armed[point] = (error, model, times)

    def disarm(self) -> None:
        with self._lock:
            self._armed.clear()

    def armed(self) -> bool:
        with self._lock:
            return bool(self._armed)

    def take_fired(self) -> list[tuple[str, str]]:
        """The faults that fired since last asked: (point, model)."""
        with self._lock:
            fired, self.fired = self.fired, []
        return fired

    def check(self, point: str, model: str) -> None:
        """Raise here if ``point`` is armed for ``model``."""
        with self._lock:
            armed = self._armed.get(point)
            if armed is None:
                return
            error, only, times = armed
            if only is not None and only != model:
                return
            if times == 1:
                del self._armed[point]
            elif times > 1:
                self._armed[point] = (error, only, times - 1)
            self.fired.append((point, model))
        raise error()


class FaultyLoader(FakeLoader):
    """The fake loader, failing where armed, and handing out models whose ``close`` and
    ``predict`` fail where armed."""

    def __init__(self, faults: Faults) -> None:
        super().__init__()
        self.faults = faults

    def __call__(self, spec: Any, device: str) -> Any:
        self.faults.check("loader", spec.name)
        model = super().__call__(spec, device)
        close, predict = model.close, model.predict

        def failing_close() -> None:
            self.faults.check("close", spec.name)
            close()

        def failing_predict(image: Any, **options: Any) -> dict[str, Any]:
            self.faults.check("predict", spec.name)
            return predict(image, **options)

        model.close = failing_close  # type: ignore[method-assign]
        model.predict = failing_predict  # type: ignore[method-assign]
        return model


def wire(backend: Any, sink: Any, faults: Faults) -> None:
    """Put the switchboard in front of a backend's and a sink's calls (on the instances)."""
    on_loaded, on_unloaded = backend.on_loaded, backend.on_unloaded

    def failing_on_loaded(name: str, held_mb: int) -> None:
        faults.check("on_loaded", name)
        on_loaded(name, held_mb)
        faults.check("on_loaded.after", name)

    def failing_on_unloaded(name: str, mark: int = 0) -> int | None:
        faults.check("on_unloaded", name)
        return on_unloaded(name, mark)

    backend.on_loaded = failing_on_loaded
    backend.on_unloaded = failing_on_unloaded
    for point in ("transition", "event", "usage"):
        write = getattr(sink, point)

        def failing(spec: Any, *args: Any, _write: Any = write, _point: str = point, **kw: Any):
            faults.check(_point, spec.name)
            return _write(spec, *args, **kw)

        setattr(sink, point, failing)


# --- the books, seen from outside -----------------------------------------------------


def counted_on_device(manager: Any) -> dict[str, int]:
    """MB the manager counts per model on the device, from what it shows."""
    return {
        name: view.held_mb
        for name, view in manager.snapshot().items()
        if not view.on_cpu and view.held_mb
    }


def assert_books_true(manager: Any, backend: Any) -> None:
    """No phantom memory, no held lock or slot, no model left loading (no load is in
    flight when this is called)."""
    assert manager._lock.acquire(timeout=5), "the manager's lock is held"
    manager._lock.release()
    assert not manager._load_slot.locked(), "the load slot is held with no load in flight"
    counted = counted_on_device(manager)
    assert backend.ledger == counted, "the device ledger and the manager disagree"
    assert manager.held_mb() == sum(counted.values()), "memory counted for nothing shown"
    stuck = [n for n, v in manager.snapshot().items() if v.status == ModelStatus.LOADING]
    assert stuck == [], "left loading with no load in flight"


def within(seconds: float, action: Callable[[], Any]) -> Any:
    """``action()`` run in a thread; a hang fails the test instead of hanging it."""
    outcome: list[Any] = []

    def run() -> None:
        from django.db import connection

        try:
            outcome.append(("ok", action()))
        except BaseException as exc:
            outcome.append(("raised", exc))
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still blocked after {seconds} s"
    kind, value = outcome[0]
    if kind == "raised":
        raise value
    return value
