"""What anonymous readers see: status and figures, never batch ids, file paths or host
names. Signed-in readers see every field; each kind of reader gets its own kept status
document, so one's view is never served to the other."""

from __future__ import annotations

import pytest

from fleet import services as fleet_services
from fleet.disclosure import public_path
from fleet.models import EventCause
from models_registry import services as registry_services
from models_registry.models import ModelEntry
from tests.factories import DeviceFactory

pytestmark = pytest.mark.django_db

PLATE_PATH = "/models/model-zoo/yolo11-license-plate/license-plate-finetune-v1n.pt"
EVENTS = "/api/system/model-zoo/events"


def paths(client) -> dict[str, str]:
    return {m["name"]: m["path"] for m in client.get("/api/system/models").json()["models"]}


def test_anonymous_readers_get_no_local_paths_but_hub_ids(api):
    registry_services.model_set_path(name="yolo11-face", path="org/face-detector")

    shown = paths(api)

    assert shown["yolo11-license-plate"] == ""
    assert shown["yolo11-face"] == "org/face-detector"
    assert api.get("/api/system/models/yolo11-license-plate").json()["path"] == ""


def test_signed_in_readers_get_the_paths(reader_api):
    assert paths(reader_api)["yolo11-license-plate"] == PLATE_PATH
    assert reader_api.get("/api/system/models/yolo11-license-plate").json()["path"] == PLATE_PATH


@pytest.mark.parametrize("first", ["anonymous", "signed_in"])
def test_each_kind_of_reader_gets_its_own_kept_document(api, reader_api, first):
    """Whoever asks first, the other never gets the kept document built for the first."""
    order = [api, reader_api] if first == "anonymous" else [reader_api, api]
    for client in order + order:  # twice: the second round is served from kept documents
        shown = paths(client)["yolo11-license-plate"]
        assert shown == ("" if client is api else PLATE_PATH)


@pytest.mark.parametrize(
    ("path", "public"),
    [
        ("facebook/sam2.1-hiera-tiny", "facebook/sam2.1-hiera-tiny"),
        ("/var/checkpoints/yolo11-face/model.pt", ""),
        ("./var/checkpoints/pet", ""),
        ("checkpoints/model.pt", ""),
        ("~/weights", ""),
        ("C:\\weights\\model.pt", ""),
        ("", ""),
    ],
)
def test_only_hub_ids_are_public_paths(path, public):
    assert public_path(path) == public


def _after_batch_event(device) -> None:
    entry = ModelEntry.objects.get(name="yolo11-face")
    fleet_services.model_event_record(
        device_id=device.pk, model_id=entry.pk, model_name=entry.name, kind="unload",
        reason="after_batch: batch 403dd2fe-6c5e-4c39-9f0e-3f1f0b7a1e55 finished; weights "
        "/srv/zoo/yolo11-face/model.pt",
        memory_mb=200, cause=EventCause.AFTER_BATCH,
    )  # fmt: skip


def test_the_decision_log_shows_anonymous_readers_no_batch_id_path_or_host(api):
    _after_batch_event(DeviceFactory(host="gpu-box-7.internal", name="cuda:1"))

    event = api.get(EVENTS).json()["results"][0]

    assert event["device"] == "cuda:1"
    assert event["reason"] == "Its batch finished (after_batch)"
    assert (event["kind"], event["memory_mb"], event["model"]) == ("unload", 200, "yolo11-face")
    text = str(event)
    assert "403dd2fe" not in text and "/srv/" not in text and "gpu-box" not in text


def test_the_decision_log_shows_signed_in_readers_everything(reader_api):
    _after_batch_event(DeviceFactory(host="gpu-box-7.internal", name="cuda:1"))

    event = reader_api.get(EVENTS).json()["results"][0]

    assert event["device"] == "gpu-box-7.internal/cuda:1"
    assert "batch 403dd2fe" in event["reason"]


def test_an_event_without_a_cause_shows_its_kind(api):
    fleet_services.model_event_record(
        device_id=None, model_id=None, model_name="yolo11-face", kind="load",
        reason="loaded from /srv/zoo/yolo11-face/model.pt",
    )  # fmt: skip

    assert api.get(EVENTS).json()["results"][0]["reason"] == "Loaded"
