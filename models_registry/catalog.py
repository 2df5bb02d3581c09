"""The built-in catalog: every model of both API documents, the task options and
selections, and the detection-trigger table.

A data migration installs it once (see ``install_catalog``). After that the database
is the registry: operators edit it in the admin or with ``zoo_import``, and nothing
here overwrites their edits.

Figures come from the documents. Where a document names a model without a figure
(YOLOv8m, SAM2Long, the LLaVA-NeXT variants, the external APIs), the estimate is the
model's fp16 weights plus activations, rounded, and marked ``estimated`` below.
"""

from __future__ import annotations

from typing import Any

CATALOG_VERSION = 1

ZOO_ROOT = "/models/model-zoo"


def _zoo(
    name: str,
    display_name: str,
    category: str,
    vram_mb: int,
    loader: str,
    path: str,
    description: str,
    model_id: str = "",
    enabled: bool = True,
    disabled_reason: str = "",
) -> dict[str, Any]:
    return {
        "name": name,
        "display_name": display_name,
        "category": category,
        "vram_mb": vram_mb,
        "loader": loader,
        "path": path,
        "description": description,
        "model_id": model_id,
        "in_zoo": True,
        "enabled": enabled,
        "disabled_reason": disabled_reason,
    }


# fmt: off
# The Model Zoo document's 18 models, in its order: 15 enabled, then 3 disabled.
ZOO_MODELS: list[dict[str, Any]] = [
    _zoo("yolo11-license-plate", "YOLO11 License Plate", "detection", 300, "ultralytics",
         f"{ZOO_ROOT}/yolo11-license-plate/license-plate-finetune-v1n.pt",
         "License plate detection on vehicles"),
    _zoo("yolo11-face", "YOLO11 Face Detection", "detection", 200, "ultralytics",
         f"{ZOO_ROOT}/yolo11-face-detection/model.pt",
         "Face detection on persons"),
    _zoo("yolo-world-s", "YOLO-World S", "detection", 1500, "ultralytics",
         f"{ZOO_ROOT}/yolo-world-s/yolov8s-worldv2.pt",
         "Open-vocabulary zero-shot detection"),
    _zoo("vehicle-damage-detection", "Vehicle Damage Detection", "detection", 2000,
         "ultralytics", f"{ZOO_ROOT}/vehicle-damage-detection/model.pt",
         "Vehicle damage segmentation (cracks, dents, etc.)"),
    _zoo("violence-detection", "Violence Detection", "classification", 500, "transformers",
         f"{ZOO_ROOT}/violence-detection", "Binary violence classification",
         "jaranohaal/vit-base-violence-detection"),
    _zoo("weather-classification", "Weather Classification", "classification", 200,
         "transformers", f"{ZOO_ROOT}/weather-classification",
         "Weather condition classification (5 classes)"),
    _zoo("fashion-clip", "FashionCLIP", "classification", 500, "transformers",
         f"{ZOO_ROOT}/fashion-clip", "Zero-shot clothing classification",
         "patrickjohncyh/fashion-clip"),
    _zoo("vehicle-segment-classification", "Vehicle Segment Classification", "classification",
         1500, "transformers", f"{ZOO_ROOT}/vehicle-segment-classification",
         "Detailed vehicle type classification (11 types)"),
    _zoo("pet-classifier", "Pet Classifier", "classification", 200, "transformers",
         f"{ZOO_ROOT}/pet-classifier", "Cat/dog classification for false positive reduction"),
    _zoo("segformer-b2-clothes", "SegFormer B2 Clothes", "segmentation", 1500, "transformers",
         f"{ZOO_ROOT}/segformer-b2-clothes", "Clothing segmentation (18 categories)",
         "mattmdjaga/segformer_b2_clothes"),
    _zoo("vitpose-small", "ViTPose Small", "pose", 1500, "transformers",
         f"{ZOO_ROOT}/vitpose-small", "Human pose keypoint detection",
         "usyd-community/vitpose-base-simple"),
    _zoo("depth-anything-v2-small", "Depth Anything V2 Small", "depth-estimation", 150,
         "transformers", f"{ZOO_ROOT}/depth-anything-v2-small",
         "Monocular depth estimation", "depth-anything/Depth-Anything-V2-Small-hf"),
    _zoo("clip-vit-l", "CLIP ViT-L", "embedding", 800, "transformers",
         f"{ZOO_ROOT}/clip-vit-l", "CLIP embeddings for re-identification",
         "openai/clip-vit-large-patch14"),
    # Runs as transformers' port of PaddleOCR's PP-OCRv5 mobile text recogniser.
    _zoo("paddleocr", "PaddleOCR", "ocr", 100, "transformers", f"{ZOO_ROOT}/paddleocr",
         "Text extraction from detected plates",
         "PaddlePaddle/PP-OCRv5_mobile_rec_safetensors"),
    _zoo("xclip-base", "X-CLIP Base", "action-recognition", 2000, "transformers",
         f"{ZOO_ROOT}/xclip-base", "Temporal action recognition",
         "microsoft/xclip-base-patch32"),
    _zoo("florence-2-large", "Florence 2 Large", "vision-language", 1200, "transformers",
         f"{ZOO_ROOT}/florence-2-large", "Vision-language captioning and grounding",
         "microsoft/Florence-2-large", enabled=False,
         disabled_reason="Now runs as dedicated ai-florence HTTP service"),
    _zoo("brisque-quality", "BRISQUE Quality", "quality", 0, "torch",
         f"{ZOO_ROOT}/brisque-quality", "No-reference image quality score",
         enabled=False, disabled_reason="Incompatible with NumPy 2.0"),
    _zoo("yolo26-general", "YOLO26 General", "detection", 400, "ultralytics",
         f"{ZOO_ROOT}/yolo26-general/model.pt", "General-purpose detection",
         enabled=False, disabled_reason="Not yet released"),
]


def _option(
    name: str,
    display_name: str,
    category: str,
    model_id: str,
    loader: str,
    vram_mb: int,
    speed: str,
    description: str,
    vram_unit: str = "mb",
    framework: str = "",
    fps: float | None = None,
    path: str = "",
) -> dict[str, Any]:
    return {
        "name": name,
        "display_name": display_name,
        "category": category,
        "model_id": model_id,
        "loader": loader,
        "vram_mb": vram_mb,
        "vram_unit": vram_unit,
        "speed": speed,
        "description": description,
        "framework": framework,
        "fps": fps,
        "path": path,
    }


GB = 1024

# The Model Management document's task options, per task, in its order.
TASK_OPTIONS: dict[str, list[dict[str, Any]]] = {
    "video_summarization": [
        _option("llama-4-scout", "Llama 4 Scout", "vision-language", "meta-llama/Llama-4-Scout",
                "server", 8 * GB, "fast", "Fast VLM for video understanding", "gb", "sglang",
                2.5),
        _option("llama-4-maverick", "Llama 4 Maverick", "vision-language",
                "meta-llama/Llama-4-Maverick", "server", 16 * GB, "medium", "High-quality VLM",
                "gb", "vllm", 1.2),
        # estimated: 7B parameters in fp16 plus activations.
        _option("llava-next-7b", "LLaVA-NeXT 7B", "vision-language",
                "llava-hf/llava-v1.6-mistral-7b-hf", "transformers", 15 * GB, "medium",
                "Local LLaVA-NeXT VLM (Mistral 7B)", "gb", "transformers", 1.0,
                "/models/llava-next-7b"),
        # estimated: 13B parameters in fp16 plus activations.
        _option("llava-next-13b", "LLaVA-NeXT 13B", "vision-language",
                "llava-hf/llava-v1.6-vicuna-13b-hf", "transformers", 27 * GB, "slow",
                "Local LLaVA-NeXT VLM (Vicuna 13B)", "gb", "transformers", 0.5,
                "/models/llava-next-13b"),
        _option("claude", "Anthropic Claude", "external-api", "claude-sonnet-5-5", "external",
                0, "fast", "External API (Anthropic); uses no local memory", "gb", "anthropic"),
        _option("gpt-4o", "OpenAI GPT-4o", "external-api", "gpt-4o", "external", 0, "fast",
                "External API (OpenAI); uses no local memory", "gb", "openai"),
        _option("gemini", "Google Gemini", "external-api", "gemini-2.5-flash", "external", 0,
                "fast", "External API (Google); uses no local memory", "gb", "google"),
    ],
    "object_detection": [
        _option("yolov8n", "YOLOv8n", "detection", "yolov8n", "ultralytics", 512, "fast",
                "Nano YOLO model", path="/models/yolov8n.pt"),
        _option("yolov8s", "YOLOv8s", "detection", "yolov8s", "ultralytics", 1536, "fast",
                "Small YOLO model", path="/models/yolov8s.pt"),
        # estimated: between the documented small (1.5 GB) and large (4 GB).
        _option("yolov8m", "YOLOv8m", "detection", "yolov8m", "ultralytics", 2560, "medium",
                "Medium YOLO model", path="/models/yolov8m.pt"),
        _option("yolov8l", "YOLOv8l", "detection", "yolov8l", "ultralytics", 4 * GB, "slow",
                "Large YOLO model", path="/models/yolov8l.pt"),
        _option("groundingdino", "GroundingDINO", "detection",
                "IDEA-Research/grounding-dino-base", "transformers", 2048, "medium",
                "Zero-shot detection", path="/models/grounding-dino-base"),
    ],
    "object_tracking": [
        _option("samurai", "SAMURAI", "tracking", "yangchris11/samurai", "transformers",
                4 * GB, "slow", "Segment anything with tracking", path="/models/samurai"),
        _option("sam2.1", "SAM2.1", "tracking", "facebook/sam2.1-hiera-base-plus",
                "transformers", 2 * GB, "medium", "Segment Anything 2.1 video tracking",
                path="/models/sam2.1-hiera-base-plus"),
        # estimated: SAM2.1 weights plus its long-video memory tree.
        _option("sam2long", "SAM2Long", "tracking", "Mark12Ding/SAM2Long", "transformers",
                2560, "slow", "SAM2 with long-video memory", path="/models/sam2long"),
        _option("yolo11n-seg", "YOLO11n-seg", "tracking", "yolo11n-seg", "ultralytics", GB,
                "fast", "YOLO11 nano segmentation with tracking", path="/models/yolo11n-seg.pt"),
        # ByteTrack has no weights: it tracks the boxes of a detector (a YOLOv8n here).
        _option("bytetrack", "ByteTrack", "tracking", "bytetrack", "ultralytics", 256, "fast",
                "Lightweight tracking", path="/models/bytetrack/yolov8n.pt"),
    ],
}

# fmt: on

TASK_SELECTIONS: dict[str, str | None] = {
    "video_summarization": "llama-4-scout",
    "object_detection": "yolov8n",
    "object_tracking": None,
}

# The Model Zoo document's detection-trigger table; "*" stands for every frame.
TRIGGERS: list[tuple[str, list[str]]] = [
    ("person", ["yolo11-face", "vitpose-small", "violence-detection", "segformer-b2-clothes"]),
    ("car", ["yolo11-license-plate", "paddleocr", "vehicle-segment-classification"]),
    ("truck", ["yolo11-license-plate", "paddleocr", "vehicle-segment-classification"]),
    ("motorcycle", ["yolo11-license-plate", "paddleocr"]),
    ("cat", ["pet-classifier"]),
    ("dog", ["pet-classifier"]),
    ("*", ["depth-anything-v2-small", "weather-classification"]),
]


def install_catalog(apps: Any) -> bool:
    """Install the catalog once, with the given app registry (a migration's or the live one).

    Returns whether anything was installed. Rows are only ever created, never updated,
    and once the settings row records this catalog version nothing is touched again, so
    an operator's edits and deletions stand.
    """
    model_entry = apps.get_model("models_registry", "ModelEntry")
    task_model = apps.get_model("models_registry", "Task")
    task_option = apps.get_model("models_registry", "TaskOption")
    trigger_rule = apps.get_model("models_registry", "TriggerRule")
    inference_settings = apps.get_model("models_registry", "InferenceSettings")

    settings_row, _ = inference_settings.objects.get_or_create(pk=1)
    if settings_row.catalog_version >= CATALOG_VERSION:
        return False

    entries: dict[str, Any] = {}
    all_specs = ZOO_MODELS + [o for options in TASK_OPTIONS.values() for o in options]
    for position, spec in enumerate(all_specs, start=1):
        entry, _ = model_entry.objects.get_or_create(
            name=spec["name"], defaults={**spec, "position": position}
        )
        entries[entry.name] = entry

    for task_name, options in TASK_OPTIONS.items():
        selected = TASK_SELECTIONS[task_name]
        task, _ = task_model.objects.get_or_create(
            name=task_name, defaults={"selected": entries[selected] if selected else None}
        )
        for index, spec in enumerate(options):
            task_option.objects.get_or_create(
                task=task, model=entries[spec["name"]], defaults={"position": index}
            )

    for index, (label, names) in enumerate(TRIGGERS):
        for name in names:
            trigger_rule.objects.get_or_create(
                label=label, model=entries[name], defaults={"position": index}
            )

    settings_row.catalog_version = CATALOG_VERSION
    settings_row.save(update_fields=["catalog_version"])
    return True
