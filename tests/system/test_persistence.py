"""A selection made through the API survives a restart of the service."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token

from tests.factories import UserFactory
from tests.servers import http, web_server

pytestmark = [
    pytest.mark.subprocess,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_a_selection_survives_a_restart():
    token = Token.objects.create(user=UserFactory(is_staff=True)).key

    with web_server() as base:
        status, body = http(
            "POST",
            f"{base}/api/models/select?task_type=object_tracking&model_name=samurai",
            token,
        )
        assert status == 200, body

    with web_server() as base:
        status, config = http("GET", f"{base}/api/models/config")

    assert status == 200
    assert config["models"]["object_tracking"]["selected"] == "samurai"


def test_enable_and_disable_survive_a_restart():
    from models_registry import services

    services.models_set_enabled(names=["yolo11-face"], enabled=False, reason="maintenance")

    with web_server() as base:
        status, model = http("GET", f"{base}/api/system/models/yolo11-face")

    assert status == 200
    assert model["enabled"] is False
    assert model["status"] == "disabled"
