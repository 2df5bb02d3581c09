"""Inference: device probes, loaders, the per-device model manager and ``model_zoo``.

``from inference import model_zoo`` is resolved lazily so that importing this package
(as Django does at start-up) loads no model library.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "model_zoo":
        from inference.worker.zoo import model_zoo

        return model_zoo
    raise AttributeError(name)
