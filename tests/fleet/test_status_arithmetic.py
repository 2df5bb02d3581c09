"""Status figures over several devices say what they are: each one is either about one
device or true of the whole set of live devices, never a sum over every device set
against one device's capacity."""

from __future__ import annotations

import pytest

from fleet.models import ModelStatus
from models_registry.models import ModelEntry
from tests.factories import DeviceFactory, ModelStateFactory

pytestmark = pytest.mark.django_db


def held(device, *names: str) -> None:
    for name in names:
        ModelStateFactory(
            model=ModelEntry.objects.get(name=name), device=device,
            status=ModelStatus.LOADED, measured_mb=None,
        )  # fmt: skip


def test_memory_allocated_on_two_devices_is_set_against_both_devices_memory(api):
    first = DeviceFactory(kind="cuda", name="cuda:0", total_memory_mb=4096, budget_mb=3276)
    second = DeviceFactory(kind="cuda", name="cuda:1", total_memory_mb=4096, budget_mb=3276)
    held(first, "yolov8l")  # 4 GB estimate
    held(second, "yolov8n")  # 0.5 GB

    status = api.get("/api/models/status").json()

    assert status["total_vram_allocated_gb"] == pytest.approx(4.5, abs=0.01)
    assert status["total_vram_available_gb"] == 8.0
    assert status["total_vram_allocated_gb"] <= status["total_vram_available_gb"]


def test_with_one_device_the_totals_are_that_devices(api):
    device = DeviceFactory(kind="cuda", name="cuda:0", total_memory_mb=24576, budget_mb=19660)
    held(device, "yolov8n")

    status = api.get("/api/models/status").json()

    assert (status["total_vram_available_gb"], status["device"]) == (24.0, "cuda:0")
    assert status["total_vram_allocated_gb"] == pytest.approx(0.5, abs=0.01)


def test_the_zoo_pool_of_a_device_smaller_than_the_cap_is_its_whole_budget(api):
    DeviceFactory(name="sim:1", total_memory_mb=1024, budget_mb=819)

    registry = api.get("/api/system/models").json()
    compact = api.get("/api/system/model-zoo/status").json()

    assert registry["vram_budget_mb"] == compact["vram_budget_mb"] == 819
    assert registry["vram_available_mb"] == 819


def test_room_left_is_the_sum_of_each_devices_room_not_one_pool_shared(api):
    full = DeviceFactory(name="sim:1")
    DeviceFactory(name="sim:2")
    held(full, "yolo-world-s", "vitpose-small")  # 3,000 MB: over its 1,650 MB pool

    body = api.get("/api/system/models").json()

    assert (body["vram_budget_mb"], body["vram_used_mb"]) == (3300, 3000)
    # The first device's pool has nothing left; the second has all of its own.
    assert body["vram_available_mb"] == 1650
