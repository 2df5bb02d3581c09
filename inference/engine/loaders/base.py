"""The contract every loader meets: a loaded model with one ``predict`` on images."""

from __future__ import annotations

import abc
from typing import Any

import numpy as np
from PIL import Image

from inference.engine.specs import ModelSpec

ImageLike = np.ndarray | Image.Image


class LoadError(RuntimeError):
    """A model could not be loaded; the message names the path and the cause."""


class OutOfMemory(RuntimeError):
    """A device ran out of memory while loading or running a model."""


def as_pil(image: ImageLike) -> Image.Image:
    """An RGB PIL image from a PIL image or an HxWx3 (or HxW) uint8 array."""
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ValueError(f"expected an HxWx3 image, got shape {array.shape}")
    if array.dtype != np.uint8:
        array = np.clip(array, 0, 255).astype(np.uint8)
    return Image.fromarray(array[..., :3])


class LoadedModel(abc.ABC):
    """A model in memory on one device, ready to answer ``predict``."""

    def __init__(self, spec: ModelSpec, device: str):
        self.spec = spec
        self.device = device

    @abc.abstractmethod
    def predict(self, image: ImageLike, **options: Any) -> dict[str, Any]:
        """Run the model on one image; plain, JSON-able results."""

    def predict_many(self, images: list[ImageLike], **options: Any) -> list[dict[str, Any]]:
        """``predict`` on each image, in order, with the same options: in one batched
        forward pass where the model kind overrides this, else one call each."""
        return [self.predict(image, **options) for image in images]

    def modules(self) -> list[Any]:
        """The torch modules holding this model's tensors (for measuring and freeing)."""
        return []

    def tensor_bytes(self) -> int:
        """Bytes of every parameter and buffer: the model's size in memory."""
        seen: set[int] = set()
        total = 0
        for module in self.modules():
            for tensor in [*module.parameters(), *module.buffers()]:
                if id(tensor) in seen:
                    continue
                seen.add(id(tensor))
                total += tensor.numel() * tensor.element_size()
        return total

    def close(self) -> None:
        """Give the model's memory back now, without a garbage collection.

        Every parameter and buffer is pointed at an empty tensor, so its storage is
        freed the moment this drops the last reference, even where the library's
        objects sit in reference cycles that only a (slow) full collection would
        reach; then every other reference this object holds is dropped.
        """
        release_tensors(self.modules())
        for name in list(vars(self)):
            if name not in ("spec", "device"):
                setattr(self, name, None)


def release_tensors(modules: list[Any]) -> None:
    """Swap every parameter's and buffer's data for an empty tensor of the same kind."""
    import torch

    with torch.no_grad():
        for module in modules:
            for tensor in [*module.parameters(), *module.buffers()]:
                tensor.data = torch.empty(0, dtype=tensor.dtype, device=tensor.device)
