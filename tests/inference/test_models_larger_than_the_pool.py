"""A zoo model larger than the zoo pool (vehicle-damage-detection, xclip-base: 2,000 MB
against 1,650 MB) named by a trigger rule: each batch's results say at once why it was
not run, no work item is queued for a worker to be refused, and the model never turns
to a red error. With zoo CPU fallback on it runs, on the CPU."""

from __future__ import annotations

import pytest

from fleet.models import ModelEvent, ModelState
from inference import run, selectors, services
from inference.models import WorkItem, WorkStatus
from inference.services import FrameIn
from models_registry.models import InferenceSettings, ModelEntry, TriggerRule
from tests.fakes import simulated_zoo
from tests.frames import CAR, jpeg

pytestmark = pytest.mark.subprocess

TOO_LARGE = (
    "vehicle-damage-detection needs 2000 MB, more than the whole zoo pool of 1650 MB on "
    "sim:73; not run"
)


def submit(*detections: dict):
    frame = FrameIn(width=640, height=480, detections=list(detections), data=jpeg(640, 480))
    return services.batch_submit(frames=[frame])


def car_results(batch) -> dict:
    body = selectors.batch_document(selectors.batch_with_everything(batch.pk, any_reader=True))
    return body["frames"][0]["detections"][0]["results"]


@pytest.fixture
def zoo(django_db_serialized_rollback, transactional_db):
    TriggerRule.objects.create(
        label="car", model=ModelEntry.objects.get(name="vehicle-damage-detection")
    )
    instance = simulated_zoo("sim:73")
    yield instance
    instance.close()


def test_each_batch_says_why_the_model_was_not_run_and_nothing_is_attempted(zoo):
    for _ in range(2):
        batch = submit(CAR)

        assert run.batch_run(batch_id=batch.pk, zoo=zoo) == WorkStatus.DONE

        results = car_results(batch)
        assert results["vehicle-damage-detection"] == {"error": TOO_LARGE}
        assert "error" not in results["yolo11-license-plate"]  # the others ran as before
        assert not WorkItem.objects.filter(
            batch=batch, model_name="vehicle-damage-detection"
        ).exists()

    assert "vehicle-damage-detection" not in zoo.manager.snapshot()
    assert not ModelEvent.objects.filter(model_name="vehicle-damage-detection").exists()
    assert not ModelState.objects.filter(
        model__name="vehicle-damage-detection", status="error"
    ).exists()


def test_with_zoo_cpu_fallback_it_runs_on_the_cpu(zoo):
    InferenceSettings.objects.filter(pk=1).update(zoo_cpu_fallback=True)
    zoo.manager.refresh()  # as a worker sees a settings change within seconds
    batch = submit(CAR)

    run.batch_run(batch_id=batch.pk, zoo=zoo)

    assert "error" not in car_results(batch)["vehicle-damage-detection"]
    state = ModelState.objects.get(model__name="vehicle-damage-detection")
    assert state.on_cpu_fallback is True
