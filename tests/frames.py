"""What the enrichment tests feed in: a camera-like JPEG and the detections a
detector upstream would send with it."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

PERSON = {"label": "person", "bbox": [10, 10, 110, 200], "confidence": 0.9}
CAR = {"label": "car", "bbox": [200, 100, 400, 220], "confidence": 0.8}
DOG = {"label": "dog", "bbox": [420, 150, 500, 230], "confidence": 0.7}


def jpeg(width: int = 640, height: int = 480) -> bytes:
    """A JPEG of noise (the same for every call of one size)."""
    pixels = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG")
    return buffer.getvalue()
