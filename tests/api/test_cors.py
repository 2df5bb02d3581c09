"""CORS: both documents' frontends run on another origin than their API. Origins come
from CORS_ALLOWED_ORIGINS (none by default); only /api/ answers with the headers, and
never with credentials (a cross-origin caller sends a token, not the session)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

TOOL = "http://localhost:3000"


def test_by_default_no_origin_is_allowed(api):
    response = api.get("/api/models/config", HTTP_ORIGIN=TOOL)

    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_an_allowed_origin_may_read_both_apis(api, settings):
    settings.CORS_ALLOWED_ORIGINS = [TOOL]

    for url in ("/api/models/config", "/api/system/model-zoo/status"):
        response = api.get(url, HTTP_ORIGIN=TOOL)
        assert response.headers["access-control-allow-origin"] == TOOL
        assert "access-control-allow-credentials" not in response.headers


def test_an_allowed_origins_preflight_for_a_token_post_is_answered(api, settings):
    settings.CORS_ALLOWED_ORIGINS = [TOOL]

    response = api.options(
        "/api/models/select",
        HTTP_ORIGIN=TOOL,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization",
    )

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == TOOL
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "authorization" in response.headers["access-control-allow-headers"]


def test_another_origin_is_not_allowed(api, settings):
    settings.CORS_ALLOWED_ORIGINS = [TOOL]

    response = api.get("/api/models/config", HTTP_ORIGIN="https://elsewhere.example")

    assert "access-control-allow-origin" not in response.headers


def test_pages_outside_the_api_get_no_cors_headers(api, settings):
    settings.CORS_ALLOWED_ORIGINS = [TOOL]

    response = api.get("/healthz", HTTP_ORIGIN=TOOL)

    assert "access-control-allow-origin" not in response.headers
