"""Hugging Face transformers models, chosen by the entry's category and the checkpoint's
config.

A checkpoint is a folder as ``save_pretrained`` writes it: ``config.json``, the weights
(safetensors) and the processor saved beside them. It is loaded with
``from_pretrained(folder, local_files_only=True)``: nothing is ever fetched.

Each category maps to one kind of model (``transformers_vision``: one image, the
checkpoint's own classes; ``transformers_multimodal``: an image with text;
``transformers_video``: frames; all on ``transformers_common.TransformersModel``). The
config's ``model_type`` decides where a category has more than one (CLIP-like dual
encoders for zero-shot classification, SAM 2's video or image model for tracking,
Florence-2 for vision-language). A checkpoint of an architecture the category cannot
use is refused with a ``LoadError`` that names the path.

``predict`` options, by category:

- classification: ``top_k`` (5); zero-shot (CLIP-like): ``labels`` (default: clothing)
  and ``template`` (``"a photo of a {}"``).
- detection (Grounding DINO): ``labels`` (default: COCO-like), ``threshold`` (0.3),
  ``max_det`` (100).
- pose: ``boxes``, person boxes ``[x1, y1, x2, y2]`` (default: the whole image).
- ocr: ``box``, a crop ``[x1, y1, x2, y2]`` to read (default: the whole image).
- action-recognition: ``frames`` (images in order; else the one image), ``labels``.
- tracking (SAM 2): ``frames``, ``boxes`` to follow from the first frame (default: the
  whole image), ``points`` (``[x, y]`` each, instead of boxes).
- vision-language: ``prompt``, ``max_new_tokens`` (64); Florence-2: ``task`` (``<CAPTION>``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from inference.engine.loaders.base import LoadedModel, LoadError
from inference.engine.loaders.transformers_common import TransformersModel
from inference.engine.loaders.transformers_multimodal import (
    Florence2,
    VisionLanguage,
    ZeroShotClassifier,
    ZeroShotDetector,
)
from inference.engine.loaders.transformers_video import (
    ActionRecogniser,
    PromptedSegmenter,
    VideoTracker,
)
from inference.engine.loaders.transformers_vision import (
    DepthEstimator,
    ImageClassifier,
    ImageEmbedder,
    PoseEstimator,
    SemanticSegmenter,
    TextRecogniser,
)
from inference.engine.specs import ModelSpec
from inference.engine.vocabulary import Category


def _mapping(name: str) -> Any:
    from transformers.models.auto import modeling_auto

    return getattr(modeling_auto, name)


def _kind_for(spec: ModelSpec, config: Any) -> type[TransformersModel] | None:
    """The model kind that serves ``spec``'s category with a checkpoint of this config."""
    model_type = getattr(config, "model_type", "")
    zero_shot = model_type in _mapping("MODEL_FOR_ZERO_SHOT_IMAGE_CLASSIFICATION_MAPPING_NAMES")
    category = spec.category
    if category == Category.CLASSIFICATION:
        if zero_shot:
            return ZeroShotClassifier
        if model_type in _mapping("MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES"):
            return ImageClassifier
    elif category == Category.DETECTION:
        if model_type in ("grounding-dino", "mm-grounding-dino"):
            return ZeroShotDetector
    elif category == Category.SEGMENTATION:
        if model_type in _mapping("MODEL_FOR_SEMANTIC_SEGMENTATION_MAPPING_NAMES"):
            return SemanticSegmenter
    elif category == Category.DEPTH:
        if model_type in _mapping("MODEL_FOR_DEPTH_ESTIMATION_MAPPING_NAMES"):
            return DepthEstimator
    elif category == Category.POSE:
        if model_type in _mapping("MODEL_FOR_POSE_ESTIMATION_MAPPING_NAMES"):
            return PoseEstimator
    elif category == Category.EMBEDDING:
        if zero_shot or model_type in _mapping("MODEL_MAPPING_NAMES"):
            return ImageEmbedder
    elif category == Category.OCR:
        if model_type in _mapping("MODEL_FOR_TEXT_RECOGNITION_MAPPING_NAMES"):
            return TextRecogniser
    elif category == Category.ACTION_RECOGNITION:
        if model_type == "xclip":
            return ActionRecogniser
    elif category == Category.TRACKING:
        if model_type == "sam2_video":
            return VideoTracker
        if model_type == "sam2":
            return PromptedSegmenter
    elif category == Category.VISION_LANGUAGE:
        if model_type == "florence2":
            return Florence2
        if model_type in _mapping("MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES"):
            return VisionLanguage
    return None


def load(spec: ModelSpec, device: str) -> LoadedModel:
    """Load the transformers checkpoint folder at ``spec.path`` onto ``device``."""
    import transformers
    from transformers.utils import logging as transformers_logging

    # Loading bars would land in worker logs at every load.
    transformers_logging.disable_progress_bar()
    path = Path(spec.path)
    if not (path / "config.json").is_file():
        raise LoadError(
            f"{spec.name}: {path} is not a transformers checkpoint folder (no config.json)"
        )
    try:
        config = transformers.AutoConfig.from_pretrained(path, local_files_only=True)
    except Exception as exc:
        raise LoadError(
            f"{spec.name}: could not read {path / 'config.json'}: {type(exc).__name__}: {exc}"
        ) from exc
    kind = _kind_for(spec, config)
    if kind is None:
        model_type = getattr(config, "model_type", "unknown")
        raise LoadError(
            f"{spec.name}: {path} holds a {model_type} checkpoint, which cannot serve "
            f"the {spec.category} category"
        )
    return kind.load(spec, device, path, config)
