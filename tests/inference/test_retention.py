"""Retention of finished work: a batch's image bytes go when it is done (its results
stay), and finished batches, inferences and loads are pruned past their retention by
``zoo_prune`` and the workers' heartbeat; unfinished work is never pruned."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from inference import run, services
from inference.models import (
    Detection,
    EnrichmentBatch,
    EnrichmentResult,
    Frame,
    InferenceRequest,
    WorkItem,
    WorkKind,
    WorkStatus,
)
from inference.services import FrameIn
from inference.worker.lifecycle import Heartbeat
from tests.fakes import simulated_zoo
from tests.frames import PERSON, jpeg


def stored_batch(*, status: str, finished_days_ago: float | None) -> EnrichmentBatch:
    """A batch as the service stores it, then finished (or not) some days ago."""
    batch = services.batch_submit(
        frames=[FrameIn(width=320, height=240, detections=[PERSON], data=jpeg(320, 240))]
    )
    finished = None
    if finished_days_ago is not None:
        finished = timezone.now() - timedelta(days=finished_days_ago)
    EnrichmentBatch.objects.filter(pk=batch.pk).update(status=status, finished_at=finished)
    frame = Frame.objects.get(batch=batch)
    EnrichmentResult.objects.create(
        batch=batch, frame=frame, detection=Detection.objects.get(frame=frame),
        model_name="yolo11-face", output={"faces": []},
    )  # fmt: skip
    WorkItem.objects.get_or_create(kind=WorkKind.BATCH, model_name="yolo11-face", batch=batch)
    return batch


def stored_inference(*, status: str, finished_days_ago: float | None) -> InferenceRequest:
    finished = None
    if finished_days_ago is not None:
        finished = timezone.now() - timedelta(days=finished_days_ago)
    request = InferenceRequest.objects.create(
        task_type="object_detection", model_name="yolov8n", image=jpeg(320, 240), status=status,
        finished_at=finished,
    )  # fmt: skip
    WorkItem.objects.create(kind=WorkKind.INFERENCE, model_name="yolov8n", request=request)
    return request


@pytest.fixture
def zoo(django_db_serialized_rollback, transactional_db):
    instance = simulated_zoo("sim:71")
    yield instance
    instance.close()


@pytest.mark.subprocess
def test_a_done_batch_keeps_its_results_and_releases_its_image_bytes(zoo):
    batch = services.batch_submit(
        frames=[FrameIn(width=320, height=240, detections=[PERSON], data=jpeg(320, 240))]
    )
    assert Frame.objects.get(batch=batch).data is not None  # kept while the batch waits

    assert run.batch_run(batch_id=batch.pk, zoo=zoo) == WorkStatus.DONE

    frame = Frame.objects.get(batch=batch)
    assert frame.data is None
    assert (frame.width, frame.height) == (320, 240)
    assert EnrichmentResult.objects.filter(batch=batch, model_name="yolo11-face", error="").exists()


@pytest.mark.subprocess
def test_a_batch_that_fails_for_good_releases_its_image_bytes_too(zoo, settings):
    batch = services.batch_submit(
        frames=[FrameIn(width=320, height=240, detections=[PERSON], data=jpeg(320, 240))]
    )
    EnrichmentBatch.objects.filter(pk=batch.pk).update(attempts=settings.ZOO_BATCH_MAX_ATTEMPTS)

    assert run.batch_run(batch_id=batch.pk, zoo=zoo) == WorkStatus.FAILED

    assert Frame.objects.get(batch=batch).data is None


@pytest.mark.django_db
def test_finished_batches_past_their_retention_go_with_their_frames_and_results(settings):
    settings.ZOO_BATCH_RETENTION_DAYS = 7
    old = stored_batch(status=WorkStatus.DONE, finished_days_ago=8)
    old_failed = stored_batch(status=WorkStatus.FAILED, finished_days_ago=30)
    recent = stored_batch(status=WorkStatus.DONE, finished_days_ago=6)
    waiting = stored_batch(status=WorkStatus.QUEUED, finished_days_ago=None)
    EnrichmentBatch.objects.filter(pk=waiting.pk).update(
        created_at=timezone.now() - timedelta(days=60)
    )

    deleted = services.retention_prune()

    assert deleted["batches"] == 2
    assert set(EnrichmentBatch.objects.values_list("pk", flat=True)) == {recent.pk, waiting.pk}
    gone = [old.pk, old_failed.pk]
    for table in (Frame, EnrichmentResult, WorkItem):
        assert not table.objects.filter(batch_id__in=gone).exists(), table
    assert not Detection.objects.filter(frame__batch_id__in=gone).exists()
    assert EnrichmentResult.objects.filter(batch=recent).exists()


@pytest.mark.django_db
def test_finished_inferences_and_loads_past_their_retention_go(settings):
    settings.ZOO_INFERENCE_RETENTION_DAYS = 2
    old = stored_inference(status=WorkStatus.DONE, finished_days_ago=3)
    recent = stored_inference(status=WorkStatus.FAILED, finished_days_ago=1)
    running = stored_inference(status=WorkStatus.RUNNING, finished_days_ago=None)
    old_load = WorkItem.objects.create(
        kind=WorkKind.LOAD, model_name="yolov8n", status=WorkStatus.DONE,
        finished_at=timezone.now() - timedelta(days=3),
    )  # fmt: skip
    queued_load = WorkItem.objects.create(kind=WorkKind.LOAD, model_name="yolov8s")

    deleted = services.retention_prune()

    assert (deleted["inferences"], deleted["loads"]) == (1, 1)
    assert set(InferenceRequest.objects.values_list("pk", flat=True)) == {recent.pk, running.pk}
    assert not WorkItem.objects.filter(request_id=old.pk).exists()
    assert not WorkItem.objects.filter(pk=old_load.pk).exists()
    assert WorkItem.objects.filter(pk=queued_load.pk).exists()


@pytest.mark.django_db
def test_zoo_prune_prunes_finished_work_and_says_how_much(settings):
    stored_batch(status=WorkStatus.DONE, finished_days_ago=settings.ZOO_BATCH_RETENTION_DAYS + 1)
    stored_inference(
        status=WorkStatus.DONE, finished_days_ago=settings.ZOO_INFERENCE_RETENTION_DAYS + 1
    )
    out = io.StringIO()

    call_command("zoo_prune", stdout=out)

    assert not EnrichmentBatch.objects.exists() and not InferenceRequest.objects.exists()
    assert "Deleted 1 finished batches (older than 7 days), 1 finished inferences" in out.getvalue()


@pytest.mark.django_db
def test_the_workers_heartbeat_prunes_finished_work_when_due(live_device):
    stored_batch(status=WorkStatus.DONE, finished_days_ago=365)
    heartbeat = Heartbeat(device_id=live_device.pk, worker=live_device.worker, interval=1)

    heartbeat._prune_when_due()

    assert not EnrichmentBatch.objects.exists()
