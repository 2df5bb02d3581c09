"""Traffic for tests that run real workers: enrichment batches and how to judge them."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
from PIL import Image

from inference.models import EnrichmentBatch, EnrichmentResult

DETECTIONS = [
    {"label": "person", "bbox": [10, 10, 110, 200], "confidence": 0.9},
    {"label": "car", "bbox": [200, 100, 400, 220], "confidence": 0.8},
    {"label": "dog", "bbox": [420, 150, 500, 230], "confidence": 0.7},
]
EXPECTED_RESULTS = 2 + 4 + 3 + 1  # all-frames, person, car, dog models


def image_b64(width: int = 640, height: int = 480, *, seed: int = 5, format: str = "JPEG") -> str:
    """A random image of that size, encoded and then base64-encoded, as clients send it."""
    pixels = np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=format)
    return base64.b64encode(buffer.getvalue()).decode()


def batch_document(detections: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    chosen = DETECTIONS if detections is None else detections
    return {"frames": [{"image": image_b64(), "detections": chosen}]}


def submit(staff_api: Any, detections: list[dict[str, Any]] | None = None) -> str:
    response = staff_api.post("/api/enrichment/batches", batch_document(detections), format="json")
    assert response.status_code == 202
    return str(response.json()["id"])


def assert_complete(batch_id: str, expected: int = EXPECTED_RESULTS) -> None:
    batch = EnrichmentBatch.objects.get(pk=batch_id)
    assert batch.status == "done", batch.error
    results = EnrichmentResult.objects.filter(batch=batch)
    assert results.count() == expected
    assert not results.exclude(error="").exists()


def peak_held(events: Any) -> int:
    """The most memory the decision log shows held at once: loads add what they count
    against the budget, evictions and unloads give it back."""
    held = peak = 0
    for kind, memory in events.values_list("kind", "memory_mb"):
        if kind == "load":
            held += memory
        elif kind in ("evict", "unload"):
            held -= memory or 0
        peak = max(peak, held)
    return peak
