"""A large checkpoint for memory benchmarks."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from inference.bootstrap.common import MB, _labels, _seeded


def build_large_checkpoint(path: Path | str, min_mb: int = 512, *, width: int = 1024) -> Path:
    """A ViT image classifier of at least ``min_mb`` MB of fp32 safetensors in ``path``
    (a transformers folder the classification loader serves). Not built by default.

    ViT-L width (1024) with as many layers as it takes (each adds ~48 MB); a smaller
    ``width`` (a multiple of 64) makes finer steps for small checkpoints. The weights
    are allocated uninitialised on the meta device and filled in one pass, which skips
    the per-module initialisation that would take most of the time.
    """
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    folder = Path(path)

    def config(layers: int) -> Any:
        return ViTConfig(
            hidden_size=width,
            num_hidden_layers=layers,
            num_attention_heads=max(1, width // 64),
            intermediate_size=4 * width,
            image_size=224,
            patch_size=16,
            **_labels(["negative", "positive"]),
        )

    def size_mb(model: Any) -> float:
        return sum(t.numel() * 4 for t in model.state_dict().values()) / MB

    with torch.device("meta"):
        one = size_mb(ViTForImageClassification(config(1)))
        two = size_mb(ViTForImageClassification(config(2)))
    per_layer = two - one
    layers = max(1, math.ceil((min_mb - (one - per_layer)) / per_layer))
    with torch.device("meta"):
        model = ViTForImageClassification(config(layers))
    model = model.to_empty(device="cpu")
    with _seeded(0), torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            if tensor.dim() > 1:
                tensor.normal_(0.0, 0.02)
            else:
                tensor.zero_()
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    ViTImageProcessor(size={"height": 224, "width": 224}).save_pretrained(folder)
    return folder
