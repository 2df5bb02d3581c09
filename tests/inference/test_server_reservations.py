"""A server-run option whose server runs on a worker's device reserves its memory there
while the server answers: the device's manager counts it (a load beside it sees only the
room left), /api/models/status shows it loaded with that memory; once the server stops
answering, both let it go."""

from __future__ import annotations

import pytest

from fleet.models import ModelState
from inference.engine.manager import ModelRefused
from inference.runtime.reservations import ServerReservations
from inference.runtime.zoo import ModelZoo
from models_registry.models import InferenceSettings, ModelEntry
from tests.fakes import simulated_zoo
from tests.provider_stand_in import provider_stand_in

pytestmark = pytest.mark.subprocess


@pytest.fixture
def zoo(django_db_serialized_rollback, transactional_db):
    """A worker's zoo on an 8 GB simulated device (a 6553 MB budget), no CPU fallback."""
    InferenceSettings.objects.update_or_create(pk=1, defaults={"cpu_fallback": False})
    zoo = simulated_zoo("sim:44")
    yield zoo
    zoo.close()


@pytest.fixture
def scout_server(zoo):
    """llama-4-scout's server answering on sim:44, its requirement 3000 MB."""
    with provider_stand_in() as running:
        ModelEntry.objects.filter(name="llama-4-scout").update(
            server_url=f"{running.url}/v1", server_device="sim:44", vram_mb=3000
        )
        yield running


def scout_state(zoo: ModelZoo) -> ModelState | None:
    return ModelState.objects.filter(model__name="llama-4-scout", device=zoo.device).first()


def test_a_server_that_answers_reserves_its_memory_on_its_device(zoo, scout_server, api, settings):
    settings.ZOO_STATUS_SNAPSHOTS = False

    held = ServerReservations(zoo, interval_s=0).refresh()

    assert held == {"llama-4-scout": 3000}
    assert zoo.manager.held_mb() == 3000
    assert scout_server.calls("/v1/models")  # the probe
    state = scout_state(zoo)
    assert (state.status, state.measured_mb) == ("loaded", 3000)
    status = api.get("/api/models/status").json()
    assert status["loaded_models"]["video_summarization"]["memory_usage_gb"] == pytest.approx(
        3000 / 1024, abs=0.01
    )
    assert status["total_vram_allocated_gb"] == pytest.approx(3000 / 1024, abs=0.01)


def test_a_load_beside_a_reserved_server_sees_only_the_room_left(zoo, scout_server):
    ModelEntry.objects.filter(name="yolov8l").update(vram_mb=4096)
    ServerReservations(zoo, interval_s=0).refresh()

    with pytest.raises(ModelRefused) as refused:
        zoo.manager.acquire("yolov8l")

    assert "no room for yolov8l (4096 MB)" in str(refused.value)


def test_a_server_that_stops_answering_gives_its_reservation_back(zoo, scout_server, api):
    reservations = ServerReservations(zoo, interval_s=0)
    reservations.refresh()
    ModelEntry.objects.filter(name="llama-4-scout").update(server_url="http://127.0.0.1:9/v1")

    assert reservations.refresh() == {}

    assert zoo.manager.held_mb() == 0
    assert scout_state(zoo).status == "unloaded"
    zoo.manager.acquire("yolov8l").release()  # the room is back


def test_a_server_on_another_device_reserves_nothing_here(zoo, scout_server):
    ModelEntry.objects.filter(name="llama-4-scout").update(server_device="cuda:3")

    assert ServerReservations(zoo, interval_s=0).refresh() == {}
    assert zoo.manager.held_mb() == 0 and scout_state(zoo) is None
