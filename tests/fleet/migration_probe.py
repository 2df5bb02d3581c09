"""Run as a child process by test_tables_moved_from_registry on a scratch database:
migrate to the heads before the fleet app, store runtime rows, migrate forward, and print
what the fleet models read back, as JSON."""

from __future__ import annotations

import json
import sys
import uuid

import django
from django.core.management import call_command

BEFORE = [
    ("models_registry", "0006_event_causes_and_tallies"),
    ("inference", "0001_initial"),
    ("latency", "0001_initial"),
]


def old_rows() -> dict[str, object]:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor
    from django.utils import timezone

    apps = MigrationExecutor(connection).loader.project_state(BEFORE).apps
    entry = apps.get_model("models_registry", "ModelEntry").objects.get(name="yolo11-face")
    device = apps.get_model("models_registry", "Device").objects.create(
        host="gpu-a", name="cuda:0", kind="cuda", total_memory_mb=24576, budget_mb=19660,
        worker="w1", heartbeat_at=timezone.now(),
    )  # fmt: skip
    apps.get_model("models_registry", "ModelState").objects.create(
        model_id=entry.pk, device_id=device.pk, status="loaded", load_count=2, measured_mb=180,
        load_duration_s=0.4, error_count=1,
    )  # fmt: skip
    apps.get_model("models_registry", "ModelEvent").objects.create(
        device_id=device.pk, model_id=entry.pk, model_name=entry.name, kind="load",
        reason="loaded", memory_mb=180, cause="loaded",
    )  # fmt: skip
    apps.get_model("models_registry", "EventTally").objects.create(
        model_name=entry.name, kind="load", cause="loaded", count=7
    )
    batch = apps.get_model("inference", "EnrichmentBatch").objects.create(
        id=uuid.uuid4(), device_id=device.pk
    )
    apps.get_model("latency", "LatencySample").objects.create(
        model_id=entry.pk, kind=1, recorded_at=timezone.now(), duration_ms=12.5,
        device_id=device.pk,
    )  # fmt: skip
    return {"entry": entry.pk, "device": device.pk, "batch": str(batch.pk)}


def new_rows() -> dict[str, object]:
    from fleet.models import Device, EventTally, ModelEvent, ModelState
    from inference.models import EnrichmentBatch
    from latency.models import LatencySample

    device = Device.objects.get()
    state = ModelState.objects.get()
    event = ModelEvent.objects.get()
    return {
        "device": [device.pk, device.host, device.name, device.budget_mb],
        "state": [state.model_id, state.device_id, state.status, state.load_count,
                  state.measured_mb, state.error_count],
        "event": [event.device_id, event.model_name, event.cause],
        "tally": EventTally.objects.get().count,
        "batch_devices": [str(b.device_id) for b in EnrichmentBatch.objects.all()],
        "device_batches": device.batches.count(),
        "sample_device": LatencySample.objects.get().device_id,
    }  # fmt: skip


def main() -> None:
    django.setup()
    for app, migration in BEFORE:
        call_command("migrate", app, migration, verbosity=0)
    before = old_rows()
    call_command("migrate", verbosity=0)
    json.dump({"before": before, "after": new_rows()}, sys.stdout)


if __name__ == "__main__":
    main()
