"""The catalog migration: installed once, never duplicated, never over an operator's edits."""

from __future__ import annotations

import pytest
from django.apps import apps

from models_registry.catalog import TASK_OPTIONS, TRIGGERS, ZOO_MODELS, install_catalog
from models_registry.models import ModelEntry, Task, TaskOption, TriggerRule

pytestmark = pytest.mark.django_db


def _snapshot() -> tuple:
    return (
        sorted(ModelEntry.objects.values_list("name", "display_name", "vram_mb", "enabled")),
        sorted(Task.objects.values_list("name", "selected__name")),
        sorted(TaskOption.objects.values_list("task_id", "model__name")),
        sorted(TriggerRule.objects.values_list("label", "model__name")),
    )


def test_the_migration_installed_every_model_task_and_trigger():
    options = sum(len(o) for o in TASK_OPTIONS.values())
    assert ModelEntry.objects.count() == len(ZOO_MODELS) + options
    assert ModelEntry.objects.filter(in_zoo=True).count() == 18
    assert ModelEntry.objects.filter(in_zoo=True, enabled=False).count() == 3
    assert TaskOption.objects.count() == options
    assert TriggerRule.objects.count() == sum(len(models) for _, models in TRIGGERS)
    assert set(
        TriggerRule.objects.filter(label="person").values_list("model__name", flat=True)
    ) == {"yolo11-face", "vitpose-small", "violence-detection", "segformer-b2-clothes"}
    assert set(TriggerRule.objects.filter(label="*").values_list("model__name", flat=True)) == {
        "depth-anything-v2-small",
        "weather-classification",
    }


def test_disabled_models_keep_their_reasons():
    reasons = dict(ModelEntry.objects.filter(enabled=False).values_list("name", "disabled_reason"))

    assert reasons == {
        "florence-2-large": "Now runs as dedicated ai-florence HTTP service",
        "brisque-quality": "Incompatible with NumPy 2.0",
        "yolo26-general": "Not yet released",
    }


def test_installing_again_changes_nothing():
    before = _snapshot()

    assert install_catalog(apps) is False
    assert _snapshot() == before


def test_installing_again_keeps_the_operators_edits_and_deletions():
    ModelEntry.objects.filter(name="yolo11-face").update(display_name="Faces", vram_mb=250)
    Task.objects.filter(name="object_detection").update(
        selected=ModelEntry.objects.get(name="yolov8m")
    )
    TriggerRule.objects.filter(label="cat").delete()
    ModelEntry.objects.filter(name="gpt-4o").delete()
    edited = _snapshot()

    install_catalog(apps)

    assert _snapshot() == edited


def test_on_an_empty_registry_it_installs_without_duplicates():
    ModelEntry.objects.all().delete()
    Task.objects.all().delete()
    from models_registry.models import InferenceSettings

    InferenceSettings.objects.all().delete()

    assert install_catalog(apps) is True
    first = _snapshot()
    install_catalog(apps)
    assert _snapshot() == first
    assert ModelEntry.objects.filter(name="yolo11-face").count() == 1
