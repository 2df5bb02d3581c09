"""Read-side queries of the catalog: zoo entries, tasks with their options and
selections, settings, and the documents the Model Management API and models.yaml
spell them in. What workers did with the models is ``fleet.selectors``'.

Every function here runs a fixed number of queries, whatever the number of models.
"""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from models_registry.models import InferenceSettings, Loader, ModelEntry, Task, TaskOption, TaskType


def zoo_entries() -> QuerySet[ModelEntry]:
    """The enrichment zoo's models, in registry order."""
    return ModelEntry.objects.filter(in_zoo=True)


def zoo_entry(*, name: str) -> ModelEntry | None:
    return zoo_entries().filter(name=name).first()


def inference_settings() -> InferenceSettings:
    return InferenceSettings.load()


def tasks_with_options() -> list[Task]:
    """Every task with its options in order and its selection, in three queries."""
    options = TaskOption.objects.select_related("model").order_by("position", "model__name")
    tasks = {
        task.name: task
        for task in Task.objects.select_related("selected").prefetch_related(
            Prefetch("task_options", queryset=options)
        )
    }
    # The documents' task order, whatever the table holds.
    return [tasks[name] for name in TaskType.values if name in tasks]


def model_names() -> list[str]:
    """Every registry model's name, sorted."""
    return list(ModelEntry.objects.order_by("name").values_list("name", flat=True))


def model_entry(*, name: str) -> ModelEntry | None:
    return ModelEntry.objects.filter(name=name).first()


def task_selected(*, task: str) -> ModelEntry | None:
    """The model selected for a task, if any."""
    return ModelEntry.objects.filter(selected_for__name=task).first()


def selected_local_models() -> list[str]:
    """The enabled models selected for some task that run in this service's workers."""
    return list(
        ModelEntry.objects.filter(selected_for__isnull=False, enabled=True)
        .exclude(loader__in=[Loader.EXTERNAL, Loader.SERVER])
        .values_list("name", flat=True)
        .distinct()
    )


def task_option(*, task: str, model_name: str) -> ModelEntry | None:
    return ModelEntry.objects.filter(task_options__task_id=task, name=model_name).first()


# --- The Model Zoo API ---------------------------------------------------------------

# The compact status's UI categories, in the document's order; the rest is "Other".
UI_CATEGORIES: dict[str, str] = {
    "detection": "Detection",
    "classification": "Classification",
    "segmentation": "Segmentation",
    "pose": "Pose",
    "depth-estimation": "Depth",
    "embedding": "Embedding",
    "ocr": "OCR",
    "action-recognition": "Action Recognition",
}
UI_OTHER = "Other"
UI_ORDER = [*UI_CATEGORIES.values(), UI_OTHER]


# --- The Model Management API --------------------------------------------------------


def gb(mb: float) -> float:
    return round(mb / 1024, 2)


def option_document(entry: ModelEntry) -> dict[str, object]:
    """A task option as the Model Management document (and its YAML file) spells it."""
    doc: dict[str, object] = {"model_id": entry.model_id or entry.name}
    if entry.framework:
        doc["framework"] = entry.framework
    if entry.vram_unit == "gb":
        doc["vram_gb"] = gb(entry.vram_mb)
    else:
        doc["vram_mb"] = entry.vram_mb
    if entry.speed:
        doc["speed"] = entry.speed
    if entry.description:
        doc["description"] = entry.description
    if entry.fps is not None:
        doc["fps"] = entry.fps
    return doc


# The framework a loader's models run on, for options whose catalog entry names none.
LOADER_FRAMEWORKS: dict[str, str] = {
    Loader.ULTRALYTICS: "ultralytics",
    Loader.TRANSFORMERS: "transformers",
    Loader.TORCH: "pytorch",
}


def option_fields(entry: ModelEntry) -> dict[str, object]:
    """A task option with every field of the document's "Model Option Fields" table, as
    ``GET /api/models/config`` serves it: the published unit and the other one
    (``vram_mb`` and ``vram_gb``), the framework (the catalog's, else the one the
    entry's loader runs on), and ``fps`` (the catalog's throughput, null where none is
    published: every option but the local and server-run VLMs)."""
    return {
        "model_id": entry.model_id or entry.name,
        "framework": entry.framework or LOADER_FRAMEWORKS.get(entry.loader, entry.loader),
        "vram_mb": entry.vram_mb,
        "vram_gb": gb(entry.vram_mb),
        "speed": entry.speed,
        "description": entry.description,
        "fps": entry.fps,
    }


def inference_document(row: InferenceSettings) -> dict[str, object]:
    return {
        "max_memory_per_model": row.max_memory_per_model,
        "offload_threshold": row.offload_threshold,
        "warmup_on_startup": row.warmup_on_startup,
        "default_batch_size": row.default_batch_size,
        "max_batch_size": row.max_batch_size,
    }


def tasks_document(*, every_field: bool = False) -> dict[str, object]:
    """Each task's selection and options, as models.yaml (``tasks``) spells them, or,
    with ``every_field``, as ``GET /api/models/config`` (``models``) serves them."""
    spell = option_fields if every_field else option_document
    return {
        task.name: {
            "selected": task.selected.name if task.selected else None,
            "options": {
                option.model.name: spell(option.model) for option in task.task_options.all()
            },
        }
        for task in tasks_with_options()
    }


def config_document() -> dict[str, object]:
    """The registry's tasks and inference settings in the models.yaml format."""
    return {"tasks": tasks_document(), "inference": inference_document(inference_settings())}
