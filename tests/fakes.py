"""Test doubles for the manager's edges: loaders with scripted sizes, delays and failures,
an in-memory spec source and an in-memory decision log. The manager, the device ledger and
the database are real. The swaps benchmark drives the manager with these same doubles."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from inference.engine.devices import MB
from inference.engine.loaders.base import LoadedModel, LoadError, OutOfMemory
from inference.engine.manager import SpecProvider
from inference.engine.sink import StateSink
from inference.engine.specs import ManagerSettings, ModelSpec
from inference.runtime.specs import spec_of
from models_registry.models import ModelEntry


class FakeModel(LoadedModel):
    """A model whose tensor bytes are whatever the test says."""

    def __init__(self, spec: ModelSpec, device: str, size_mb: int, loader: FakeLoader):
        super().__init__(spec, device)
        self.size_mb = size_mb
        self.loader = loader
        self.calls = 0

    def tensor_bytes(self) -> int:
        return self.size_mb * MB

    def predict(self, image: Any, **options: Any) -> dict[str, Any]:
        _pause(self.loader.slow_predict.get(self.spec.name, 0.0))
        self.calls += 1
        fault = self.loader.run_faults.get(self.spec.name)
        if fault is not None:
            raise fault
        self.loader.calls.append((self.spec.name, options))
        answer: dict[str, Any] = {"model": self.spec.name, "size": list(getattr(image, "size", []))}
        if self.spec.category == "detection":  # one box by default, so what reads boxes has some
            found = [{"label": "thing", "score": 0.9, "box": [1, 2, 11, 7]}]
            answer["detections"] = self.loader.detections.get(self.spec.name, found)
        if self.spec.category == "ocr" and "boxes" in options:  # one reading per box
            answer["readings"] = [
                {"text": f"P{i}", "score": 0.9} for i in range(len(options["boxes"]))
            ]
        answer.update({key: value for key, value in options.items() if key in ("box", "boxes")})
        return answer

    def predict_many(self, images: list[Any], **options: Any) -> list[dict[str, Any]]:
        self.loader.passes.append((self.spec.name, len(images)))
        return [self.predict(image, **options) for image in images]

    def close(self) -> None:
        _pause(self.loader.slow_close.get(self.spec.name, 0.0))
        self.loader.closed.append(self.spec.name)


def _pause(seconds: float) -> None:
    """Sleep in short Python steps, so an asynchronous exception can land in between."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        time.sleep(0.01)


class FakeLoader:
    """Counts loads; ``sizes`` sets a model's measured MB (default 1), ``failures`` makes a
    load raise, ``gate`` holds loads until released, ``slow``, ``slow_close`` and
    ``slow_predict`` make a model's load, close or predict take that many seconds (in
    short Python steps, so a time limit can interrupt them),
    ``run_faults`` makes predict raise, ``detections`` scripts what a detector finds;
    ``calls`` records every predict."""

    def __init__(self) -> None:
        self.sizes: dict[str, int] = {}
        self.failures: dict[str, Exception] = {}
        self.run_faults: dict[str, Exception] = {}
        self.loads: list[str] = []
        self.closed: list[str] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []  # (model, options) of each predict
        self.passes: list[tuple[str, int]] = []  # (model, images) of each batched predict
        self.detections: dict[str, list[dict[str, Any]]] = {}  # a detector's scripted boxes
        self.gate: threading.Event | None = None
        self.slow: dict[str, float] = {}
        self.slow_close: dict[str, float] = {}
        self.slow_predict: dict[str, float] = {}
        self.started = threading.Event()
        self._lock = threading.Lock()
        self.in_flight = 0
        self.peak_in_flight = 0

    def __call__(self, spec: ModelSpec, device: str) -> LoadedModel:
        with self._lock:
            self.loads.append(spec.name)
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            self.started.set()
            if self.gate is not None:
                self.gate.wait(timeout=10)
            _pause(self.slow.get(spec.name, 0.0))
            failure = self.failures.get(spec.name)
            if failure is not None:
                raise failure
            return FakeModel(spec, device, self.sizes.get(spec.name, 1), self)
        finally:
            with self._lock:
                self.in_flight -= 1


def missing_weights(spec_name: str, path: str) -> LoadError:
    return LoadError(f"{spec_name}: weights not found at {path}")


def oom(message: str = "CUDA out of memory") -> OutOfMemory:
    return OutOfMemory(message)


class DictSpecs(SpecProvider):
    """Specs from registry rows, held in memory so a test can flip them instantly."""

    def __init__(self, entries: list[ModelEntry], settings: ManagerSettings | None = None):
        self.specs = {entry.name: spec_of(entry) for entry in entries}
        self.current = settings or ManagerSettings()

    @classmethod
    def of(
        cls, specs: Mapping[str, ModelSpec], settings: ManagerSettings | None = None
    ) -> DictSpecs:
        """Specs that are not registry rows (the swaps benchmark builds them from the catalog)."""
        source = cls([], settings)
        source.specs = dict(specs)
        return source

    def spec(self, name: str) -> ModelSpec:
        from inference.engine.specs import UnknownModel

        if name not in self.specs:
            raise UnknownModel(name)
        return self.specs[name]

    def settings(self) -> ManagerSettings:
        return self.current

    def invalidate(self) -> None:
        """Nothing cached: the test's changes apply at once."""

    def set(self, name: str, **changes: Any) -> None:
        self.specs[name] = replace(self.specs[name], **changes)

    def configure(self, **changes: Any) -> None:
        self.current = replace(self.current, **changes)


class MemorySink(StateSink):
    """The decision log in a list, as (kind, model name), instead of the database."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def event(
        self,
        spec: ModelSpec,
        kind: str,
        reason: str,
        memory_mb: int | None = None,
        duration_s: float | None = None,
        cause: str = "",
    ) -> None:
        self.events.append((kind, spec.name))

    def count(self, kind: str) -> int:
        return sum(1 for event_kind, _ in self.events if event_kind == kind)


class ThreadedMessages:
    """Inference messages handled in a thread each, as a worker's pool would, instead of
    sent to a broker: ``handle(request_id)`` runs on its own database connection."""

    def __init__(self, monkeypatch: Any, handle: Any) -> None:
        self.threads: list[threading.Thread] = []
        self._handle = handle
        monkeypatch.setattr("inference.tasks.run_inference.apply_async", self._deliver)

    def _deliver(self, args: tuple[Any, ...], queue: str) -> None:
        thread = threading.Thread(target=self._work, args=args, daemon=True)
        self.threads.append(thread)
        thread.start()

    def _work(self, request_id: int) -> None:
        from django.db import connection

        try:
            self._handle(request_id)
        finally:
            connection.close()

    def join(self) -> None:
        """Every delivered message finished (before the test's tables go)."""
        for thread in self.threads:
            thread.join(timeout=30)


def simulated_zoo(device: str, *, total_memory_mb: int = 8192, **hooks: Any) -> Any:
    """A worker's model zoo on a simulated device of ``total_memory_mb``, loading with a
    ``FakeLoader`` (kept as ``zoo.loader``); ``hooks`` go to ``configure``. The caller
    closes it."""
    from inference.runtime.zoo import ModelZoo

    zoo = ModelZoo()
    loader = FakeLoader()
    zoo.configure(device, total_memory_mb=total_memory_mb, worker="test", loader=loader, **hooks)
    zoo.loader = loader  # type: ignore[attr-defined]
    return zoo
