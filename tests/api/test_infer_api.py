"""POST /api/models/infer: a task's selected model on one image, with the document's
errors for a load that outlives the request and for running out of memory."""

from __future__ import annotations

import base64
import io
import threading

import numpy as np
import pytest
from PIL import Image

from inference import run
from models_registry.models import ModelEntry, Task
from tests.fakes import ThreadedMessages, oom, simulated_zoo

pytestmark = pytest.mark.subprocess

URL = "/api/models/infer?task_type=object_detection"


def image_b64() -> str:
    pixels = np.random.default_rng(2).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture
def worker(django_db_serialized_rollback, transactional_db, monkeypatch):
    """A model zoo on a simulated device, run by a thread when a message would be sent."""
    zoo = simulated_zoo("sim:41")
    messages = ThreadedMessages(monkeypatch, lambda pk: run.inference_run(request_id=pk, zoo=zoo))
    yield zoo
    messages.join()
    zoo.close()


def test_it_runs_the_selected_model_and_answers_with_its_result(worker, staff_api):
    response = staff_api.post(URL, {"image": image_b64()}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["model_name"] == "yolov8n"
    assert body["model_id"] == "yolov8n"
    assert body["device"] == "sim:41"
    assert body["cold"] is True
    assert body["result"]["size"] == [160, 120]
    assert body["load_time"] >= 0 and body["inference_time"] >= 0
    assert staff_api.post(URL, {"image": image_b64()}, format="json").json()["cold"] is False


def test_an_inference_belongs_to_its_caller_and_keeps_its_result_not_its_image(
    worker, staff_api, staff_user
):
    from inference.models import InferenceRequest

    body = staff_api.post(URL, {"image": image_b64()}, format="json").json()

    stored = InferenceRequest.objects.get(pk=body["request_id"])
    assert stored.submitted_by == staff_user
    assert bytes(stored.image) == b""  # released once finished
    assert stored.result["output"]["size"] == [160, 120]


def test_a_load_that_outlives_the_wait_is_a_503_and_the_work_goes_on(worker, staff_api, settings):
    settings.ZOO_INFER_WAIT_S = 0.3
    worker.loader.gate = threading.Event()

    response = staff_api.post(URL, {"image": image_b64()}, format="json")
    worker.loader.gate.set()

    assert response.status_code == 503
    assert response.json() == {
        "error": "Model service timeout during model loading",
        "detail": "Model service timeout during model loading",
    }
    from tests.servers import wait_for

    later = wait_for(lambda: staff_api.get(response["Location"]).status_code == 200 or None, 10)
    assert later


def test_out_of_memory_is_the_documents_500(worker, staff_api):
    worker.loader.failures["yolov8n"] = oom()

    response = staff_api.post(URL, {"image": image_b64()}, format="json")

    assert response.status_code == 500
    assert response.json() == {
        "error": "Failed to load model: Out of memory",
        "detail": "Failed to load model: Out of memory",
    }


def test_a_model_that_fails_to_load_says_why(worker, staff_api):
    from tests.fakes import missing_weights

    worker.loader.failures["yolov8n"] = missing_weights("yolov8n", "/models/yolov8n.pt")

    response = staff_api.post(URL, {"image": image_b64()}, format="json")

    assert response.status_code == 500
    assert response.json()["error"].startswith("Failed to load model:")
    assert "/models/yolov8n.pt" in response.json()["error"]


@pytest.mark.parametrize(
    ("url", "status", "message"),
    [
        ("/api/models/infer?task_type=cooking", 400, "Invalid task_type: cooking"),
        ("/api/models/infer", 400, "Missing required query parameter: task_type"),
        (
            "/api/models/infer?task_type=object_tracking",
            400,
            "No model selected for task 'object_tracking'",
        ),
        (
            "/api/models/infer?task_type=video_summarization",
            503,
            "Model 'llama-4-scout' has no server URL: set ZOO_SERVER_URL_LLAMA_4_SCOUT or the "
            "entry's server URL in the admin",
        ),
    ],
)
def test_requests_it_cannot_serve_are_refused_with_a_reason(
    worker, staff_api, url, status, message
):
    response = staff_api.post(url, {"image": image_b64()}, format="json")

    assert response.status_code == status
    assert response.json() == {"error": message, "detail": message}


def test_a_bad_image_is_a_400(worker, staff_api):
    response = staff_api.post(URL, {"image": base64.b64encode(b"nope").decode()}, format="json")

    assert response.status_code == 400
    assert response.json()["error"].startswith("image: is not a decodable image")


def test_with_no_live_worker_it_says_so_at_once(worker, staff_api):
    worker.close()

    response = staff_api.post(URL, {"image": image_b64()}, format="json")

    assert response.status_code == 503
    assert response.json() == {
        "error": "Model service unavailable: no worker is running",
        "detail": "Model service unavailable: no worker is running",
    }


def test_anonymous_callers_cannot_run_inference(worker, api):
    response = api.post(URL, {"image": image_b64()}, format="json")

    assert response.status_code == 401
    assert set(response.json()) == {"error", "detail"}


def test_a_multipart_image_works_too(worker, staff_api):
    upload = io.BytesIO(base64.b64decode(image_b64()))
    upload.name = "frame.png"

    response = staff_api.post(URL, {"image": upload, "options": "{}"}, format="multipart")

    assert response.status_code == 200
    assert Task.objects.get(name="object_detection").selected == ModelEntry.objects.get(
        name="yolov8n"
    )
