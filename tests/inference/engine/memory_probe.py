"""Run as a fresh process by test_unload_frees_memory (a heap that earlier tests have
not shaped): load a model tied into a reference cycle through the real manager, unload
it with the garbage collector off, and print the resident memory before and after."""

from __future__ import annotations

import gc
import json
import os
import sys
from typing import Any

import torch

from inference.engine.devices import CpuBackend
from inference.engine.loaders.base import LoadedModel
from inference.engine.manager import ModelManager
from inference.engine.sink import StateSink
from inference.engine.specs import ManagerSettings, ModelSpec

WEIGHT_MB = 96


class BigModel(LoadedModel):
    """One module holding ``WEIGHT_MB`` of weights, tied into a reference cycle that only
    the garbage collector could break."""

    def __init__(self, spec: ModelSpec, device: str):
        super().__init__(spec, device)
        self.module = torch.nn.Linear(WEIGHT_MB * 256, 1024, bias=False)
        self.module.__dict__["loop"] = [self.module, self]

    def modules(self) -> list[Any]:
        return [self.module] if self.module is not None else []

    def predict(self, image: Any, **options: Any) -> dict[str, Any]:
        return {}


class Specs:
    spec_ = ModelSpec(
        id=1, name="big", display_name="big", category="detection", loader="torch", path="",
        model_id="", vram_mb=WEIGHT_MB, in_zoo=False, enabled=True,
    )  # fmt: skip

    def spec(self, name: str) -> ModelSpec:
        return self.spec_

    def settings(self) -> ManagerSettings:
        return ManagerSettings()

    def invalidate(self) -> None:
        pass


def rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    made: list[BigModel] = []

    def loader(spec: ModelSpec, device: str) -> BigModel:
        made.append(BigModel(spec, device))
        return made[-1]

    manager = ModelManager(CpuBackend(64 * 1024), specs=Specs(), sink=StateSink(), loader=loader)
    gc.collect()
    gc.disable()
    with manager.acquire("big"):
        pass
    module = made.pop().module
    loaded = rss_mb()
    manager.unload("big")
    figures = {"loaded_mb": loaded, "unloaded_mb": rss_mb(), "left": module.weight.numel()}
    json.dump(figures, sys.stdout)


if __name__ == "__main__":
    main()
