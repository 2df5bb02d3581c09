"""Which entries the bootstrap builds, and which builder builds each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from inference.bootstrap.common import (
    CLOTHES,
    FACE,
    GENERIC_CLASSES,
    LICENSE_PLATE,
    LOCAL_LOADERS,
    PETS,
    VEHICLE_DAMAGE,
    VEHICLE_TYPES,
    VIOLENCE,
    WEATHER,
    Builder,
    coco_names,
)
from inference.bootstrap.torch_export import brisque_builder, torch_export_builder
from inference.bootstrap.transformers_multimodal import (
    clip_builder,
    florence2_builder,
    grounding_dino_builder,
    llava_next_builder,
    xclip_builder,
)
from inference.bootstrap.transformers_vision import (
    convnext_classifier,
    depth_anything_builder,
    pp_ocr_builder,
    resnet_classifier,
    sam2_video_builder,
    segformer_builder,
    vit_classifier,
    vitpose_builder,
)
from inference.bootstrap.ultralytics_recipes import yolo_builder, yolo_world_builder
from models_registry.models import Category, Loader


@dataclass(frozen=True)
class Target:
    """What the bootstrap needs to know of a registry entry."""

    name: str
    loader: str
    category: str
    path: str = ""
    model_id: str = ""

    @classmethod
    def from_fields(cls, fields: Any) -> Target:
        """From a catalog dict or anything with the registry's attribute names."""

        def get(key: str) -> str:
            value = fields.get(key) if isinstance(fields, dict) else getattr(fields, key, "")
            return str(value or "")

        return cls(
            name=get("name"),
            loader=get("loader"),
            category=get("category"),
            path=get("path"),
            model_id=get("model_id"),
        )


def catalog_targets() -> list[Target]:
    """Every entry of the built-in catalog that a local loader serves."""
    from models_registry.catalog import TASK_OPTIONS, ZOO_MODELS

    entries = ZOO_MODELS + [option for options in TASK_OPTIONS.values() for option in options]
    targets = [Target.from_fields(entry) for entry in entries]
    return [target for target in targets if target.loader in LOCAL_LOADERS]


# Entries the catalog names, with their real classes and a layout close to the real one.
RECIPES: dict[str, Builder] = {
    "yolo11-license-plate": yolo_builder(
        "yolo11n.yaml", LICENSE_PLATE, "license-plate-finetune-v1n.pt"
    ),
    "yolo11-face": yolo_builder("yolo11n.yaml", FACE, "model.pt"),
    "yolo-world-s": yolo_world_builder(coco_names, "yolov8s-worldv2.pt"),
    "vehicle-damage-detection": yolo_builder("yolo11n-seg.yaml", VEHICLE_DAMAGE, "model.pt"),
    "yolo26-general": yolo_builder("yolo26n.yaml", coco_names, "model.pt"),
    # yolov8m and yolov8l are built at their true scale (52 and 88 MB): their memory is
    # the point of offering them.
    "yolov8n": yolo_builder("yolov8n.yaml", coco_names, "yolov8n.pt"),
    "yolov8s": yolo_builder("yolov8s.yaml", coco_names, "yolov8s.pt"),
    "yolov8m": yolo_builder("yolov8m.yaml", coco_names, "yolov8m.pt"),
    "yolov8l": yolo_builder("yolov8l.yaml", coco_names, "yolov8l.pt"),
    "yolo11n-seg": yolo_builder("yolo11n-seg.yaml", coco_names, "yolo11n-seg.pt"),
    # ByteTrack has no weights of its own: it tracks a detector's boxes.
    "bytetrack": yolo_builder("yolov8n.yaml", coco_names, "yolov8n.pt"),
    "violence-detection": vit_classifier(VIOLENCE),
    "weather-classification": vit_classifier(WEATHER),
    "fashion-clip": clip_builder(patch_size=32, projection_dim=512),
    # The real architectures of these two are not published; two more families prove
    # the classification path is generic.
    "vehicle-segment-classification": convnext_classifier(VEHICLE_TYPES),
    "pet-classifier": resnet_classifier(PETS),
    "segformer-b2-clothes": segformer_builder(CLOTHES),
    "vitpose-small": vitpose_builder,
    "depth-anything-v2-small": depth_anything_builder,
    "clip-vit-l": clip_builder(patch_size=14, projection_dim=768),
    "paddleocr": pp_ocr_builder,
    "xclip-base": xclip_builder,
    "florence-2-large": florence2_builder,
    "groundingdino": grounding_dino_builder,
    "sam2.1": sam2_video_builder,
    "samurai": sam2_video_builder,
    "sam2long": sam2_video_builder,
    "llava-next-7b": llava_next_builder("mistral"),
    "llava-next-13b": llava_next_builder("llama"),
    "brisque-quality": brisque_builder,
}

# Anything else a local loader serves gets a model of the right kind for its category.
FALLBACKS: dict[tuple[str, str], Builder] = {
    (Loader.ULTRALYTICS, Category.DETECTION): yolo_builder("yolo11n.yaml", coco_names, "model.pt"),
    (Loader.ULTRALYTICS, Category.TRACKING): yolo_builder("yolo11n.yaml", coco_names, "model.pt"),
    (Loader.ULTRALYTICS, Category.SEGMENTATION): yolo_builder(
        "yolo11n-seg.yaml", coco_names, "model.pt"
    ),
    (Loader.ULTRALYTICS, Category.POSE): yolo_builder("yolo11n-pose.yaml", ["person"], "model.pt"),
    (Loader.ULTRALYTICS, Category.CLASSIFICATION): yolo_builder(
        "yolo11n-cls.yaml", GENERIC_CLASSES, "model.pt"
    ),
    (Loader.TRANSFORMERS, Category.CLASSIFICATION): vit_classifier(GENERIC_CLASSES),
    (Loader.TRANSFORMERS, Category.DETECTION): grounding_dino_builder,
    (Loader.TRANSFORMERS, Category.SEGMENTATION): segformer_builder(["background", "foreground"]),
    (Loader.TRANSFORMERS, Category.POSE): vitpose_builder,
    (Loader.TRANSFORMERS, Category.DEPTH): depth_anything_builder,
    (Loader.TRANSFORMERS, Category.EMBEDDING): clip_builder(patch_size=32, projection_dim=512),
    (Loader.TRANSFORMERS, Category.OCR): pp_ocr_builder,
    (Loader.TRANSFORMERS, Category.ACTION_RECOGNITION): xclip_builder,
    (Loader.TRANSFORMERS, Category.TRACKING): sam2_video_builder,
    (Loader.TRANSFORMERS, Category.VISION_LANGUAGE): llava_next_builder("llama"),
    (Loader.TORCH, Category.QUALITY): brisque_builder,
    (Loader.TORCH, Category.CLASSIFICATION): torch_export_builder(
        {"input_size": [224, 224], "labels": GENERIC_CLASSES, "output": "logits"},
        outputs=len(GENERIC_CLASSES),
        activation="logits",
    ),
    (Loader.TORCH, Category.EMBEDDING): torch_export_builder(
        {"input_size": [224, 224], "output": "embedding"}, outputs=128, activation="embedding"
    ),
}


def builder_for(target: Target) -> Builder | None:
    """The builder for an entry: by its name where the catalog knows it, else by loader
    and category; ``None`` where nothing local fits (external APIs, inference servers)."""
    if target.loader not in LOCAL_LOADERS:
        return None
    return RECIPES.get(target.name) or FALLBACKS.get((target.loader, target.category))
