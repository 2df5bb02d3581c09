"""The dashboard on models that do not fit where they would run: a zoo model larger
than the zoo pool carries a note saying so ("needs 2,000 MB; the zoo pool is 1,650 MB")
and stays a gray ``unloaded``, not a red error; a staff Load of it is refused with the
reason before any worker is asked; a task model placed on the CPU says so."""

from __future__ import annotations

import html
import re

import pytest
from django.test import Client

from fleet.models import ModelEvent, ModelStatus
from models_registry.models import InferenceSettings, ModelEntry
from tests.factories import DeviceFactory, ModelStateFactory, UserFactory

pytestmark = pytest.mark.django_db

NOTE = "needs 2,000 MB; the zoo pool is 1,650 MB; it is not loaded"


@pytest.fixture
def staff(db) -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=True))
    return client


def row_text(page_html: str, name: str) -> str:
    """What a reader sees in one model's row of the models table."""
    found = re.search(rf'<tr data-model="{re.escape(name)}">(.*?)</tr>', page_html, re.S)
    assert found, name
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", found.group(1))))


def test_a_model_larger_than_the_pool_has_a_note_and_no_error(client):
    page = client.get("/").content.decode()

    for name in ("vehicle-damage-detection", "xclip-base"):
        row = row_text(page, name)
        assert NOTE in row
        assert "unloaded" in row and "error" not in row
    assert "zoo pool" not in row_text(page, "yolo11-face")


def test_with_zoo_cpu_fallback_the_note_says_it_runs_on_the_cpu(client):
    InferenceSettings.objects.filter(pk=1).update(zoo_cpu_fallback=True)

    row = row_text(client.get("/").content.decode(), "xclip-base")

    assert "needs 2,000 MB; the zoo pool is 1,650 MB; runs on the CPU (CPU fallback)" in row


def test_loading_it_is_refused_with_the_reason_and_logged(staff):
    DeviceFactory(name="sim:9")  # a live worker that would be asked

    response = staff.post("/dashboard/models/xclip-base/load", follow=True)

    shown = html.unescape(response.content.decode())
    assert (
        "xclip-base cannot be loaded: xclip-base needs 2000 MB, more than the whole zoo "
        "pool of 1650 MB on sim:9."
    ) in shown
    assert ModelEvent.objects.filter(model_name="xclip-base", kind="refuse").count() == 1
    assert "unloaded" in row_text(response.content.decode(), "xclip-base")


def test_a_task_model_on_the_cpu_says_so_in_its_task(client):
    device = DeviceFactory(name="sim:4")
    yolov8n = ModelEntry.objects.get(name="yolov8n")
    ModelStateFactory(model=yolov8n, device=device, status=ModelStatus.LOADED, on_cpu_fallback=True)

    page = re.sub(r"\s+", " ", html.unescape(client.get("/").content.decode()))

    assert "loaded: yolov8n on cpu (CPU fallback: it did not fit the GPU)" in re.sub(
        r"<[^>]+>", "", page
    )
