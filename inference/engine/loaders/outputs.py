"""Plain, JSON-able numbers from model outputs, the same way in every loader."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any


def rounded(value: Any, digits: int = 4) -> float:
    """A plain float to ``digits`` decimals (NaN and infinities become 0.0)."""
    value = float(value)
    return round(value, digits) if math.isfinite(value) else 0.0


def significant(value: Any, digits: int = 6) -> float:
    """A plain float to ``digits`` significant digits, for values that can be tiny
    (depth, embedding components); NaN and infinities become 0.0."""
    value = float(value)
    return float(f"{value:.{digits}g}") if math.isfinite(value) else 0.0


def unit_interval(value: float) -> float:
    return min(max(value, 0.0), 1.0)


def probability(value: Any) -> float:
    """A score in [0, 1], to 4 decimals."""
    return unit_interval(rounded(value))


def clip_box(box: Any, width: float, height: float) -> list[float]:
    """``[x1, y1, x2, y2]`` inside a ``width`` x ``height`` image, corners in order, to
    a tenth of a pixel."""
    x1, y1, x2, y2 = (float(v) for v in box)
    x1, x2 = sorted((min(max(x1, 0.0), width), min(max(x2, 0.0), width)))
    y1, y2 = sorted((min(max(y1, 0.0), height), min(max(y2, 0.0), height)))
    return [rounded(x1, 1), rounded(y1, 1), rounded(x2, 1), rounded(y2, 1)]


def top_k(
    probabilities: Any,
    labels: list[str],
    k: int,
    score: Callable[[Any], float] = probability,
) -> dict[str, Any]:
    """The classification shape from a 1-D tensor of probabilities: the best label, its
    score and the ``k`` best (no more than there are labels)."""
    values, indices = probabilities.topk(min(k, probabilities.numel()))
    top = [
        {"label": labels[int(i)], "score": score(v)}
        for v, i in zip(values.tolist(), indices.tolist(), strict=True)
    ]
    return {"label": top[0]["label"], "score": top[0]["score"], "top": top}


def unit_length(vectors: Any) -> Any:
    """Each vector along the last dimension of a tensor scaled to length 1; one of no
    length (or a NaN length) is left as it is."""
    lengths = vectors.norm(dim=-1, keepdim=True)
    return vectors / lengths.where(lengths > 0, 1.0)


def embedding(vector: Any) -> dict[str, Any]:
    """The embedding shape from a 1-D tensor: the vector at unit length, its size and
    its raw length (``norm``)."""
    return {
        "embedding": [significant(v) for v in unit_length(vector).tolist()],
        "dim": int(vector.numel()),
        "norm": significant(vector.norm()),
    }
