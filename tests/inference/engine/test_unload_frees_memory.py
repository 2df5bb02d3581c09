"""Unloading a model gives its memory back at once, without a garbage collection: the
worker never pays a full collection on the eviction path, yet the memory is free even
where the model sits in reference cycles."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
import torch

from inference.engine.devices import CpuBackend, SimulatedBackend
from inference.engine.loaders import load_model
from inference.engine.loaders.base import LoadedModel
from inference.engine.manager import ModelManager
from inference.engine.specs import ModelSpec
from inference.runtime.specs import spec_of
from models_registry.models import ModelEntry
from tests.fakes import DictSpecs, MemorySink
from tests.servers import ROOT

WEIGHT_MB = 96


class BigModel(LoadedModel):
    """One module holding ``WEIGHT_MB`` of weights; ``cyclic`` ties it into a cycle that
    only the garbage collector could break."""

    def __init__(self, spec: ModelSpec, device: str, *, cyclic: bool):
        super().__init__(spec, device)
        self.module = torch.nn.Linear(WEIGHT_MB * 1024 * 256 // 1024, 1024, bias=False)
        if cyclic:
            self.module.__dict__["loop"] = [self.module, self]

    def modules(self) -> list[Any]:
        return [self.module] if self.module is not None else []

    def predict(self, image: Any, **options: Any) -> dict[str, Any]:
        return {}


def _spec(name: str) -> ModelSpec:
    return ModelSpec(
        id=1, name=name, display_name=name, category="detection", loader="torch", path="",
        model_id="", vram_mb=WEIGHT_MB, in_zoo=False, enabled=True,
    )  # fmt: skip


@pytest.fixture
def no_collection() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _manager(backend: Any, *, cyclic: bool, made: list[BigModel]) -> ModelManager:
    def loader(spec: ModelSpec, device: str) -> BigModel:
        made.append(BigModel(spec, device, cyclic=cyclic))
        return made[-1]

    specs = DictSpecs.of({"big": _spec("big")})
    return ModelManager(backend, specs=specs, sink=MemorySink(), loader=loader)


def test_an_unloaded_models_tensors_are_collected_without_gc(no_collection) -> None:
    made: list[BigModel] = []
    manager = _manager(CpuBackend(64 * 1024), cyclic=False, made=made)
    with manager.acquire("big"):
        pass
    weights = weakref.ref(made[0].module.weight)
    made.clear()

    assert manager.unload("big")

    assert weights() is None


def test_a_load_that_fails_midway_leaves_no_tensor_behind_without_gc(no_collection) -> None:
    """A loader that raises after placing weights (out of memory in ``.to(device)``)
    must not leave them alive through the stored failure's traceback."""
    placed: list[weakref.ref[torch.Tensor]] = []

    def loader(spec: ModelSpec, device: str) -> BigModel:
        model = BigModel(spec, device, cyclic=False)
        placed.append(weakref.ref(model.module.weight))
        raise RuntimeError("CUDA out of memory (simulated)")

    specs = DictSpecs.of({"big": _spec("big")})
    manager = ModelManager(CpuBackend(64 * 1024), specs=specs, sink=MemorySink(), loader=loader)
    with pytest.raises(Exception, match="out of memory"), manager.acquire("big"):
        pass

    assert placed and placed[0]() is None


def test_memory_comes_back_at_unload_even_inside_a_reference_cycle() -> None:
    probe = subprocess.run(
        [sys.executable, "-m", "tests.inference.engine.memory_probe"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    memory = json.loads(probe.stdout)

    assert memory["left"] == 0  # still reachable through the cycle, but empty
    assert memory["loaded_mb"] - memory["unloaded_mb"] >= WEIGHT_MB * 0.8


def test_the_device_ledger_gets_the_models_bytes_back(no_collection) -> None:
    backend = SimulatedBackend("sim:0", 4096)
    manager = _manager(backend, cyclic=True, made=[])
    with manager.acquire("big"):
        assert backend.allocated_mb == WEIGHT_MB

    assert manager.unload("big")

    assert backend.allocated_mb == 0


@pytest.mark.django_db
def test_a_real_checkpoint_holds_no_tensor_bytes_once_closed(real_models) -> None:
    model = load_model(spec_of(ModelEntry.objects.get(name="pet-classifier")), "cpu")
    modules = model.modules()
    before = sum(p.numel() for m in modules for p in m.parameters())
    assert before > 0

    model.close()

    assert sum(p.numel() for m in modules for p in m.parameters()) == 0
