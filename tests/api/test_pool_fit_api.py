"""Models larger than the zoo pool, as the registry shows them: ``fits_pool`` and
``pool_mb`` beside the document's fields (additive), computed from each entry's estimate
and the pool its kind has on the live devices; the model stays ``unloaded``, not a red
``error``; a change to the settings is seen by the very next request."""

from __future__ import annotations

import pytest

from models_registry.models import InferenceSettings
from tests.factories import DeviceFactory

pytestmark = pytest.mark.django_db

TOO_LARGE = {"vehicle-damage-detection", "xclip-base"}  # 2,000 MB each


def by_name(body: dict) -> dict[str, dict]:
    return {model["name"]: model for model in body["models"]}


def test_the_registry_marks_the_two_models_larger_than_the_pool(api):
    models = by_name(api.get("/api/system/models").json())

    assert {name for name, model in models.items() if not model["fits_pool"]} == TOO_LARGE
    for name in TOO_LARGE:
        assert models[name]["vram_mb"] == 2000
        assert models[name]["pool_mb"] == 1650
        assert models[name]["status"] == "unloaded"


def test_the_compact_status_carries_the_same_mark(api):
    models = by_name(api.get("/api/system/model-zoo/status").json())

    assert {name for name, model in models.items() if not model["fits_pool"]} == TOO_LARGE
    assert models["xclip-base"]["pool_mb"] == 1650


def test_a_device_budget_smaller_than_the_cap_is_the_pool(api):
    DeviceFactory(total_memory_mb=1500, budget_mb=1200)  # the only live device

    models = by_name(api.get("/api/system/models").json())

    assert models["yolo11-face"]["pool_mb"] == 1200
    assert models["vitpose-small"]["fits_pool"] is False  # 1,500 MB


def test_a_larger_pool_is_seen_by_the_next_request(api, settings):
    settings.ZOO_STATUS_SNAPSHOTS = True  # the read model keeps documents between changes
    assert by_name(api.get("/api/system/models").json())["xclip-base"]["fits_pool"] is False
    assert (
        by_name(api.get("/api/system/model-zoo/status").json())["xclip-base"]["fits_pool"] is False
    )

    row = InferenceSettings.load()
    row.zoo_vram_budget_mb = 2000
    row.save()

    registry = by_name(api.get("/api/system/models").json())
    assert (registry["xclip-base"]["fits_pool"], registry["xclip-base"]["pool_mb"]) == (True, 2000)
    assert (
        by_name(api.get("/api/system/model-zoo/status").json())["xclip-base"]["fits_pool"] is True
    )
