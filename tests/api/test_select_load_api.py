"""POST /api/models/select when the selection triggers a load: the request waits for it
and answers the document's 200, 500 ("Failed to load model: <reason>") or 503 ("Model
service timeout during model loading"); a model no device could ever hold is refused
before anything changes, unless the caller insists with ``force``."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from fleet.models import ModelState, ModelStatus
from inference import run
from models_registry.models import InferenceSettings, ModelEntry, Task
from tests.factories import ModelStateFactory
from tests.fakes import missing_weights, oom, simulated_zoo
from tests.servers import wait_for

pytestmark = pytest.mark.subprocess

URL = "/api/models/select?task_type=object_detection"


@pytest.fixture
def worker(django_db_serialized_rollback, transactional_db, monkeypatch):
    """A zoo on a 4 GB simulated device (a 3276 MB budget: yolov8l's 4096 MB never fits);
    a load message is served by a thread, as the worker's load task serves it."""
    zoo = simulated_zoo("sim:61", total_memory_mb=4096)
    sent: list[str] = []
    zoo.sent = sent  # type: ignore[attr-defined]
    threads: list[threading.Thread] = []

    def serve(name):
        try:
            run.load_serve(model_name=name, zoo=zoo)
        finally:
            connection.close()

    def deliver(args, queue):
        sent.append(args[0])
        thread = threading.Thread(target=serve, args=args, daemon=True)
        threads.append(thread)
        thread.start()

    monkeypatch.setattr("inference.tasks.load_model.apply_async", deliver)
    yield zoo
    if zoo.loader.gate is not None:
        zoo.loader.gate.set()
    for thread in threads:  # every delivered message finishes before the tables go
        thread.join(timeout=30)
    zoo.close()


def selected() -> str:
    return Task.objects.get(name="object_detection").selected.name


def state_of(name: str) -> str | None:
    row = ModelState.objects.filter(model__name=name).first()
    return row.status if row else None


def test_a_selection_that_loads_answers_the_documents_200_once_loaded(worker, staff_api):
    response = staff_api.post(f"{URL}&model_name=yolov8s")

    assert response.status_code == 200
    assert response.json() == {
        "status": "success",
        "task_type": "object_detection",
        "selected_model": "yolov8s",
        "model_id": "yolov8s",
        "message": "Model selection updated",
    }
    assert state_of("yolov8s") == ModelStatus.LOADED
    assert selected() == "yolov8s"


@pytest.fixture
def no_cpu_fallback(worker):
    """Task models stay on the GPU: one larger than its budget is refused."""
    InferenceSettings.objects.filter(pk=1).update(cpu_fallback=False)
    worker.manager.refresh()  # as a worker sees a settings change within seconds


def test_a_model_larger_than_every_budget_is_refused_and_nothing_changes(
    worker, staff_api, no_cpu_fallback
):
    response = staff_api.post(f"{URL}&model_name=yolov8l")

    assert response.status_code == 500
    message = (
        "Failed to load model: Out of memory: yolov8l needs 4096 MB, more than the "
        "whole budget of 3276 MB on sim:61; selection unchanged (force=true selects it anyway)"
    )
    assert response.json() == {"error": message, "detail": message}
    assert selected() == "yolov8n"
    assert worker.sent == []


def test_a_measured_size_larger_than_the_budget_is_refused_too(worker, staff_api, no_cpu_fallback):
    ModelStateFactory(
        model=ModelEntry.objects.get(name="yolov8m"), device=worker.device,
        status=ModelStatus.UNLOADED, measured_mb=3500,
    )  # fmt: skip

    response = staff_api.post(f"{URL}&model_name=yolov8m")

    assert response.status_code == 500
    assert "yolov8m needs 3500 MB" in response.json()["error"]
    assert selected() == "yolov8n"


def test_insisting_selects_it_without_a_load_a_worker_would_refuse(
    worker, staff_api, no_cpu_fallback
):
    response = staff_api.post(f"{URL}&model_name=yolov8l&force=true")

    assert response.status_code == 200
    assert response.json()["selected_model"] == "yolov8l"
    assert response.json()["message"] == (
        "Model selection updated (forced; not loaded: yolov8l needs 4096 MB, more than the "
        "whole budget of 3276 MB on sim:61)"
    )
    assert selected() == "yolov8l"
    assert worker.sent == []


def test_by_default_a_model_too_large_for_the_gpu_is_selected_and_loaded_on_the_cpu(
    worker, staff_api
):
    assert InferenceSettings.load().cpu_fallback is True  # the document's degradation

    response = staff_api.post(f"{URL}&model_name=yolov8l")

    assert response.status_code == 200
    assert response.json()["message"] == "Model selection updated"
    assert worker.sent == ["yolov8l"]
    assert ModelState.objects.get(model__name="yolov8l").on_cpu_fallback is True
    assert selected() == "yolov8l"
    loaded = staff_api.get("/api/models/status").json()["loaded_models"]["object_detection"]
    assert loaded["model_id"] == "yolov8l"
    assert loaded["device"] == "cpu"
    assert loaded["memory_usage_gb"] == 0  # it holds no VRAM


def test_a_load_that_fails_is_a_500_with_the_reason_and_the_old_selection_back(worker, staff_api):
    worker.loader.failures["yolov8s"] = missing_weights("yolov8s", "/models/yolov8s.pt")

    response = staff_api.post(f"{URL}&model_name=yolov8s")

    assert response.status_code == 500
    message = "Failed to load model: LoadError: yolov8s: weights not found at /models/yolov8s.pt"
    assert response.json() == {"error": message, "detail": message}
    assert selected() == "yolov8n"


def test_out_of_memory_during_the_load_is_the_documents_500(worker, staff_api):
    worker.loader.failures["yolov8m"] = oom()

    response = staff_api.post(f"{URL}&model_name=yolov8m")

    assert response.status_code == 500
    assert response.json()["error"].startswith("Failed to load model: Out of memory")
    assert selected() == "yolov8n"


def test_a_load_that_outlives_the_wait_is_a_503_the_selection_kept_and_the_load_goes_on(
    worker, staff_api, settings
):
    settings.ZOO_INFER_WAIT_S = 0.3
    worker.loader.gate = threading.Event()

    response = staff_api.post(f"{URL}&model_name=yolov8s")
    worker.loader.gate.set()

    assert response.status_code == 503
    assert response.json() == {
        "error": "Model service timeout during model loading",
        "detail": "Model service timeout during model loading",
    }
    assert selected() == "yolov8s"
    assert wait_for(lambda: state_of("yolov8s") == ModelStatus.LOADED or None, 10)


@pytest.mark.parametrize("value", ["maybe", "2"])
def test_force_takes_only_yes_or_no(worker, staff_api, value):
    response = staff_api.post(f"{URL}&model_name=yolov8l&force={value}")

    assert response.status_code == 400
    assert response.json() == {
        "error": f"force must be true or false, got '{value}'",
        "detail": f"force must be true or false, got '{value}'",
    }
    assert selected() == "yolov8n"
