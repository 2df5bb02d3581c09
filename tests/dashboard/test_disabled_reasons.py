"""Why a model is disabled (the Model Zoo document's "Disabled Models" table, kept in the
registry) shows in the zoo API's model detail and on the dashboard, not only in the
admin."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from models_registry.models import ModelEntry

pytestmark = pytest.mark.django_db


def test_the_model_detail_says_why_a_model_is_disabled(api):
    body = api.get("/api/system/models/florence-2-large").json()

    assert body["enabled"] is False
    assert body["status"] == "disabled"
    assert body["disabled_reason"] == "Now runs as dedicated ai-florence HTTP service"


def test_an_enabled_model_has_no_disabled_reason(api):
    assert api.get("/api/system/models/yolo11-face").json()["disabled_reason"] is None


def test_a_model_the_operator_disables_shows_the_reason_given(api):
    ModelEntry.objects.filter(name="yolo11-face").update(
        enabled=False, disabled_reason="Camera removed"
    )

    assert api.get("/api/system/models/yolo11-face").json()["disabled_reason"] == "Camera removed"


def test_the_dashboard_shows_each_disabled_models_reason_beside_its_status():
    page = Client().get("/").content.decode()

    for name, reason in [
        ("florence-2-large", "Now runs as dedicated ai-florence HTTP service"),
        ("brisque-quality", "Incompatible with NumPy 2.0"),
        ("yolo26-general", "Not yet released"),
    ]:
        row = re.search(rf'<tr data-model="{re.escape(name)}">(.*?)</tr>', page, re.S)
        assert row, name
        assert ">disabled<" in row.group(1)
        assert f'<span class="why">{reason}</span>' in row.group(1)
    enabled = re.search(r'<tr data-model="yolo11-face">(.*?)</tr>', page, re.S)
    assert enabled and 'class="why"' not in enabled.group(1)
