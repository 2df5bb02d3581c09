"""The dashboard follows the API's rule: anonymous visitors see status and figures, never
batch ids, file paths or host names; a signed-in reader sees them."""

from __future__ import annotations

import pytest
from django.test import Client

from fleet import services as fleet_services
from fleet.models import EventCause, ModelStatus
from models_registry.models import ModelEntry
from tests.factories import DeviceFactory, ModelStateFactory, UserFactory

pytestmark = pytest.mark.django_db

HOST = "gpu-box-7.internal"
BATCH = "403dd2fe-6c5e-4c39-9f0e-3f1f0b7a1e55"
WEIGHTS = "/srv/zoo/yolo11-face/model.pt"


@pytest.fixture
def fleet_with_history():
    device = DeviceFactory(host=HOST, name="sim:7")
    face = ModelEntry.objects.get(name="yolo11-face")
    ModelStateFactory(
        model=face, device=device, status=ModelStatus.ERROR,
        last_error=f"weights not found at {WEIGHTS}",
    )  # fmt: skip
    fleet_services.model_event_record(
        device_id=device.pk, model_id=face.pk, model_name=face.name, kind="unload",
        reason=f"after_batch: batch {BATCH} finished", cause=EventCause.AFTER_BATCH,
    )  # fmt: skip
    return device


def page(client: Client) -> str:
    response = client.get("/")
    assert response.status_code == 200
    return response.content.decode()


def test_anonymous_visitors_see_no_host_batch_id_or_path(fleet_with_history):
    html = page(Client())

    assert HOST not in html and BATCH not in html and WEIGHTS not in html
    assert "sim:7" in html  # the device, by name
    assert "Its batch finished (after_batch)" in html  # the event, by its cause
    assert "status-error" in html and "shown to signed-in users" in html


def test_signed_in_readers_see_hosts_reasons_and_paths(fleet_with_history):
    client = Client()
    client.force_login(UserFactory())

    html = page(client)

    assert f"{HOST}/sim:7" in html
    assert f"batch {BATCH} finished" in html
    assert WEIGHTS in html
