"""Plain PyTorch models, as ``torch.export`` programs: no Python source needed to load.

A state dict, or a pickled module, cannot be loaded without the class that defines it,
and loading a pickle runs whatever code it names; an exported program carries its own
graph and loads without either. The convention:

- ``path`` is a ``.pt2`` file written by ``torch.export.save``, or a folder holding
  ``model.pt2`` and, optionally, ``config.json``;
- ``config.json`` says how to feed and read it (every key optional)::

      {"input_size": [224, 224],          # resize to H, W first (else the image's size)
       "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],   # after scaling pixels to 0-1
       "output": "score",                  # "score", "logits" or "embedding"
       "labels": ["a", "b"]}               # names of the logits

The program takes one float tensor (1, 3, H, W) of RGB pixels and returns one tensor.
``output`` defaults by category: quality → ``score`` (``{"score"}`` on the model's own
scale), classification → ``logits`` (label, score, top 5), embedding → ``embedding``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from inference.engine.loaders.base import ImageLike, LoadedModel, LoadError, as_pil
from inference.engine.loaders.outputs import embedding, significant, top_k, unit_interval
from inference.engine.specs import ModelSpec
from inference.engine.vocabulary import Category

PROGRAM_NAME = "model.pt2"
CONFIG_NAME = "config.json"
OUTPUT_FOR_CATEGORY: dict[str, str] = {
    Category.QUALITY: "score",
    Category.CLASSIFICATION: "logits",
    Category.EMBEDDING: "embedding",
}


def _score(value: Any) -> float:
    """A probability to 4 significant digits (the other loaders keep 4 decimals)."""
    return unit_interval(significant(value, 4))


class TorchProgram(LoadedModel):
    """An exported program and the config that says how to feed and read it."""

    def __init__(self, spec: ModelSpec, device: str, module: Any, config: dict[str, Any]):
        super().__init__(spec, device)
        self.module = module
        self.input_size: list[int] | None = config.get("input_size")
        self.mean = config.get("mean")
        self.std = config.get("std")
        self.output: str = config.get("output") or OUTPUT_FOR_CATEGORY[spec.category]
        self.labels: list[str] = [str(label) for label in config.get("labels") or []]

    def modules(self) -> list[Any]:
        return [self.module] if self.module is not None else []

    def tensor(self, image: ImageLike) -> Any:
        """The program's input: (1, 3, H, W) float RGB, resized and normalised."""
        import torch

        picture = as_pil(image)
        if self.input_size:
            height, width = self.input_size
            picture = picture.resize((int(width), int(height)))
        pixels = torch.from_numpy(np.asarray(picture, dtype=np.float32) / 255.0)
        pixels = pixels.permute(2, 0, 1).unsqueeze(0)
        if self.mean is not None and self.std is not None:
            mean = torch.tensor(self.mean, dtype=torch.float32).view(1, 3, 1, 1)
            std = torch.tensor(self.std, dtype=torch.float32).view(1, 3, 1, 1)
            pixels = (pixels - mean) / std
        return pixels.to(self.device)

    def forward(self, image: ImageLike) -> Any:
        import torch

        with torch.inference_mode():
            out = self.module(self.tensor(image))
        if isinstance(out, list | tuple):
            out = out[0]
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"the program returned {type(out).__name__}, not a tensor")
        return out.detach().float().flatten().cpu()

    def predict(self, image: ImageLike, **options: Any) -> dict[str, Any]:
        values = self.forward(image)
        if self.output == "score":
            return {"score": significant(values[0])}
        if self.output == "embedding":
            return embedding(values)
        labels = self.labels or [f"class_{i}" for i in range(values.numel())]
        return top_k(values.softmax(-1), labels, int(options.get("top_k", 5)), score=_score)


def _files(spec: ModelSpec) -> tuple[Path, Path | None]:
    path = Path(spec.path)
    if path.is_dir():
        program = path / PROGRAM_NAME
        if not program.is_file():
            raise LoadError(f"{spec.name}: {path} holds no {PROGRAM_NAME}")
        config = path / CONFIG_NAME
        return program, config if config.is_file() else None
    return path, None


def _config(spec: ModelSpec, file: Path | None) -> dict[str, Any]:
    if file is None:
        return {}
    try:
        config = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise LoadError(f"{spec.name}: {file} is not valid JSON: {exc}") from exc
    if not isinstance(config, dict):
        raise LoadError(f"{spec.name}: {file} must hold a JSON object")
    output = config.get("output")
    if output is not None and output not in ("score", "logits", "embedding"):
        raise LoadError(f"{spec.name}: {file}: output must be score, logits or embedding")
    return config


def load(spec: ModelSpec, device: str) -> LoadedModel:
    """Load the exported program at ``spec.path`` onto ``device`` and check that it takes
    an image and returns a tensor."""
    import torch

    if spec.category not in OUTPUT_FOR_CATEGORY:
        raise LoadError(
            f"{spec.name}: the torch loader serves quality, classification and embedding "
            f"models, not {spec.category}"
        )
    program_file, config_file = _files(spec)
    config = _config(spec, config_file)
    try:
        program = torch.export.load(program_file)
    except Exception as exc:
        raise LoadError(
            f"{spec.name}: {program_file} is not a torch.export program (.pt2): "
            f"{type(exc).__name__}: {exc}. A state dict or pickled module needs its Python "
            "class; export it with torch.export.save instead"
        ) from exc
    module = program.module().to(device)
    model = TorchProgram(spec, device, module, config)
    height, width = config.get("input_size") or (64, 64)
    try:
        model.forward(np.zeros((int(height), int(width), 3), dtype=np.uint8))
    except Exception as exc:
        raise LoadError(
            f"{spec.name}: {program_file} does not take a (1, 3, {height}, {width}) image: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    return model
