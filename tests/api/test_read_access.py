"""Reads are open by default; ZOO_READS_REQUIRE_AUTH closes them."""

from __future__ import annotations

import pytest

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

READS = [
    ("get", "/api/system/models"),
    ("get", "/api/system/model-zoo/status"),
    ("get", "/api/models/config"),
    ("get", "/api/models/status"),
    ("post", "/api/models/validate"),
]


@pytest.mark.parametrize(("method", "url"), READS)
def test_reads_are_open_by_default(api, method, url):
    assert getattr(api, method)(url).status_code == 200


@pytest.mark.parametrize(("method", "url"), READS)
def test_the_setting_closes_reads_to_anonymous_callers(api, settings, method, url):
    settings.ZOO_READS_REQUIRE_AUTH = True

    response = getattr(api, method)(url)

    assert response.status_code == 401
    management = url.startswith("/api/models/")
    assert list(response.json()) == (["error", "detail"] if management else ["detail"])


@pytest.mark.parametrize(("method", "url"), READS)
def test_any_logged_in_user_may_read_when_reads_are_closed(api, settings, method, url):
    settings.ZOO_READS_REQUIRE_AUTH = True
    api.force_authenticate(UserFactory())

    assert getattr(api, method)(url).status_code == 200
