"""``model_zoo``: the document's async usage and its synchronous twin."""

from __future__ import annotations

import asyncio

import pytest

from fleet.models import ModelState
from inference.engine.manager import ModelLoadFailed
from tests.fakes import missing_weights, simulated_zoo

pytestmark = pytest.mark.subprocess


@pytest.fixture
def zoo(django_db_serialized_rollback, transactional_db):
    instance = simulated_zoo("sim:3")
    yield instance
    instance.close()


def test_the_documents_async_usage_works_as_written(zoo):
    async def enrich():
        async with zoo.load("yolo11-license-plate") as model:
            results = await model.predict("image")
            leases = zoo.manager.snapshot()["yolo11-license-plate"].leases
        return results, leases

    results, leases = asyncio.run(enrich())

    assert results["model"] == "yolo11-license-plate"
    assert leases == 1
    assert zoo.manager.snapshot()["yolo11-license-plate"].leases == 0


def test_the_synchronous_twin_releases_on_exceptions(zoo):
    with pytest.raises(KeyError), zoo.load_sync("yolo11-face") as model:
        assert model.predict("x")["model"] == "yolo11-face"
        raise KeyError

    assert zoo.manager.snapshot()["yolo11-face"].leases == 0


def test_an_async_failed_load_raises_and_holds_nothing(zoo):
    zoo.loader.failures["pet-classifier"] = missing_weights("pet-classifier", "/p")

    async def use():
        async with zoo.load("pet-classifier"):
            pass

    with pytest.raises(ModelLoadFailed):
        asyncio.run(use())
    assert zoo.manager.snapshot() == {}


def test_a_cancelled_wait_for_a_load_releases_its_lease_when_the_load_lands(zoo):
    import threading

    loader = zoo.loader
    loader.gate = threading.Event()

    async def cancel_while_loading():
        task = asyncio.ensure_future(_enter(zoo, "vitpose-small"))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        loader.gate.set()
        await asyncio.sleep(0.5)

    asyncio.run(cancel_while_loading())

    assert zoo.manager.snapshot()["vitpose-small"].leases == 0


async def _enter(zoo, name):
    async with zoo.load(name):
        await asyncio.sleep(10)


def test_the_device_is_registered_and_states_name_it(zoo):
    with zoo.load_sync("yolo11-face"):
        pass
    zoo.close()

    state = ModelState.objects.get(model__name="yolo11-face")
    assert state.device.name == "sim:3"
    assert state.device.total_memory_mb == 8192
    assert state.device.budget_mb == int(8192 * 0.8)
