"""Every error is JSON in its API's shape: bad queries, unknown routes, wrong methods."""

from __future__ import annotations

import pytest

from fleet import selectors as fleet_selectors

pytestmark = pytest.mark.django_db

ZOO_GETS = [
    "/api/system/models",
    "/api/system/models/yolo11-face",
    "/api/system/model-zoo/status",
]
MANAGEMENT_GETS = ["/api/models/config", "/api/models/status"]


@pytest.mark.parametrize("url", ZOO_GETS)
def test_zoo_endpoints_refuse_unknown_query_parameters_with_a_detail(api, url):
    response = api.get(f"{url}?bogus=1")

    assert response.status_code == 400
    assert response.json() == {"detail": "Unknown query parameter: bogus"}


@pytest.mark.parametrize("url", MANAGEMENT_GETS)
def test_management_endpoints_refuse_unknown_query_parameters_with_an_error(api, url):
    response = api.get(f"{url}?bogus=1&also=2")

    assert response.status_code == 400
    assert response.json() == {
        "error": "Unknown query parameter: also, bogus",
        "detail": "Unknown query parameter: also, bogus",
    }


@pytest.mark.parametrize("url", ZOO_GETS + MANAGEMENT_GETS)
def test_read_endpoints_refuse_writes_with_405(staff_api, url):
    response = staff_api.delete(url)

    assert response.status_code == 405
    management = url.startswith("/api/models/")
    assert list(response.json()) == (["error", "detail"] if management else ["detail"])


def test_an_unknown_api_route_is_a_json_404(api):
    zoo = api.get("/api/system/nothing-here/at-all")
    management = api.get("/api/models/nothing")

    assert zoo.status_code == 404
    assert zoo.json() == {"detail": "Not found: /api/system/nothing-here/at-all"}
    assert management.status_code == 404
    assert management.json() == {
        "error": "Not found: /api/models/nothing",
        "detail": "Not found: /api/models/nothing",
    }


def test_an_unexpected_failure_is_a_json_500_without_a_stack_trace(api, monkeypatch):

    def explode():
        raise RuntimeError("secret internals")

    monkeypatch.setattr(fleet_selectors, "management_status", explode)

    response = api.get("/api/models/status")

    assert response.status_code == 500
    assert response.json() == {"error": "Internal server error", "detail": "Internal server error"}
    assert b"secret internals" not in response.content


@pytest.mark.parametrize(
    "url, key",
    [
        ("/api/system/model-zoo/latency/history?model=%00", "detail"),
        ("/api/system/models/yolo%00face", "detail"),
        ("/api/models/select?task_type=object_detection&model_name=%00", "error"),
    ],
)
def test_a_nul_character_in_the_url_is_a_json_400(api, db, url, key):
    response = api.get(url)
    assert response.status_code == 400
    message = "NUL characters are not allowed in URLs"
    assert response.json() == {key: message} | ({"detail": message} if key == "error" else {})
