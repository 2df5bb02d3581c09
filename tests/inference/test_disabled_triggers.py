"""A trigger rule naming a model disabled in the registry: each detection (or frame) it
would have read gets a result saying the model is disabled and why, instead of the
model silently missing from the results."""

from __future__ import annotations

import pytest

from inference import run, selectors, services
from inference.models import WorkItem, WorkStatus
from inference.services import FrameIn
from models_registry import services as registry_services
from models_registry.models import ModelEntry, TriggerRule
from tests.fakes import simulated_zoo
from tests.frames import PERSON, jpeg

BIRD = {"label": "bird", "bbox": [200, 10, 260, 60], "confidence": 0.7}
NOT_RELEASED = "yolo26-general is disabled in the registry: Not yet released; not run"


def submit(*detections: dict):
    frame = FrameIn(width=320, height=240, detections=list(detections), data=jpeg(320, 240))
    return services.batch_submit(frames=[frame])


def document(batch) -> dict:
    return selectors.batch_document(selectors.batch_with_everything(batch.pk, any_reader=True))


@pytest.fixture
def zoo(django_db_serialized_rollback, transactional_db):
    instance = simulated_zoo("sim:72")
    yield instance
    instance.close()


@pytest.mark.subprocess
def test_a_disabled_model_named_by_a_trigger_says_why_in_each_result(zoo):
    TriggerRule.objects.create(label="person", model=ModelEntry.objects.get(name="yolo26-general"))
    batch = submit(PERSON)

    assert run.batch_run(batch_id=batch.pk, zoo=zoo) == WorkStatus.DONE

    person = document(batch)["frames"][0]["detections"][0]["results"]
    assert person["yolo26-general"] == {"error": NOT_RELEASED}
    assert "error" not in person["yolo11-face"]  # the enabled models ran as before
    assert not WorkItem.objects.filter(batch=batch, model_name="yolo26-general").exists()


@pytest.mark.subprocess
def test_a_model_disabled_from_the_dashboard_says_so_on_every_frame(zoo):
    registry_services.models_set_enabled(
        names=["weather-classification"], enabled=False, reason="disabled from the dashboard"
    )
    batch = submit()

    run.batch_run(batch_id=batch.pk, zoo=zoo)

    frame = document(batch)["frames"][0]["results"]
    assert frame["weather-classification"] == {
        "error": "weather-classification is disabled in the registry: disabled from the "
        "dashboard; not run"
    }
    assert "error" not in frame["depth-anything-v2-small"]


@pytest.mark.django_db
def test_a_batch_that_triggers_only_disabled_models_is_done_at_once_with_the_reasons(
    live_device,
):
    TriggerRule.objects.filter(label=TriggerRule.ALL_FRAMES).delete()
    TriggerRule.objects.create(label="bird", model=ModelEntry.objects.get(name="yolo26-general"))

    batch = submit(BIRD)

    body = document(batch)
    assert body["status"] == "done"
    assert body["frames"][0]["detections"][0]["results"] == {
        "yolo26-general": {"error": NOT_RELEASED}
    }
