"""GET /api/system/model-zoo/events: the decision log, newest first, paginated."""

from __future__ import annotations

import pytest

from fleet import services as fleet_services
from models_registry.models import ModelEntry
from tests.factories import DeviceFactory

pytestmark = pytest.mark.django_db

URL = "/api/system/model-zoo/events"


def _event(name: str, kind: str, reason: str, device=None) -> None:
    entry = ModelEntry.objects.get(name=name)
    fleet_services.model_event_record(
        device_id=device.pk if device else None,
        model_id=entry.pk,
        model_name=name,
        kind=kind,
        reason=reason,
        memory_mb=entry.vram_mb,
    )


def test_events_come_newest_first_with_their_reasons(reader_api):
    device = DeviceFactory(host="gpu-box", name="cuda:0")
    _event("yolo11-face", "load", "loaded yolo11-face on cuda:0 in 0.40 s", device)
    _event(
        "yolo11-face", "evict", "evicted yolo11-face (lru, idle 14 min, 200 MB) to fit x", device
    )

    body = reader_api.get(URL).json()

    assert [e["kind"] for e in body["results"]] == ["evict", "load"]
    first = body["results"][0]
    assert first["reason"] == "evicted yolo11-face (lru, idle 14 min, 200 MB) to fit x"
    assert first["model"] == "yolo11-face"
    assert first["device"] == "gpu-box/cuda:0"
    assert first["memory_mb"] == 200
    assert set(first) == {
        "id", "timestamp", "model", "device", "kind", "reason", "memory_mb", "duration_s",
    }  # fmt: skip


def test_events_are_paginated_with_a_cursor(reader_api):
    for index in range(7):
        _event("pet-classifier", "load", f"load {index}")

    first = reader_api.get(f"{URL}?limit=3").json()
    second = reader_api.get(first["next"]).json()

    assert [e["reason"] for e in first["results"]] == ["load 6", "load 5", "load 4"]
    assert [e["reason"] for e in second["results"]] == ["load 3", "load 2", "load 1"]
    assert first["previous"] is None


def test_events_filter_by_model_and_kind(reader_api):
    _event("pet-classifier", "load", "a")
    _event("yolo11-face", "refuse", "b")
    _event("yolo11-face", "load", "c")

    by_model = reader_api.get(f"{URL}?model=yolo11-face").json()["results"]
    by_kind = reader_api.get(f"{URL}?kind=refuse").json()["results"]

    assert [e["reason"] for e in by_model] == ["c", "b"]
    assert [e["reason"] for e in by_kind] == ["b"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?kind=explode", "kind must be one of"),
        ("?limit=0", "limit must be between 1 and 500"),
        ("?limit=many", "limit must be an integer"),
        ("?since=5", "Unknown query parameter: since"),
    ],
)
def test_bad_event_queries_are_a_400_with_a_detail(api, query, message):
    response = api.get(f"{URL}{query}")

    assert response.status_code == 400
    assert message in response.json()["detail"]


def test_a_bad_cursor_is_a_4xx_with_a_json_detail(api):
    response = api.get(f"{URL}?cursor=garbage")

    assert 400 <= response.status_code < 500
    assert "detail" in response.json()


def test_a_cursor_it_did_not_give_out_is_a_400(api, db):
    response = api.get("/api/system/model-zoo/events?cursor=0")
    assert response.status_code == 400
    assert response.json() == {"detail": "cursor is not one this API gave out"}


def test_an_empty_filter_is_a_400_not_a_request_for_everything(api, db):
    response = api.get("/api/system/model-zoo/events?model=")
    assert response.status_code == 400
    assert response.json() == {"detail": "Query parameter without a value: model"}


def test_old_events_are_pruned_and_the_counters_do_not_go_down(db, settings):
    from datetime import timedelta

    from django.utils import timezone

    from fleet.models import EventTally, ModelEvent

    settings.ZOO_EVENT_RETENTION_DAYS = 30
    for _ in range(2):
        fleet_services.model_event_record(
            device_id=None, model_id=None, model_name="yolo11-face", kind="evict",
            reason="old", cause="make_room",
        )  # fmt: skip
    ModelEvent.objects.update(created_at=timezone.now() - timedelta(days=31))
    fleet_services.model_event_record(
        device_id=None, model_id=None, model_name="yolo11-face", kind="evict", reason="new",
        cause="make_room",
    )  # fmt: skip

    assert fleet_services.events_prune() == 2
    assert list(ModelEvent.objects.values_list("reason", flat=True)) == ["new"]
    assert EventTally.objects.get(model_name="yolo11-face", kind="evict").count == 3
