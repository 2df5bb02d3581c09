"""The OpenAPI schema documents every endpoint and error; health probes answer."""

from __future__ import annotations

import pytest
from django.db import DatabaseError

pytestmark = pytest.mark.django_db

PATHS = {
    "/api/system/models": ["get"],
    "/api/system/models/{model_name}": ["get"],
    "/api/system/model-zoo/status": ["get"],
    "/api/system/model-zoo/events": ["get"],
    "/api/models/config": ["get"],
    "/api/models/status": ["get"],
    "/api/models/select": ["post"],
    "/api/models/validate": ["post"],
    "/api/enrichment/batches": ["post"],
    "/api/enrichment/batches/{batch_id}": ["get"],
    "/api/models/infer": ["post"],
    "/api/models/infer/{request_id}": ["get"],
    "/api/system/models/{model_name}/load": ["post"],
    "/api/system/models/{model_name}/unload": ["post"],
}


@pytest.fixture
def schema(api):
    response = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def test_the_schema_documents_every_endpoint(schema):
    for path, methods in PATHS.items():
        assert path in schema["paths"], path
        assert sorted(schema["paths"][path]) == methods


def test_the_schema_documents_the_error_bodies_of_each_api(schema):
    select = schema["paths"]["/api/models/select"]["post"]
    for code in ("400", "401", "403", "404", "500", "503"):
        ref = select["responses"][code]["content"]["application/json"]["schema"]["$ref"]
        assert ref.endswith("/Error")
    detail = schema["paths"]["/api/system/models/{model_name}"]["get"]["responses"]["404"]
    assert detail["content"]["application/json"]["schema"]["$ref"].endswith("/DetailError")
    error = schema["components"]["schemas"]["Error"]
    assert set(error["properties"]) == {"error", "detail"}
    assert set(error["required"]) == {"error", "detail"}


def test_the_schema_documents_selects_query_parameters(schema):
    parameters = {p["name"]: p for p in schema["paths"]["/api/models/select"]["post"]["parameters"]}

    assert parameters["task_type"]["required"] is True
    assert sorted(parameters["task_type"]["schema"]["enum"]) == [
        "object_detection",
        "object_tracking",
        "video_summarization",
    ]
    assert parameters["model_name"]["required"] is True
    assert parameters["force"]["schema"] == {"type": "boolean"}
    assert parameters["force"].get("required", False) is False


def test_swagger_ui_is_served_without_a_cdn(api):
    response = api.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "cdn.jsdelivr" not in html and "unpkg.com" not in html


def test_healthz_says_the_process_is_alive(api):
    assert api.get("/healthz").json() == {"status": "ok"}


def test_readyz_says_the_database_answers(api):
    response = api.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "database": "ok"}


def test_readyz_is_503_when_the_database_fails(api, monkeypatch):
    from zoo_project import health

    class Broken:
        def cursor(self):
            raise DatabaseError("connection refused")

    monkeypatch.setattr(health, "connection", Broken())

    response = api.get("/readyz")

    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


def test_the_schema_generates_without_warnings():
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")
