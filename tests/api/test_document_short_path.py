"""The status documents' short path: an anonymous plain-JSON GET is answered before DRF
wraps the request, and the answer is the one DRF would give, byte for byte apart from
the per-answer timestamp; any other call goes through DRF."""

from __future__ import annotations

from unittest import mock

import pytest
from django.test import override_settings
from rest_framework.views import APIView

from tests.api.test_status_snapshots import DOCUMENTS

pytestmark = pytest.mark.django_db

# Headers a client may see; Date and the like are not set by Django's test server.
COMPARED = ("Content-Type", "Allow", "Vary", "X-Frame-Options", "Content-Security-Policy")


def _without_timestamp(response) -> dict:
    body = response.json()
    body.pop("timestamp", None)
    return body


def _drf_initial_calls(api, url: str, **extra) -> tuple[object, int]:
    with mock.patch.object(APIView, "initial", autospec=True, side_effect=APIView.initial) as spy:
        response = api.get(url, **extra)
    return response, spy.call_count


@pytest.mark.parametrize("url", DOCUMENTS)
@pytest.mark.parametrize("accept", [None, "*/*", "application/json"])
def test_the_short_answer_is_the_one_drf_gives(api, url, accept):
    extra = {} if accept is None else {"HTTP_ACCEPT": accept}
    short, drf_calls = _drf_initial_calls(api, url, **extra)
    # A weighted Accept negotiates to the same renderer, through DRF.
    full, full_drf_calls = _drf_initial_calls(api, url, HTTP_ACCEPT="application/json;q=0.9")

    assert (drf_calls, full_drf_calls) == (0, 1)
    assert short.status_code == full.status_code == 200
    assert [short.get(name) for name in COMPARED] == [full.get(name) for name in COMPARED]
    assert short["Allow"] == "GET, HEAD, OPTIONS"
    assert _without_timestamp(short) == _without_timestamp(full)


@pytest.mark.parametrize("url", DOCUMENTS)
def test_a_query_goes_through_drf_and_is_checked(api, url):
    response, drf_calls = _drf_initial_calls(api, url + "?unexpected=1")
    assert drf_calls == 1
    assert response.status_code == 400
    assert "unexpected" in response.content.decode()


def test_a_signed_in_reader_goes_through_drf_and_sees_their_own_document(staff_api):
    response, drf_calls = _drf_initial_calls(staff_api, "/api/system/models")
    assert drf_calls == 1
    # Staff see the local weights paths the anonymous document leaves out.
    assert any(model.get("path") for model in response.json()["models"])


def test_a_token_goes_through_drf(api):
    response, drf_calls = _drf_initial_calls(
        api, "/api/models/status", HTTP_AUTHORIZATION="Token not-a-real-token"
    )
    assert drf_calls == 1
    assert response.status_code == 401  # a bad token is refused, not read as anonymous


@override_settings(ZOO_READS_REQUIRE_AUTH=True)
@pytest.mark.parametrize("url", DOCUMENTS)
def test_closed_reads_still_refuse_anonymous_callers(api, url):
    response, drf_calls = _drf_initial_calls(api, url)
    assert drf_calls == 1
    assert response.status_code == 401


def test_the_browsable_api_goes_through_drf(api):
    response, drf_calls = _drf_initial_calls(api, "/api/models/config", HTTP_ACCEPT="text/html")
    assert drf_calls == 1
    assert response["Content-Type"].startswith("text/html")
