"""One device, one owner: two processes never both think they own a device's budget."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from fleet import services as fleet_services
from fleet.models import Device, ModelState
from inference.runtime.zoo import DeviceBusy, ModelZoo
from models_registry.models import ModelEntry
from tests.factories import DeviceFactory, ModelStateFactory

pytestmark = [pytest.mark.subprocess, pytest.mark.django_db]


@pytest.fixture
def zoos(django_db_serialized_rollback, transactional_db):
    made: list[ModelZoo] = []

    def make() -> ModelZoo:
        zoo = ModelZoo()
        made.append(zoo)
        return zoo

    yield make
    for zoo in made:
        zoo.close()


def test_a_second_process_cannot_claim_a_device_a_live_one_serves(zoos):
    first = zoos()
    first.configure("sim:11", total_memory_mb=4096)

    with pytest.raises(DeviceBusy, match=r"sim:11 on .* is served by"):
        zoos().configure("sim:11", total_memory_mb=4096)


def test_a_dead_owner_on_this_host_is_taken_over_at_once_and_its_models_reset(zoos):
    import socket

    device = DeviceFactory(
        host=socket.gethostname(), name="sim:12", worker=f"worker:999999@{socket.gethostname()}"
    )
    face = ModelEntry.objects.get(name="yolo11-face")
    ModelStateFactory(model=face, device=device, status="loaded", load_count=2)

    zoo = zoos()
    zoo.configure("sim:12", total_memory_mb=4096)

    state = ModelState.objects.get(device=device, model=face)
    assert (state.status, state.load_count) == ("unloaded", 0)
    assert Device.objects.get(pk=device.pk).worker == zoo.worker


def test_an_owner_on_another_host_is_refused_until_its_heartbeat_goes_stale():
    fields = dict(
        host="gpu-a", name="cuda:0", kind="cuda", total_memory_mb=24576, budget_mb=19660,
        stale_after_s=30,
    )  # fmt: skip
    assert fleet_services.device_claim(worker="w1@gpu-b", **fields) is not None

    assert fleet_services.device_claim(worker="w2@gpu-c", **fields) is None
    Device.objects.filter(name="cuda:0").update(heartbeat_at=timezone.now() - timedelta(seconds=31))
    assert fleet_services.device_claim(worker="w2@gpu-c", **fields) is not None
    assert Device.objects.get(name="cuda:0").worker == "w2@gpu-c"


def test_a_worker_that_lost_its_device_cannot_heartbeat_it():
    device = DeviceFactory(worker="new-owner")

    assert fleet_services.device_heartbeat(device_id=device.pk, worker="old-owner") is False
    assert fleet_services.device_heartbeat(device_id=device.pk, worker="new-owner") is True


def test_a_clean_shutdown_lets_the_device_go_and_its_models_stop_counting(zoos, api):
    from tests.fakes import FakeLoader

    zoo = zoos()
    zoo.configure("sim:13", total_memory_mb=8192, loader=FakeLoader())
    with zoo.load_sync("yolo11-face"):
        pass
    zoo.manager._sink.flush()
    assert api.get("/api/system/models/yolo11-face").json()["status"] == "loaded"

    zoo.close()

    assert Device.objects.get(name="sim:13").heartbeat_at is None
    assert api.get("/api/system/models/yolo11-face").json()["status"] == "unloaded"
