"""Staff control of models: POST /api/system/models/{name}/load and /unload answer with
the model's new state; an unload of a model in use waits for it or answers 409; a new
selection is loaded on a worker when the old one was loaded or warmup is on."""

from __future__ import annotations

import contextlib
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from fleet.models import Device, ModelEvent
from inference.engine.manager import ManagerError
from inference.run import model_release
from models_registry.models import InferenceSettings
from tests.fakes import missing_weights, simulated_zoo

pytestmark = pytest.mark.subprocess


@pytest.fixture
def worker(django_db_serialized_rollback, transactional_db, monkeypatch, settings):
    """A zoo on a simulated device; messages to it are run by threads, as a worker would."""
    settings.ZOO_UNLOAD_WAIT_S = 0.5
    zoo = simulated_zoo("sim:51")
    sent: list[tuple[str, list]] = []
    zoo.sent = sent  # type: ignore[attr-defined]

    threads: list[threading.Thread] = []

    def run(kind, call):
        def in_thread(*args):
            try:
                call(*args)
            finally:
                connection.close()

        def deliver(args, queue):
            sent.append((kind, list(args)))
            thread = threading.Thread(target=in_thread, args=args, daemon=True)
            threads.append(thread)
            thread.start()

        return deliver

    def load(name):  # as the zoo.load_model task does
        with contextlib.suppress(ManagerError), zoo.load_sync(name):
            pass

    def unload(name, wait_s, worker=""):  # as the zoo.unload_model task does
        model_release(model_name=name, wait_s=wait_s, for_worker=worker, zoo=zoo)

    monkeypatch.setattr("inference.tasks.load_model.apply_async", run("load", load))
    monkeypatch.setattr("inference.tasks.unload_model.apply_async", run("unload", unload))
    yield zoo
    for thread in threads:  # let every delivered message finish before the tables go
        thread.join(timeout=30)
    zoo.close()


def test_load_answers_with_the_model_loaded(worker, staff_api):
    response = staff_api.post("/api/system/models/yolo11-face/load")

    assert response.status_code == 200
    assert response.json()["status"] == "loaded"
    assert response.json()["available"] is True


def test_a_task_model_is_judged_against_the_whole_device_budget(worker, staff_api):
    response = staff_api.post("/api/system/models/yolov8n/load")

    assert response.status_code == 200
    assert (response.json()["fits_pool"], response.json()["pool_mb"]) == (True, 6553)  # 80 %


def test_a_load_that_fails_is_a_409_with_the_reason(worker, staff_api):
    worker.loader.failures["pet-classifier"] = missing_weights("pet-classifier", "/models/pet")

    response = staff_api.post("/api/system/models/pet-classifier/load")

    assert response.status_code == 409
    assert "/models/pet" in response.json()["detail"]


def test_a_model_too_large_for_the_pool_is_refused_with_the_reason(worker, staff_api):
    response = staff_api.post("/api/system/models/xclip-base/load")

    assert response.status_code == 409
    assert "needs 2000 MB" in response.json()["detail"]


def test_a_model_too_large_for_the_pool_is_refused_before_any_worker_is_asked(worker, staff_api):
    response = staff_api.post("/api/system/models/xclip-base/load")

    assert response.json()["detail"] == (
        "xclip-base cannot be loaded: xclip-base needs 2000 MB, more than the whole zoo "
        "pool of 1650 MB on sim:51"
    )
    assert worker.sent == []
    model = staff_api.get("/api/system/models/xclip-base").json()
    assert (model["status"], model["fits_pool"]) == ("unloaded", False)  # not a red error
    event = ModelEvent.objects.get(model_name="xclip-base")
    assert (event.kind, event.cause) == ("refuse", "refused")


def test_with_zoo_cpu_fallback_a_model_too_large_for_the_pool_loads_on_the_cpu(worker, staff_api):
    InferenceSettings.objects.filter(pk=1).update(zoo_cpu_fallback=True)
    worker.manager.refresh()  # as a worker sees a settings change within seconds

    response = staff_api.post("/api/system/models/xclip-base/load")

    assert response.status_code == 200
    assert response.json()["status"] == "loaded"
    assert worker.manager.snapshot()["xclip-base"].on_cpu is True


def test_unload_answers_with_the_model_unloaded(worker, staff_api):
    staff_api.post("/api/system/models/yolo11-face/load")

    response = staff_api.post("/api/system/models/yolo11-face/unload")

    assert response.status_code == 200
    assert response.json()["status"] == "unloaded"
    assert response.json()["load_count"] == 0


def test_unloading_a_model_in_use_is_a_409_once_the_wait_runs_out(worker, staff_api):
    lease = worker.manager.acquire("yolo11-face")
    worker.manager._sink.flush()
    try:
        response = staff_api.post("/api/system/models/yolo11-face/unload")
    finally:
        lease.release()

    assert response.status_code == 409
    assert "in use" in response.json()["detail"]


def test_unloading_waits_for_a_lease_released_in_time(worker, staff_api, settings):
    settings.ZOO_UNLOAD_WAIT_S = 5
    lease = worker.manager.acquire("yolo11-face")
    worker.manager._sink.flush()
    threading.Timer(0.5, lease.release).start()

    response = staff_api.post("/api/system/models/yolo11-face/unload")

    assert response.status_code == 200
    assert response.json()["status"] == "unloaded"


def test_unloading_a_model_loaded_nowhere_is_a_409_saying_so(worker, staff_api):
    response = staff_api.post("/api/system/models/yolo11-face/unload")

    assert response.status_code == 409
    assert response.json()["detail"] == (
        "yolo11-face is not loaded on any worker; nothing to unload"
    )
    assert worker.sent == []


def test_a_model_held_by_a_worker_that_stopped_heartbeating_is_not_called_unloaded(
    worker, staff_api
):
    staff_api.post("/api/system/models/yolo11-face/load")
    worker.manager._sink.flush()
    silent = timezone.now() - timedelta(minutes=5)
    Device.objects.filter(pk=worker.device.pk).update(heartbeat_at=silent)  # frozen

    response = staff_api.post("/api/system/models/yolo11-face/unload")

    assert response.status_code == 503
    detail = response.json()["detail"]
    assert f"still held on {worker.device} (no heartbeat for 300 s)" in detail
    assert "not answering" in detail
    # The message waits for that very worker: it unloads if it answers again.
    assert ("unload", ["yolo11-face", 0.5, worker.worker]) in worker.sent


def test_an_unload_sent_to_a_worker_since_replaced_leaves_the_new_ones_models(worker):
    worker.manager.acquire("yolo11-face").release()

    answer = model_release(
        model_name="yolo11-face", wait_s=0, for_worker="worker-gone:1@elsewhere", zoo=worker
    )

    assert answer["unloaded"] is False
    assert worker.manager.snapshot()["yolo11-face"].status == "loaded"


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/api/system/models/nope/load", 404),
        ("/api/system/models/claude/load", 409),
        ("/api/system/models/florence-2-large/load", 409),
    ],
)
def test_models_that_cannot_be_loaded_here_are_refused(worker, staff_api, url, status):
    response = staff_api.post(url)

    assert response.status_code == status
    assert set(response.json()) == {"detail"}


def test_control_is_for_staff_only(worker, api):
    from tests.factories import UserFactory

    anonymous = api.post("/api/system/models/yolo11-face/load")
    api.force_authenticate(UserFactory())
    plain = api.post("/api/system/models/yolo11-face/unload")

    assert (anonymous.status_code, plain.status_code) == (401, 403)


def test_a_new_selection_is_loaded_when_warmup_is_on(worker, staff_api):
    staff_api.post("/api/models/select?task_type=object_detection&model_name=yolov8s")

    assert ("load", ["yolov8s"]) in worker.sent


def test_a_new_selection_is_not_loaded_when_warmup_is_off_and_the_old_was_not(worker, staff_api):
    InferenceSettings.objects.filter(pk=1).update(warmup_on_startup=False)

    staff_api.post("/api/models/select?task_type=object_detection&model_name=yolov8s")

    assert worker.sent == []


def test_a_new_selection_replaces_a_loaded_one_even_without_warmup(worker, staff_api):
    InferenceSettings.objects.filter(pk=1).update(warmup_on_startup=False)
    worker.manager.acquire("yolov8n").release()
    worker.manager._sink.flush()

    staff_api.post("/api/models/select?task_type=object_detection&model_name=yolov8m")

    assert ("load", ["yolov8m"]) in worker.sent
