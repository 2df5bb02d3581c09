"""POST /api/models/select: the document's bodies and errors, staff only, persisted."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from models_registry.models import Task
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/models/select"


def test_it_selects_a_model_and_answers_as_documented(staff_api):
    response = staff_api.post(f"{URL}?task_type=video_summarization&model_name=llama-4-maverick")

    assert response.status_code == 200
    assert response.json() == {
        "status": "success",
        "task_type": "video_summarization",
        "selected_model": "llama-4-maverick",
        "model_id": "meta-llama/Llama-4-Maverick",
        "message": "Model selection updated",
    }
    assert Task.objects.get(name="video_summarization").selected.name == "llama-4-maverick"


def test_the_new_selection_shows_in_config(staff_api, api):
    staff_api.post(f"{URL}?task_type=object_tracking&model_name=sam2.1")

    config = api.get("/api/models/config").json()

    assert config["models"]["object_tracking"]["selected"] == "sam2.1"


def test_an_invalid_task_type_is_a_400_with_the_documents_error(staff_api):
    response = staff_api.post(f"{URL}?task_type=invalid_task&model_name=yolov8n")

    assert response.status_code == 400
    assert response.json() == {
        "error": "Invalid task_type: invalid_task",
        "detail": "Invalid task_type: invalid_task",
    }


def test_an_unknown_model_is_a_404_with_the_documents_error(staff_api):
    response = staff_api.post(f"{URL}?task_type=video_summarization&model_name=nonexistent-model")

    assert response.status_code == 404
    message = "Model 'nonexistent-model' not found for task 'video_summarization'"
    assert response.json() == {"error": message, "detail": message}


def test_a_model_of_another_task_is_not_found_for_this_one(staff_api):
    response = staff_api.post(f"{URL}?task_type=object_tracking&model_name=yolov8n")

    assert response.status_code == 404
    assert Task.objects.get(name="object_tracking").selected is None


def test_a_zoo_model_is_not_a_task_option(staff_api):
    response = staff_api.post(f"{URL}?task_type=object_detection&model_name=yolo11-face")

    assert response.status_code == 404


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "Missing required query parameter: task_type, model_name"),
        ("?task_type=object_detection", "Missing required query parameter: model_name"),
        ("?model_name=yolov8n", "Missing required query parameter: task_type"),
        ("?task_type=&model_name=yolov8n", "Missing required query parameter: task_type"),
        (
            "?task_type=object_detection&model_name=yolov8n&device=cuda:0",
            "Unknown query parameter: device",
        ),
        (
            "?task_type=object_detection&task_type=object_tracking&model_name=yolov8n",
            "Query parameter given more than once: task_type",
        ),
    ],
)
def test_bad_query_parameters_are_a_400_naming_the_problem(staff_api, query, message):
    response = staff_api.post(f"{URL}{query}")

    assert response.status_code == 400
    assert response.json() == {"error": message, "detail": message}
    assert Task.objects.get(name="object_detection").selected.name == "yolov8n"


def test_an_anonymous_caller_is_refused_with_401_and_a_json_error(api):
    response = api.post(f"{URL}?task_type=object_detection&model_name=yolov8s")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert set(response.json()) == {"error", "detail"}
    assert Task.objects.get(name="object_detection").selected.name == "yolov8n"


def test_a_bad_token_is_refused_with_401(api):
    api.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    response = api.post(f"{URL}?task_type=object_detection&model_name=yolov8s")

    assert response.status_code == 401
    assert response.json() == {"error": "Invalid token.", "detail": "Invalid token."}


def test_a_user_who_is_not_staff_is_refused_with_403(api):
    api.force_authenticate(UserFactory(is_staff=False))

    response = api.post(f"{URL}?task_type=object_detection&model_name=yolov8s")

    assert response.status_code == 403
    assert set(response.json()) == {"error", "detail"}
    assert Task.objects.get(name="object_detection").selected.name == "yolov8n"


def test_a_staff_session_needs_its_csrf_token(staff_user):
    client = APIClient(enforce_csrf_checks=True)
    client.login(username=staff_user.username, password="a-long-test-passphrase")

    without = client.post(f"{URL}?task_type=object_detection&model_name=yolov8s")
    client.get("/admin/")  # a page with a form: sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    with_token = client.post(
        f"{URL}?task_type=object_detection&model_name=yolov8s", HTTP_X_CSRFTOKEN=token
    )

    assert without.status_code == 403
    assert "CSRF" in without.json()["error"]
    assert with_token.status_code == 200


def test_select_answers_get_with_405_and_a_json_error(staff_api):
    response = staff_api.get(f"{URL}?task_type=object_detection&model_name=yolov8s")

    assert response.status_code == 405
    assert response.json() == {
        "error": 'Method "GET" not allowed.',
        "detail": 'Method "GET" not allowed.',
    }
