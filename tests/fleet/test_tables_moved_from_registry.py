"""A database migrated by the code before the fleet app existed migrates forward with
every runtime row intact: devices, model states, the decision log and its tallies, and
the rows of other apps that point at a device."""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

BEFORE = [
    ("models_registry", "0006_event_causes_and_tallies"),
    ("inference", "0001_initial"),
    ("latency", "0001_initial"),
]
AFTER = [
    ("models_registry", "0007_runtime_tables_move_to_fleet"),
    ("inference", "0002_device_moves_to_fleet"),
    ("latency", "0002_device_moves_to_fleet"),
]


def _old_rows(apps) -> dict[str, object]:
    entry = apps.get_model("models_registry", "ModelEntry").objects.get(name="yolo11-face")
    device = apps.get_model("models_registry", "Device").objects.create(
        host="gpu-a", name="cuda:0", kind="cuda", total_memory_mb=24576, budget_mb=19660,
        worker="w1", heartbeat_at=timezone.now(),
    )  # fmt: skip
    apps.get_model("models_registry", "ModelState").objects.create(
        model=entry, device=device, status="loaded", load_count=2, measured_mb=180,
        load_duration_s=0.4, last_error="", error_count=1,
    )  # fmt: skip
    apps.get_model("models_registry", "ModelEvent").objects.create(
        device=device, model=entry, model_name=entry.name, kind="load", reason="loaded",
        memory_mb=180, cause="loaded",
    )  # fmt: skip
    apps.get_model("models_registry", "EventTally").objects.create(
        model_name=entry.name, kind="load", cause="loaded", count=7
    )
    batch = apps.get_model("inference", "EnrichmentBatch").objects.create(
        id=uuid.uuid4(), device_id=device.pk
    )
    apps.get_model("latency", "LatencySample").objects.create(
        model_id=entry.pk, kind=1, recorded_at=timezone.now(), duration_ms=12.5, device_id=device.pk
    )
    return {"entry": entry.pk, "device": device.pk, "batch": batch.pk}


@pytest.mark.subprocess
def test_runtime_rows_survive_the_move_to_fleet(migrator) -> None:
    old = migrator.apply_initial_migration(BEFORE)
    ids = _old_rows(old.apps)

    new = migrator.apply_tested_migration(AFTER)

    device = new.apps.get_model("fleet", "Device").objects.get()
    assert (device.pk, device.host, device.name, device.budget_mb) == (
        ids["device"], "gpu-a", "cuda:0", 19660,
    )  # fmt: skip
    state = new.apps.get_model("fleet", "ModelState").objects.get()
    assert (state.model_id, state.device_id, state.status, state.load_count) == (
        ids["entry"], ids["device"], "loaded", 2,
    )  # fmt: skip
    assert (state.measured_mb, state.error_count) == (180, 1)
    event = new.apps.get_model("fleet", "ModelEvent").objects.get()
    assert (event.device_id, event.model_name, event.cause) == (
        ids["device"],
        "yolo11-face",
        "loaded",
    )
    assert new.apps.get_model("fleet", "EventTally").objects.get().count == 7
    batch = new.apps.get_model("inference", "EnrichmentBatch").objects.get(pk=ids["batch"])
    assert batch.device_id == ids["device"]
    assert new.apps.get_model("fleet", "Device").objects.get().batches.count() == 1
    sample = new.apps.get_model("latency", "LatencySample").objects.get()
    assert sample.device_id == ids["device"]
