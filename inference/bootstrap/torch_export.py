"""The torch loader's format: a ``torch.export`` program of a small module defined here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from inference.bootstrap.common import Builder


def _torch_head_module(outputs: int, activation: str) -> Any:
    """A small convolutional network: image in, ``outputs`` numbers out."""
    import torch
    from torch import nn

    class SmallConvNet(nn.Module):
        """Three strided convolutions, global pooling and a linear head."""

        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, 16, 3, stride=2, padding=1),
                nn.ReLU(),
                nn.Conv2d(16, 32, 3, stride=2, padding=1),
                nn.ReLU(),
                nn.Conv2d(32, 64, 3, stride=2, padding=1),
                nn.ReLU(),
            )
            self.head = nn.Linear(64, outputs)

        def forward(self, pixels: torch.Tensor) -> torch.Tensor:
            out = self.head(self.features(pixels).mean(dim=(2, 3)))
            if activation == "score":
                # A quality score on BRISQUE's 0-100 scale.
                return torch.sigmoid(out) * 100.0
            return out

    return SmallConvNet().eval()


def torch_export_builder(config: dict[str, Any], outputs: int, activation: str) -> Builder:
    """The torch loader's format: a ``torch.export`` program (no Python source needed to
    load it) and a config.json saying how to feed it and read it."""

    def build(folder: Path) -> str:
        import torch

        size = config["input_size"]
        module = _torch_head_module(outputs, activation)
        program = torch.export.export(module, (torch.zeros(1, 3, *size),))
        torch.export.save(program, folder / "model.pt2")
        (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        return "."

    return build


# BRISQUE is not a neural network (natural-scene statistics and an SVR); its stand-in is a
# small regressor in the torch loader's format that answers on the same 0-100 scale.
brisque_builder = torch_export_builder(
    {"input_size": [224, 224], "mean": [0.5] * 3, "std": [0.5] * 3, "output": "score"},
    outputs=1,
    activation="score",
)
