"""ZOO_OPEN_SELECT: the Model Management document's select has no authentication (its
service sits behind the annotation tool's server). Off by default (staff only, as every
write); on, POST /api/models/select and nothing else is open to anonymous callers,
while a staff browser session must still send its CSRF token."""

from __future__ import annotations

import pytest
from django.test import Client

from models_registry.models import Task

pytestmark = pytest.mark.django_db

SELECT = "/api/models/select?task_type=object_detection&model_name=yolov8s"


def selected() -> str | None:
    task = Task.objects.select_related("selected").get(name="object_detection")
    return task.selected.name if task.selected else None


def test_by_default_an_anonymous_select_is_refused_and_changes_nothing(api):
    response = api.post(SELECT)

    assert response.status_code == 401
    assert response.json()["error"] == "Authentication credentials were not provided."
    assert selected() == "yolov8n"


def test_with_the_setting_an_anonymous_caller_selects_a_model(api, settings):
    settings.ZOO_OPEN_SELECT = True

    response = api.post(SELECT)

    assert response.status_code == 200
    assert response.json()["selected_model"] == "yolov8s"
    assert selected() == "yolov8s"


def test_the_setting_opens_select_only(api, settings):
    settings.ZOO_OPEN_SELECT = True

    assert api.post("/api/models/infer?task_type=object_detection", {}).status_code == 401
    assert api.post("/api/system/models/yolo11-face/load").status_code == 401
    assert api.post("/api/enrichment/batches", {}, format="json").status_code == 401


def test_with_the_setting_a_staff_session_still_needs_its_csrf_token(staff_user, settings):
    settings.ZOO_OPEN_SELECT = True
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(staff_user)

    response = browser.post(SELECT)

    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]
    assert selected() == "yolov8n"
