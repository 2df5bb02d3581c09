"""Broken weights through the real loaders and the real manager: a missing, truncated
or wrong-architecture checkpoint leaves the model in `error` with the reason, gives
back every megabyte it reserved, and loads once the weights are right."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fleet.models import ModelState
from inference.engine.loaders import load_model
from inference.engine.manager import ModelLoadFailed
from models_registry.models import ModelEntry

pytestmark = pytest.mark.subprocess  # the manager's sink writes from its own thread


def truncated(source: Path, target: Path) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target


@pytest.fixture
def face(real_models, checkpoints, make_manager, tmp_path):
    """yolo11-face on a simulated device with the real loaders, and a good copy of its
    weights."""
    entry = ModelEntry.objects.get(name="yolo11-face")
    good = tmp_path / "good.pt"
    shutil.copy(checkpoints["yolo11-face"], good)
    rig = make_manager([entry, ModelEntry.objects.get(name="pet-classifier")], loader=load_model)
    return rig, good


@pytest.mark.parametrize("fault", ["missing", "truncated", "another architecture"])
def test_broken_weights_are_an_error_with_the_reason_and_cost_nothing(
    face, checkpoints, tmp_path, fault
):
    rig, good = face
    broken = {
        "missing": lambda: tmp_path / "nowhere" / "model.pt",
        "truncated": lambda: truncated(good, tmp_path / "half.pt"),
        "another architecture": lambda: Path(checkpoints["pet-classifier"]),
    }[fault]()
    rig.specs.set("yolo11-face", path=str(broken))
    rig.manager.acquire("pet-classifier").release()  # a neighbour that must stay put
    held_before = rig.manager.held_mb()

    with pytest.raises(ModelLoadFailed) as failure:
        rig.manager.acquire("yolo11-face")

    assert str(broken) in str(failure.value)
    state = ModelState.objects.get(model__name="yolo11-face", device=rig.sink.device)
    assert state.status == "error" and str(broken) in state.last_error
    assert rig.manager.held_mb() == held_before  # its reservation given back
    assert rig.backend.allocated_mb == held_before  # the device ledger too
    assert set(rig.manager.snapshot()) == {"pet-classifier"}

    # Retried on the next use: with the weights put right, it loads.
    rig.specs.set("yolo11-face", path=str(good))
    with rig.manager.acquire("yolo11-face") as lease:
        assert "detections" in lease.predict(_image())
    assert rig.states()["yolo11-face"] == ("loaded", 0)


def _image():
    import numpy as np

    return np.zeros((64, 64, 3), dtype=np.uint8)
