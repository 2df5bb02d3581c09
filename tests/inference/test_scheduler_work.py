"""The device's scheduler, in-process on a simulated device with a fake loader: work is
served model by model across batches, nothing waits longer than ZOO_MAX_WAIT_S, task
work goes before backlog, OCR waits for its detectors, a loaded model's inference does
not wait for the scheduler, and a time limit ends an item with the books true."""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from inference import run, selectors, services
from inference.models import EnrichmentBatch, EnrichmentResult, InferenceRequest, WorkItem
from inference.services import FrameIn
from inference.worker.scheduler import Scheduler
from models_registry.models import Task
from tests.fakes import simulated_zoo
from tests.frames import CAR, DOG, PERSON, jpeg

pytestmark = pytest.mark.subprocess


def submit(*detections: dict) -> EnrichmentBatch:
    frame = FrameIn(width=640, height=480, detections=list(detections), data=jpeg(320, 240))
    return services.batch_submit(frames=[frame])


@pytest.fixture
def zoo(django_db_serialized_rollback, transactional_db, monkeypatch):
    monkeypatch.setattr("inference.tasks.enrich_batch.apply_async", lambda **kw: None)
    monkeypatch.setattr("inference.tasks.run_inference.apply_async", lambda **kw: None)
    monkeypatch.setattr("inference.tasks.load_model.apply_async", lambda **kw: None)
    instance = simulated_zoo("sim:31")
    yield instance
    instance.close()


def scheduler(zoo, order: str = run.BY_MODEL, **options) -> Scheduler:
    values = {"max_wait_s": 300.0, "poll_s": 0.05, "soft_limit_s": 60.0} | options
    return Scheduler(zoo, order=order, **values)


def served_by_the_thread(worker: Scheduler, batch: EnrichmentBatch) -> None:
    """Run the scheduler's own threads (its watchdog too) until the batch is done."""
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while EnrichmentBatch.objects.get(pk=batch.pk).status != "done":
            assert time.monotonic() < deadline, "the batch never finished"
            time.sleep(0.05)
    finally:
        worker.stop()


def big_loads(zoo) -> Counter:
    """Loads of the 1,500 MB models of a person and a car: two never fit the pool."""
    return Counter(
        name for name in zoo.loader.loads
        if name in {"vitpose-small", "segformer-b2-clothes", "vehicle-segment-classification"}
    )  # fmt: skip


def test_a_backlog_is_served_model_by_model_each_model_loaded_once(zoo):
    batches = [submit(PERSON, CAR) for _ in range(3)]

    scheduler(zoo).drain()

    stored = EnrichmentBatch.objects.filter(pk__in=[b.pk for b in batches])
    assert [b.status for b in stored] == ["done"] * 3
    assert Counter(zoo.loader.loads) == Counter(set(zoo.loader.loads))  # each model once
    per_batch = EnrichmentResult.objects.filter(batch=batches[0]).count()
    assert per_batch == 9 and EnrichmentResult.objects.count() == 3 * per_batch
    assert not EnrichmentResult.objects.exclude(error="").exists()


def test_crops_of_several_batches_share_one_batched_pass(zoo, settings):
    settings.ZOO_PREDICT_BATCH = 8
    for _ in range(3):
        submit(DOG, DOG | {"bbox": [300, 300, 380, 400]})

    scheduler(zoo).drain()

    # Six dog crops of three batches, one pass; the frames of the all-frames models too.
    assert ("pet-classifier", 6) in zoo.loader.passes
    assert ("depth-anything-v2-small", 3) in zoo.loader.passes
    assert EnrichmentResult.objects.filter(model_name="pet-classifier", error="").count() == 6


def test_in_arrival_order_each_batch_loads_its_big_models_again(zoo):
    for _ in range(3):
        submit(PERSON, CAR)

    scheduler(zoo, run.BY_ARRIVAL).drain()

    assert big_loads(zoo) == Counter(
        {"vitpose-small": 3, "segformer-b2-clothes": 3, "vehicle-segment-classification": 3}
    )
    assert not EnrichmentBatch.objects.exclude(status="done").exists()


def test_plates_are_read_only_after_the_batchs_detector_is_done(zoo):
    batch = submit(CAR)
    ocr = WorkItem.objects.get(batch=batch, model_name="paddleocr")
    assert ocr not in selectors.ready_items(zoo.device.pk)

    WorkItem.objects.filter(batch=batch).exclude(pk=ocr.pk).update(status="done")

    assert ocr in selectors.ready_items(zoo.device.pk)


def test_work_waiting_longer_than_the_bound_goes_first_resident_or_not(zoo):
    first = submit(DOG)
    scheduler(zoo).drain()  # pet-classifier and the all-frames models are now resident
    submit(DOG)
    old = submit(PERSON)
    WorkItem.objects.filter(batch=old).update(created_at=timezone.now() - timedelta(minutes=10))

    chosen = run.round_next(zoo, order=run.BY_MODEL, max_wait_s=300)
    within_bound = run.round_next(zoo, order=run.BY_MODEL, max_wait_s=3600)

    # Overdue: one of the person batch's models, with every item of it that is ready.
    served = WorkItem.objects.filter(pk__in=chosen)
    assert old.pk in {item.batch_id for item in served}
    assert {item.model_name for item in served} <= set(
        WorkItem.objects.filter(batch=old).values_list("model_name", flat=True)
    )
    assert first.pk not in {item.batch_id for item in served}
    # Within the bound, a resident model goes first (the person's models are not).
    resident = {"depth-anything-v2-small", "weather-classification", "pet-classifier"}
    assert WorkItem.objects.get(pk=within_bound[0]).model_name in resident


def test_a_task_inference_goes_before_the_backlog_and_preempts_it(zoo):
    Task.objects.filter(name="object_detection").update(priority=30)
    for _ in range(2):
        submit(DOG)
    request, sent = services.inference_submit(
        task_type="object_detection", model_name="yolo11-face", image=jpeg(320, 240), options={}
    )
    assert sent

    chosen = run.round_next(zoo, order=run.BY_MODEL, max_wait_s=300)
    backlog = WorkItem.objects.filter(batch__isnull=False).first()
    assert backlog is not None

    assert [WorkItem.objects.get(pk=pk).request_id for pk in chosen] == [request.pk]
    assert run.preempted(zoo, backlog)
    scheduler(zoo).drain()
    assert InferenceRequest.objects.get(pk=request.pk).status == "done"
    assert zoo.loader.loads[0] == "yolo11-face"


def test_an_inference_on_a_loaded_model_does_not_wait_for_the_scheduler(zoo):
    woken: list[bool] = []
    zoo.on_work = lambda: woken.append(True)  # a scheduler busy with other work
    with zoo.load_sync("yolo11-face"):
        pass
    loaded, _ = services.inference_submit(
        task_type="object_detection", model_name="yolo11-face", image=jpeg(320, 240), options={}
    )
    cold, _ = services.inference_submit(
        task_type="object_detection", model_name="pet-classifier", image=jpeg(320, 240), options={}
    )

    assert run.inference_serve(request_id=loaded.pk, zoo=zoo) == "done"
    assert run.inference_serve(request_id=cold.pk, zoo=zoo) == "scheduled"

    assert woken == [True]
    assert InferenceRequest.objects.get(pk=cold.pk).status == "queued"
    assert WorkItem.objects.get(request=loaded).status == "done"


def test_a_time_limit_waits_for_a_load_then_ends_the_item_with_the_books_true(zoo):
    zoo.loader.slow["vehicle-segment-classification"] = 2.0
    zoo.loader.slow_predict["vehicle-segment-classification"] = 5.0
    batch = submit(CAR)
    served_by_the_thread(scheduler(zoo, soft_limit_s=0.5), batch)

    stopped = EnrichmentResult.objects.get(batch=batch, model_name="vehicle-segment-classification")
    assert "time limit" in stopped.error
    # The loader's call is a critical section: the limit waited for it to end, whole.
    assert zoo.loader.in_flight == 0 and "vehicle-segment-classification" in zoo.loader.loads
    held = sum(view.held_mb for view in zoo.manager.snapshot().values())
    assert zoo.manager.held_mb() == held  # no phantom memory
    assert all(view.leases == 0 for view in zoo.manager.snapshot().values())
    with zoo.load_sync("pet-classifier") as lease:  # the next load works
        assert lease.cold


def test_a_time_limit_inside_an_eviction_leaves_the_books_true(zoo):
    with zoo.load_sync("vehicle-segment-classification"):  # 1,500 MB of the 1,650 MB pool
        pass
    zoo.loader.slow_close["vehicle-segment-classification"] = 5.0
    batch = submit(DOG)  # its models need the room: the big one is evicted, slowly
    served_by_the_thread(scheduler(zoo, soft_limit_s=0.5), batch)

    # A close is a critical section: the limit waited for it; the memory came back whole.
    views = zoo.manager.snapshot()
    assert "vehicle-segment-classification" in zoo.loader.closed
    assert "vehicle-segment-classification" not in views
    assert zoo.manager.held_mb() == sum(view.held_mb for view in views.values())
    assert zoo.manager.held_mb() <= 1650
    with zoo.load_sync("pet-classifier"):  # the next load works
        pass
    assert "pet-classifier" in zoo.manager.snapshot()


def test_work_left_running_by_a_dead_process_is_queued_again_at_start(zoo):
    batch = submit(DOG)
    WorkItem.objects.filter(batch=batch).update(status="running", worker="gone")

    assert run.items_recover(zoo) == 3

    scheduler(zoo).drain()
    assert EnrichmentBatch.objects.get(pk=batch.pk).status == "done"
