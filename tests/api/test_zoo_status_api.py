"""GET /api/system/model-zoo/status: the compact, UI-sorted status."""

from __future__ import annotations

from datetime import datetime

import pytest

from fleet.models import ModelStatus
from models_registry.models import ModelEntry
from models_registry.selectors import UI_ORDER
from tests.factories import ModelStateFactory

pytestmark = pytest.mark.django_db


def test_it_answers_with_the_documents_fields_and_counts(api):
    body = api.get("/api/system/model-zoo/status").json()

    assert set(body) == {
        "models",
        "total_models",
        "loaded_count",
        "disabled_count",
        "vram_budget_mb",
        "vram_used_mb",
        "timestamp",
    }
    assert body["total_models"] == 18
    assert body["loaded_count"] == 0
    assert body["disabled_count"] == 3
    assert body["vram_budget_mb"] == 1650
    assert set(body["models"][0]) == {
        "name",
        "display_name",
        "category",
        "status",
        "vram_mb",
        "last_used_at",
        "enabled",
        "fits_pool",  # additive
        "pool_mb",  # additive
    }


def test_the_timestamp_is_utc(api):
    stamp = api.get("/api/system/model-zoo/status").json()["timestamp"]

    assert stamp.endswith("Z")
    assert datetime.fromisoformat(stamp).utcoffset().total_seconds() == 0


def test_models_come_in_the_documents_category_order_with_disabled_last(api):
    models = api.get("/api/system/model-zoo/status").json()["models"]
    categories = [m["category"] for m in models]

    assert categories == sorted(categories, key=UI_ORDER.index)
    assert [m["enabled"] for m in models[-3:]] == [False, False, False]
    assert all(m["enabled"] for m in models[:-3])
    assert {m["category"] for m in models[-3:]} == {"Other"}
    assert categories[:4] == ["Detection"] * 4
    assert [m["name"] for m in models if m["category"] == "Depth"] == ["depth-anything-v2-small"]
    assert [m["name"] for m in models if m["category"] == "Action Recognition"] == ["xclip-base"]


def test_models_within_a_category_are_sorted_by_name(api):
    models = api.get("/api/system/model-zoo/status").json()["models"]

    for category in UI_ORDER:
        names = [m["name"] for m in models if m["category"] == category and m["enabled"]]
        assert names == sorted(names)
    assert [m["name"] for m in models if m["category"] == "Detection"] == [
        "vehicle-damage-detection", "yolo-world-s", "yolo11-face", "yolo11-license-plate"
    ]  # fmt: skip
    assert [m["name"] for m in models if not m["enabled"]] == [
        "brisque-quality", "florence-2-large", "yolo26-general"
    ]  # fmt: skip


def test_a_loaded_model_counts_and_shows_when_it_was_last_used(api):
    violence = ModelEntry.objects.get(name="violence-detection")
    state = ModelStateFactory(model=violence, status=ModelStatus.LOADED)

    body = api.get("/api/system/model-zoo/status").json()
    row = next(m for m in body["models"] if m["name"] == "violence-detection")

    assert body["loaded_count"] == 1
    assert body["vram_used_mb"] == 500
    assert row["status"] == "loaded"
    assert datetime.fromisoformat(row["last_used_at"]) == state.last_used_at
    assert all(m["last_used_at"] is None for m in body["models"] if m is not row)


def test_a_model_disabled_by_the_operator_moves_to_the_end(api):
    ModelEntry.objects.filter(name="yolo11-face").update(enabled=False)

    models = api.get("/api/system/model-zoo/status").json()["models"]

    face = next(m for m in models if m["name"] == "yolo11-face")
    assert face["status"] == "disabled"
    assert face["category"] == "Other"
    assert models.index(face) >= len(models) - 4
