"""/metrics: django-prometheus's series beside the model_zoo ones, read from the
database, so any web process reports what every worker did."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from fleet import services as fleet_services
from fleet.models import EventCause, EventKind, ModelStatus
from latency import services
from latency.models import SampleKind
from latency.services import Sample
from models_registry.models import ModelEntry
from tests.factories import DeviceFactory, ModelStateFactory

MB = 1024 * 1024


def scrape(api) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = api.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def event(model: ModelEntry, kind: str, cause: str) -> None:
    fleet_services.model_event_record(
        device_id=None, model_id=model.pk, model_name=model.name, kind=kind, reason="", cause=cause
    )


@pytest.fixture
def face(db) -> ModelEntry:
    return ModelEntry.objects.get(name="yolo11-face")


def test_inference_and_load_histograms_and_the_load_counter(api, face):
    at = datetime(2026, 1, 4, 10, tzinfo=UTC)
    durations = [0.004, 0.02, 0.02, 0.3, 1.2]
    services.samples_record(
        samples=[Sample(face.pk, face.name, SampleKind.INFERENCE, at, s) for s in durations]
        + [Sample(face.pk, face.name, SampleKind.LOAD, at, 3.0)] * 2
    )
    metrics = scrape(api)
    series = (("model", "yolo11-face"),)

    def bucket(name: str, le: str) -> float:
        return metrics[(f"{name}_bucket", (("le", le), ("model", "yolo11-face")))]

    assert bucket("model_zoo_inference_seconds", "0.005") == 1
    assert bucket("model_zoo_inference_seconds", "0.025") == 3
    assert bucket("model_zoo_inference_seconds", "0.5") == 4
    assert bucket("model_zoo_inference_seconds", "+Inf") == 5
    assert metrics[("model_zoo_inference_seconds_count", series)] == 5
    assert metrics[("model_zoo_inference_seconds_sum", series)] == pytest.approx(sum(durations))
    assert bucket("model_zoo_load_seconds", "2.5") == 0
    assert bucket("model_zoo_load_seconds", "5.0") == 2
    assert metrics[("model_zoo_loads_total", series)] == 2


def test_evictions_and_failures_are_counted_by_reason(api, face):
    event(face, EventKind.EVICT, EventCause.MAKE_ROOM)
    event(face, EventKind.EVICT, EventCause.MAKE_ROOM)
    event(face, EventKind.UNLOAD, EventCause.KEEP_ALIVE)
    event(face, EventKind.REFUSE, EventCause.REFUSED)
    event(face, EventKind.FAIL, EventCause.OUT_OF_MEMORY)
    event(face, EventKind.LOAD, EventCause.LOADED)  # counted by model_zoo_loads_total instead
    metrics = scrape(api)

    def count(name: str, reason: str) -> float:
        return metrics[(name, (("model", "yolo11-face"), ("reason", reason)))]

    assert count("model_zoo_evictions_total", "make_room") == 2
    assert count("model_zoo_evictions_total", "keep_alive") == 1
    assert count("model_zoo_load_failures_total", "refused") == 1
    assert count("model_zoo_load_failures_total", "out_of_memory") == 1
    assert not any(name.startswith("model_zoo_evictions") and ("reason", "loaded") in labels
                   for name, labels in metrics)  # fmt: skip


def test_device_gauges_count_live_devices_only(api, face):
    live = DeviceFactory(name="sim:7", budget_mb=4096, heartbeat_at=timezone.now())
    dead = DeviceFactory(name="sim:8", heartbeat_at=datetime(2020, 1, 1, tzinfo=UTC))
    plate = ModelEntry.objects.get(name="yolo11-license-plate")
    ModelStateFactory(model=face, device=live, status=ModelStatus.LOADED, measured_mb=250)
    ModelStateFactory(model=plate, device=live, status=ModelStatus.LOADING, measured_mb=None)
    ModelStateFactory(model=plate, device=dead, status=ModelStatus.LOADED, measured_mb=300)
    metrics = scrape(api)
    label = (("device", str(live)),)
    # face: max(200 estimate, 250 measured); plate: its 300 MB estimate while loading.
    assert metrics[("model_zoo_vram_used_bytes", label)] == (250 + plate.vram_mb) * MB
    assert metrics[("model_zoo_device_vram_used_bytes", label)] == (250 + plate.vram_mb) * MB
    assert metrics[("model_zoo_vram_budget_bytes", label)] == 4096 * MB
    assert metrics[("model_zoo_pool_budget_bytes", label)] == 1650 * MB
    assert metrics[("model_zoo_models_loaded", label)] == 1
    assert ("model_zoo_vram_used_bytes", (("device", str(dead)),)) not in metrics


def test_the_zoo_series_counts_zoo_models_only_and_the_device_series_every_model(api, face):
    device = DeviceFactory(name="sim:9", budget_mb=24 * 1024, heartbeat_at=timezone.now())
    ModelStateFactory(model=face, device=device, status=ModelStatus.LOADED, measured_mb=None)
    task_model = ModelEntry.objects.get(name="yolov8l")  # a task option, not in the zoo
    ModelStateFactory(model=task_model, device=device, status=ModelStatus.LOADED, measured_mb=None)

    metrics = scrape(api)
    label = (("device", str(device)),)

    assert metrics[("model_zoo_vram_used_bytes", label)] == face.vram_mb * MB
    assert api.get("/api/system/models").json()["vram_used_mb"] == face.vram_mb
    assert metrics[("model_zoo_device_vram_used_bytes", label)] == (face.vram_mb + 4096) * MB
    assert metrics[("model_zoo_models_loaded", label)] == 2


def test_django_prometheus_series_are_still_exported(api, db):
    api.get("/healthz")
    names = {name for name, _ in scrape(api)}
    assert "django_http_requests_total_by_method_total" in names
    assert any(name.startswith("django_db_") for name in names)
