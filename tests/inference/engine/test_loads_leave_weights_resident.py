"""A load ends when the model can serve: every weight page is mapped into the process
when ``load_model`` returns, so the first ``predict`` faults nothing in.

transformers maps a safetensors checkpoint lazily; what is checked here is the process's
own page table (``/proc/self/pagemap``, through ``residency.resident_share``), which
says for each page whether reading it would fault: no timing, nothing left to chance.
The probe itself is checked first on a mapping whose state is known.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from inference.engine import loaders
from inference.engine.loaders import LoadError, load_model
from inference.engine.loaders.residency import PAGE, make_resident, resident_share
from inference.engine.loaders.transformers_loader import load as transformers_load
from inference.engine.specs import ModelSpec

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads the page table in /proc/self/pagemap"
)

PAGES = 256


class Holder(torch.nn.Module):
    """A module whose one buffer is whatever tensor the test gives it."""

    weights: torch.Tensor

    def __init__(self, tensor: torch.Tensor):
        super().__init__()
        self.register_buffer("weights", tensor)


@pytest.fixture
def mapped_file(tmp_path: Path) -> Iterator[Holder]:
    """A module whose buffer is a fresh private mapping of a file, as safetensors makes:
    no page of it has been read, so none is in the page table yet."""
    path = tmp_path / "weights.bin"
    path.write_bytes(bytes(range(256)) * (PAGES * PAGE // 256))
    yield Holder(torch.from_file(str(path), shared=False, size=PAGES * PAGE, dtype=torch.uint8))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> ModelSpec:
    """A one-layer ViT-L classifier of ~50 MB of safetensors, the kind the load
    benchmark measures (``build_large_checkpoint``)."""
    from inference.bootstrap import build_large_checkpoint

    folder = build_large_checkpoint(tmp_path_factory.mktemp("vit") / "vit", min_mb=1)
    return ModelSpec(
        id=1, name="vit", display_name="vit", category="classification",
        loader="transformers", path=str(folder), model_id="", vram_mb=1, in_zoo=True,
        enabled=True,
    )  # fmt: skip


def test_the_probe_sees_a_fresh_mapping_absent_and_a_read_one_present(mapped_file: Holder):
    assert resident_share([mapped_file]) == 0.0

    int(mapped_file.weights[::PAGE].sum())  # read one byte of every page

    assert resident_share([mapped_file]) == 1.0


def test_make_resident_maps_every_page_of_a_lazily_mapped_tensor(mapped_file: Holder):
    covered = make_resident([mapped_file])

    assert covered == PAGES * PAGE
    assert resident_share([mapped_file]) == 1.0
    assert int(mapped_file.weights[PAGE + 7]) == 7  # the file's bytes, unchanged


def test_tensors_not_in_host_memory_are_left_alone():
    with torch.device("meta"):
        module = torch.nn.Linear(1024, 1024)

    assert make_resident([module]) == 0


def test_transformers_alone_leaves_a_checkpoint_mapped_but_mostly_unread(checkpoint: ModelSpec):
    """Why ``load_model`` does more: ``from_pretrained`` returns with the weights mapped
    from the file and almost none of their pages read."""
    model = transformers_load(checkpoint, "cpu")
    try:
        share = resident_share(model.modules())
        assert share is not None and share < 0.5
    finally:
        model.close()


def test_load_model_returns_a_safetensors_checkpoint_with_every_weight_page_mapped(
    checkpoint: ModelSpec,
):
    model = load_model(checkpoint, "cpu")
    try:
        assert model.tensor_bytes() > 40 * 1024 * 1024
        assert resident_share(model.modules()) == 1.0
    finally:
        model.close()


def test_a_load_interrupted_while_faulting_in_leaves_no_tensor_bytes(
    checkpoint: ModelSpec, monkeypatch: pytest.MonkeyPatch
):
    seen: list[Any] = []

    def interrupted(modules: list[Any]) -> int:
        seen.extend(modules)
        raise RuntimeError("soft time limit")

    monkeypatch.setattr(loaders, "make_resident", interrupted)

    with pytest.raises(LoadError, match="soft time limit"):
        load_model(checkpoint, "cpu")

    assert seen
    assert sum(p.numel() for module in seen for p in module.parameters()) == 0
