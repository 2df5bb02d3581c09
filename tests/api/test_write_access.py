"""Every write operation the schema lists refuses anonymous callers (401) and
non-staff users (403) with a JSON body, and a staff browser session still needs the
CSRF token. Taken from the schema, so a new endpoint is covered the day it appears."""

from __future__ import annotations

import json
import uuid

import pytest
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from models_registry.models import ModelEntry, Task
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

OPEN_POSTS = {"/api/models/validate"}  # changes nothing: open like a read


def write_operations() -> list[tuple[str, str]]:
    document = json.loads(
        OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True))
    )
    operations = []
    for path, methods in document["paths"].items():
        for method in methods:
            if method in ("post", "put", "patch", "delete") and path not in OPEN_POSTS:
                url = path.replace("{model_name}", "yolo11-face")
                url = url.replace("{batch_id}", str(uuid.uuid4()))
                url = url.replace("{request_id}", str(uuid.uuid4()))
                operations.append((method, url))
    return operations


OPERATIONS = write_operations()
QUERY = "?task_type=object_detection&model_name=yolov8s"


def test_the_schema_lists_the_write_operations_we_know():
    paths = {url.split("?")[0] for _, url in OPERATIONS}
    assert {
        "/api/models/select", "/api/models/infer", "/api/enrichment/batches",
        "/api/system/models/yolo11-face/load", "/api/system/models/yolo11-face/unload",
    } <= paths  # fmt: skip


@pytest.mark.parametrize(("method", "url"), OPERATIONS)
def test_anonymous_callers_get_a_json_401(method, url):
    response = getattr(APIClient(), method)(url + QUERY)
    assert response.status_code == 401
    assert "detail" in response.json() or "error" in response.json()


@pytest.mark.parametrize(("method", "url"), OPERATIONS)
def test_non_staff_users_get_a_json_403(method, url):
    client = APIClient()
    token = Token.objects.create(user=UserFactory(is_staff=False))
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    response = getattr(client, method)(url + QUERY)
    assert response.status_code == 403
    assert "detail" in response.json() or "error" in response.json()


@pytest.mark.parametrize(("method", "url"), OPERATIONS)
def test_a_staff_session_without_the_csrf_token_is_refused(method, url):
    before = Task.objects.get(name="object_detection").selected_id
    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory(is_staff=True))
    response = getattr(client, method)(url + QUERY)
    assert response.status_code == 403
    assert "CSRF" in json.dumps(response.json())
    assert Task.objects.get(name="object_detection").selected_id == before
    assert ModelEntry.objects.get(name="yolo11-face").enabled
