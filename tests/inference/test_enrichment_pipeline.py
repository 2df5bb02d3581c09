"""Running enrichment batches on a worker's device: each triggered model once per batch,
results per detection, nothing recomputed on a retry, failures kept as reasons."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from fleet.models import Device, ModelEvent
from inference import run, selectors, services
from inference.models import EnrichmentBatch, EnrichmentResult, Frame, WorkItem, WorkStatus
from inference.services import FrameIn
from models_registry.models import InferenceSettings
from tests.fakes import missing_weights, simulated_zoo
from tests.frames import CAR, DOG, PERSON, jpeg

pytestmark = pytest.mark.subprocess


def submit(*detections: dict, frames: int = 1) -> EnrichmentBatch:
    return services.batch_submit(
        frames=[
            FrameIn(width=640, height=480, detections=list(detections), data=jpeg())
            for _ in range(frames)
        ]
    )


@pytest.fixture
def zoo(django_db_serialized_rollback, transactional_db):
    instance = simulated_zoo("sim:21")
    yield instance
    instance.close()


def loads(zoo) -> list[str]:
    return [e.model_name for e in ModelEvent.objects.filter(device=zoo.device, kind="load")]


def test_a_person_car_and_dog_batch_gets_every_triggered_models_results(zoo):
    batch = submit(PERSON, CAR, DOG, frames=2)

    assert run.batch_run(batch_id=batch.pk, zoo=zoo) == WorkStatus.DONE

    document = selectors.batch_document(selectors.batch_with_everything(batch.pk, any_reader=True))
    assert document["status"] == "done"
    frame = document["frames"][0]
    assert set(frame["results"]) == {"depth-anything-v2-small", "weather-classification"}
    person, car, dog = frame["detections"]
    assert set(person["results"]) == {
        "yolo11-face", "vitpose-small", "violence-detection", "segformer-b2-clothes",
    }  # fmt: skip
    assert set(car["results"]) == {
        "yolo11-license-plate", "paddleocr", "vehicle-segment-classification",
    }  # fmt: skip
    assert set(dog["results"]) == {"pet-classifier"}
    assert person["results"]["vitpose-small"]["boxes"] == [PERSON["bbox"]]  # pose sees the box
    assert car["results"]["vehicle-segment-classification"]["size"] == [200, 120]  # a crop
    plates = car["results"]["paddleocr"]["plates"]
    assert plates and plates[0]["box"] == [201.0, 102.0, 211.0, 107.0]  # read where found


def test_each_model_is_loaded_once_per_batch(zoo):
    batch = submit(PERSON, CAR, DOG, PERSON | {"bbox": [300, 300, 400, 470]}, frames=3)

    run.batch_run(batch_id=batch.pk, zoo=zoo)

    assert sorted(loads(zoo)) == sorted(set(loads(zoo)))
    assert len(zoo.loader.loads) == len(set(zoo.loader.loads))


def test_a_second_identical_batch_loads_nothing_new_under_lru(zoo):
    # A car and a dog trigger 2,450 MB of models: more than the document's 1,650 MB pool,
    # so there they must take turns (bench.swaps measures that). With room, they stay.
    InferenceSettings.objects.filter(pk=1).update(zoo_vram_budget_mb=4000)
    zoo.manager.refresh()
    first = submit(CAR, DOG)
    run.batch_run(batch_id=first.pk, zoo=zoo)
    loaded_before = list(zoo.loader.loads)

    second = submit(CAR, DOG)
    run.batch_run(batch_id=second.pk, zoo=zoo)

    assert zoo.loader.loads == loaded_before


def test_a_model_that_cannot_load_leaves_its_reason_and_the_batch_completes(zoo):
    zoo.loader.failures["pet-classifier"] = missing_weights("pet-classifier", "/models/pet")
    batch = submit(DOG)

    assert run.batch_run(batch_id=batch.pk, zoo=zoo) == WorkStatus.DONE

    result = EnrichmentResult.objects.get(batch=batch, model_name="pet-classifier")
    assert "/models/pet" in result.error
    assert EnrichmentResult.objects.filter(batch=batch, error="").count() == 2  # depth, weather


def test_running_a_batch_again_recomputes_nothing(zoo):
    batch = submit(PERSON)
    run.batch_run(batch_id=batch.pk, zoo=zoo)
    stored = EnrichmentResult.objects.filter(batch=batch).count()
    EnrichmentBatch.objects.filter(pk=batch.pk).update(status=WorkStatus.RUNNING, worker="dead")

    run.batch_run(batch_id=batch.pk, zoo=zoo)

    assert EnrichmentResult.objects.filter(batch=batch).count() == stored
    assert EnrichmentBatch.objects.get(pk=batch.pk).status == "done"


def test_a_batch_a_live_worker_is_running_is_not_taken(zoo):
    batch = submit(DOG)
    other = Device.objects.create(
        host="elsewhere", name="cuda:0", kind="cuda", total_memory_mb=1, budget_mb=1,
        worker="w@elsewhere", heartbeat_at=timezone.now(),
    )  # fmt: skip
    EnrichmentBatch.objects.filter(pk=batch.pk).update(
        status=WorkStatus.RUNNING, device=other, worker="w@elsewhere"
    )

    assert run.batch_run(batch_id=batch.pk, zoo=zoo) == WorkStatus.RUNNING
    assert zoo.loader.loads == []


def running_on_a_dead_worker(batch: EnrichmentBatch, device: str) -> Device:
    """The batch as a worker elsewhere left it when it died mid-run (one attempt)."""
    dead = Device.objects.create(
        host="elsewhere", name=device, kind="cuda", total_memory_mb=1, budget_mb=1,
        worker="w@elsewhere", heartbeat_at=timezone.now() - timedelta(minutes=5),
    )  # fmt: skip
    EnrichmentBatch.objects.filter(pk=batch.pk).update(
        status=WorkStatus.RUNNING, device=dead, worker="w@elsewhere", attempts=1
    )
    return dead


def test_a_batch_whose_worker_died_is_taken_over(zoo):
    batch = submit(DOG)
    running_on_a_dead_worker(batch, "cuda:1")

    assert run.batch_run(batch_id=batch.pk, zoo=zoo) == WorkStatus.DONE
    assert EnrichmentBatch.objects.get(pk=batch.pk).attempts == 2


def test_a_batch_that_keeps_killing_workers_fails_with_a_reason(zoo, settings):
    batch = submit(DOG)
    EnrichmentBatch.objects.filter(pk=batch.pk).update(
        status=WorkStatus.RUNNING, worker="gone", attempts=settings.ZOO_BATCH_MAX_ATTEMPTS
    )

    run.batch_run(batch_id=batch.pk, zoo=zoo)

    failed = EnrichmentBatch.objects.get(pk=batch.pk)
    assert failed.status == "failed"
    assert "gave up after 3 attempts" in failed.error


@pytest.fixture
def sent(monkeypatch) -> list[tuple]:
    """The wake-up messages sent for batches: (args, queue)."""
    messages: list[tuple] = []
    monkeypatch.setattr(
        "inference.tasks.enrich_batch.apply_async",
        lambda args, queue: messages.append((args, queue)),
    )
    return messages


def test_a_batch_waiting_on_a_live_worker_is_never_sent_again(zoo, sent):
    batch = submit(DOG)  # a worker is live: its items wait on its device at once
    assert len(sent) == 1 and sent[0][1].endswith("sim-21")
    items = WorkItem.objects.filter(batch=batch, device=zoo.device)
    assert ("pet-classifier", [[0, 0]]) in [(i.model_name, i.targets) for i in items]
    EnrichmentBatch.objects.filter(pk=batch.pk).update(
        dispatched_at=timezone.now() - timedelta(hours=1)  # a long queue
    )

    assert services.work_sweep() == 0
    assert len(sent) == 1


def test_the_work_of_a_dead_worker_moves_to_a_live_one(zoo, sent):
    batch = submit(DOG)
    dead = running_on_a_dead_worker(batch, "cuda:2")
    WorkItem.objects.filter(batch=batch).update(device=dead, status=WorkStatus.RUNNING)

    assert services.work_sweep() == 1

    assert sent[-1] == ([str(batch.pk)], sent[0][1])  # to the live worker's queue
    moved = WorkItem.objects.filter(batch=batch)
    assert {(i.device_id, i.status, i.worker) for i in moved} == {(zoo.device.pk, "queued", "")}
    assert services.work_sweep() == 0  # moved once
    assert run.batch_run(batch_id=batch.pk, zoo=zoo) == WorkStatus.DONE
    assert EnrichmentBatch.objects.get(pk=batch.pk).attempts == 2


def test_a_batch_sent_before_work_items_existed_gets_them_from_the_sweep(zoo, sent):
    batch = submit(DOG)
    WorkItem.objects.filter(batch=batch).delete()  # as an upgrade finds a waiting batch

    assert services.work_sweep() == 1

    assert WorkItem.objects.filter(batch=batch, device=zoo.device).count() == 3
    assert services.work_sweep() == 0


def test_a_batch_left_open_with_all_its_work_done_is_closed_not_sent_again(zoo, sent):
    batch = submit(DOG)
    WorkItem.objects.filter(batch=batch).update(status=WorkStatus.DONE)
    EnrichmentBatch.objects.filter(pk=batch.pk).update(status=WorkStatus.RUNNING)

    services.work_sweep()

    assert EnrichmentBatch.objects.get(pk=batch.pk).status == "done"
    assert len(sent) == 1  # its first message only
    assert services.work_sweep() == 0


def test_a_batch_no_worker_was_alive_to_take_is_dispatched_by_the_first_sweep(zoo, sent):
    Device.objects.filter(pk=zoo.device.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    batch = submit(DOG)
    assert sent == [] and not WorkItem.objects.filter(batch=batch).exists()
    Device.objects.filter(pk=zoo.device.pk).update(heartbeat_at=timezone.now())

    assert services.work_sweep() == 1

    assert {i.device_id for i in WorkItem.objects.filter(batch=batch)} == {zoo.device.pk}
    assert len(sent) == 1


def test_a_resumed_batch_reads_plates_the_first_attempt_found(zoo):
    batch = submit(CAR)
    run.batch_run(batch_id=batch.pk, zoo=zoo)
    EnrichmentResult.objects.filter(batch=batch, model_name="paddleocr").delete()  # cut short
    EnrichmentBatch.objects.filter(pk=batch.pk).update(status=WorkStatus.RUNNING, worker="dead")
    # A batch cut short never finished, so it still has the image bytes a done one drops.
    Frame.objects.filter(batch=batch).update(data=jpeg())
    loads_before = list(zoo.loader.loads)

    run.batch_run(batch_id=batch.pk, zoo=zoo)

    ocr = EnrichmentResult.objects.get(batch=batch, model_name="paddleocr")
    assert ocr.output["plates"][0]["box"] == [201.0, 102.0, 211.0, 107.0]
    assert "yolo11-license-plate" not in zoo.loader.loads[len(loads_before) :]


def test_ocr_reads_only_the_most_confident_plates_of_a_vehicle_in_one_pass(zoo, settings):
    settings.ZOO_OCR_MAX_PLATES = 3
    settings.ZOO_OCR_MIN_SCORE = 0.25
    zoo.loader.detections["yolo11-license-plate"] = [
        {"label": "plate", "score": score, "box": [i, i, i + 10, i + 5]}
        for i, score in enumerate([0.3, 0.9, 0.1, 0.8, 0.5, 0.2, 0.7] + [0.4] * 91)  # 98 boxes
    ]
    batch = submit(CAR)

    run.batch_run(batch_id=batch.pk, zoo=zoo)

    car = selectors.batch_document(selectors.batch_with_everything(batch.pk, any_reader=True))
    plates = car["frames"][0]["detections"][0]["results"]["paddleocr"]["plates"]
    assert [p["box"][0] - CAR["bbox"][0] for p in plates] == [1, 3, 6]  # 0.9, 0.8, 0.7
    assert [p["text"] for p in plates] == ["P0", "P1", "P2"]
    ocr_calls = [options for name, options in zoo.loader.calls if name == "paddleocr"]
    assert len(ocr_calls) == 1 and len(ocr_calls[0]["boxes"]) == 3
