"""What every transformers model kind shares: loading the weights and the processor
from a checkpoint folder, and reading labels from the config or the options."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar

from inference.engine.loaders.base import ImageLike, LoadedModel, LoadError
from inference.engine.specs import ModelSpec

logger = logging.getLogger(__name__)

# A checkpoint missing more than this share of the model's tensors is another
# architecture, not a checkpoint with a few freshly initialised heads.
MAX_MISSING_SHARE = 0.5


class TransformersModel(LoadedModel):
    """A transformers model and its processor, on one device.

    Subclasses name the auto class that loads their weights and the processor they need,
    and turn outputs into the category's JSON shape.
    """

    auto_class: ClassVar[str] = "AutoModel"
    processor_class: ClassVar[str] = "AutoProcessor"

    def __init__(self, spec: ModelSpec, device: str, model: Any, processor: Any, config: Any):
        super().__init__(spec, device)
        self.model = model
        self.processor = processor
        self.config = config

    @classmethod
    def load(cls, spec: ModelSpec, device: str, path: Path, config: Any) -> TransformersModel:
        model = _from_pretrained(spec, path, cls.auto_class, device)
        processor = _processor(spec, path, cls.processor_class)
        return cls(spec, device, model, processor, config)

    def modules(self) -> list[Any]:
        return [self.model] if self.model is not None else []

    def _to_device(self, inputs: Any) -> Any:
        return inputs.to(self.device)

    def predict(self, image: ImageLike, **options: Any) -> dict[str, Any]:
        import torch

        with torch.inference_mode():
            return self.run(image, options)

    def predict_many(self, images: list[ImageLike], **options: Any) -> list[dict[str, Any]]:
        import torch

        with torch.inference_mode():
            return self.run_many(images, options)

    def run(self, image: ImageLike, options: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def run_many(self, images: list[ImageLike], options: dict[str, Any]) -> list[dict[str, Any]]:
        """Every image in one forward pass where the kind supports it (else one each)."""
        return [self.run(image, options) for image in images]


def labels_of(config: Any) -> list[str]:
    """The checkpoint's own class names, in index order (``config.id2label``)."""
    id2label = getattr(config, "id2label", None) or {}
    return [str(id2label.get(i, id2label.get(str(i), f"class_{i}"))) for i in range(len(id2label))]


def label_list(value: Any, default: list[str]) -> list[str]:
    """The ``labels`` option of a model that takes free-text labels (``default`` if none)."""
    if value is None:
        return list(default)
    if isinstance(value, str) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError("labels must be a list of non-empty strings")
    if not value:
        raise ValueError("labels must not be empty")
    return [v.strip() for v in value]


def top_k_option(options: dict[str, Any]) -> int:
    """The ``top_k`` option (5): at least one label is always answered."""
    return max(int(options.get("top_k", 5)), 1)


def _from_pretrained(spec: ModelSpec, path: Path, auto_class: str, device: str) -> Any:
    import torch
    import transformers

    auto = getattr(transformers, auto_class)
    # Half-precision weights run poorly (or not at all) on a CPU; elsewhere keep the
    # checkpoint's own dtype.
    dtype: Any = torch.float32 if device.startswith("cpu") else "auto"
    try:
        model, info = auto.from_pretrained(
            path, local_files_only=True, dtype=dtype, output_loading_info=True
        )
    except Exception as exc:
        raise LoadError(
            f"{spec.name}: could not load the weights in {path}: {type(exc).__name__}: {exc}"
        ) from exc
    expected = len(model.state_dict())
    missing = sorted(info.get("missing_keys") or [])
    if expected and len(missing) > MAX_MISSING_SHARE * expected:
        raise LoadError(
            f"{spec.name}: the weights in {path} do not fit {type(model).__name__}: "
            f"{len(missing)} of {expected} tensors missing (e.g. {missing[0]})"
        )
    if missing:
        logger.warning(
            "%s: %d tensors missing from %s, freshly initialised: %s",
            spec.name,
            len(missing),
            path,
            ", ".join(missing[:5]),
        )
    # On the CPU the weights come back mapped from the safetensors file, not read:
    # ``load_model`` makes them resident before the load counts as done.
    return model.to(device).eval()


def _processor(spec: ModelSpec, path: Path, processor_class: str) -> Any:
    import transformers

    try:
        return getattr(transformers, processor_class).from_pretrained(path, local_files_only=True)
    except Exception as exc:
        raise LoadError(
            f"{spec.name}: could not load the processor saved in {path}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
