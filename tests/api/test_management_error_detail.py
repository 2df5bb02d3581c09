"""Model Management errors carry their message under ``detail`` as well as the
document's ``error``: the annotation tool's server forwards ``detail`` to its users, so
without it they read "Request failed with status code 404". Zoo API errors keep their
one ``detail``."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_a_missing_model_names_itself_under_both_keys(staff_api):
    response = staff_api.post("/api/models/select?task_type=object_detection&model_name=nope")

    assert response.status_code == 404
    body = response.json()
    assert body["error"] == "Model 'nope' not found for task 'object_detection'"
    assert body["detail"] == body["error"]


def test_an_authentication_failure_carries_detail_too(api):
    response = api.post(
        "/api/models/select?task_type=object_detection&model_name=yolov8s",
        HTTP_AUTHORIZATION="Token not-a-token",
    )

    assert response.status_code == 401
    assert response.json() == {"error": "Invalid token.", "detail": "Invalid token."}


def test_a_still_running_inference_says_so_under_both_keys(staff_api, monkeypatch):
    from inference.models import InferenceRequest

    inference = InferenceRequest.objects.create(task_type="object_detection", model_name="yolov8n")

    response = staff_api.get(f"/api/models/infer/{inference.pk}")

    assert response.status_code == 202
    assert response.json()["detail"] == response.json()["error"]


def test_zoo_api_errors_keep_only_detail(api):
    response = api.get("/api/system/models/nothing-like-it")

    assert response.status_code == 404
    assert response.json() == {"detail": "Model 'nothing-like-it' not found in registry"}
