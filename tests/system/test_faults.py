"""Faults, for real: workers killed with SIGKILL mid-load and mid-batch, a worker that
stops heartbeating, two workers on two devices. Nothing is lost, nothing stays
``loading``, no lease stays held, no budget is passed."""

from __future__ import annotations

import os
import signal

import pytest

from fleet.models import Device, ModelEvent, ModelState
from inference.models import EnrichmentBatch, EnrichmentResult
from models_registry.models import InferenceSettings
from tests.servers import stop_process_group, wait_for, worker_process
from tests.traffic import assert_complete, peak_held, submit

pytestmark = [pytest.mark.subprocess]

# Slow simulated loads (1,500 MB take 3.75 s), so a test can kill a worker while it loads.
SLOW = {"ZOO_SIM_LOAD_MB_PER_S": "400"}


def mid_load(device: str):
    return (
        ModelState.objects.filter(
            device__name=device,
            status="loading",
            model__name__in=["vitpose-small", "segformer-b2-clothes"],
        ).exists()
        and EnrichmentResult.objects.exists()
    )


def test_a_worker_killed_mid_load_and_mid_batch_is_restarted_and_finishes_the_batch(
    real_models, staff_api
):
    with worker_process("sim:61", **SLOW) as first:
        batch_id = submit(staff_api)
        wait_for(lambda: mid_load("sim:61"), timeout=120)
        stop_process_group(first, kill=True)
    assert EnrichmentBatch.objects.get(pk=batch_id).status == "running"

    with worker_process("sim:61", **SLOW):
        wait_for(lambda: EnrichmentBatch.objects.get(pk=batch_id).status == "done", 180)
        stuck = ModelState.objects.filter(device__name="sim:61", status="loading")
        leased = ModelState.objects.filter(device__name="sim:61", load_count__gt=0)
        wait_for(lambda: not stuck.exists() and not leased.exists(), 10)

    assert_complete(batch_id)
    assert EnrichmentBatch.objects.get(pk=batch_id).attempts == 2


def test_a_second_worker_finishes_the_batch_of_one_killed_mid_batch(
    real_models, staff_api, api, settings
):
    settings.ZOO_WORKER_HEARTBEAT_TIMEOUT_S = 4
    fast_timeout = {**SLOW, "ZOO_WORKER_HEARTBEAT_TIMEOUT_S": "4"}
    with worker_process("sim:62", **fast_timeout) as doomed:
        batch_id = submit(staff_api)  # the only live worker: it gets the batch
        wait_for(lambda: mid_load("sim:62"), timeout=120)
        with worker_process("sim:63", **fast_timeout):
            stop_process_group(doomed, kill=True)
            wait_for(lambda: EnrichmentBatch.objects.get(pk=batch_id).status == "done", 180)
            shown = api.get("/api/system/models").json()["models"]

    assert_complete(batch_id)
    batch = EnrichmentBatch.objects.select_related("device").get(pk=batch_id)
    assert batch.device.name == "sim:63"
    assert all(model["status"] != "loading" for model in shown)


def test_a_worker_that_stops_heartbeating_stops_showing_its_models(
    real_models, staff_api, api, settings
):
    settings.ZOO_WORKER_HEARTBEAT_TIMEOUT_S = 3
    with worker_process("sim:64") as worker:
        assert staff_api.post("/api/system/models/yolo11-face/load").json()["status"] == "loaded"
        os.killpg(worker.pid, signal.SIGSTOP)  # alive, but silent
        try:
            wait_for(
                lambda: api.get("/api/system/models/yolo11-face").json()["status"] == "unloaded",
                timeout=10,
            )
            body = api.get("/api/system/models").json()
        finally:
            os.killpg(worker.pid, signal.SIGCONT)

    assert body["vram_used_mb"] == 0


def test_two_workers_on_two_devices_never_exceed_either_budget(real_models, staff_api):
    pool = InferenceSettings.load().zoo_vram_budget_mb
    with worker_process("sim:65"), worker_process("sim:66"):
        batches = [submit(staff_api) for _ in range(4)]
        wait_for(
            lambda: EnrichmentBatch.objects.filter(pk__in=batches, status="done").count() == 4,
            timeout=240,
        )

    for batch_id in batches:
        assert_complete(batch_id)
    for device in Device.objects.filter(name__in=["sim:65", "sim:66"]):
        events = ModelEvent.objects.filter(device=device).order_by("created_at", "id")
        assert peak_held(events.filter(model__in_zoo=True)) <= pool, f"{device}: zoo pool"
        assert peak_held(events) <= device.budget_mb, f"{device}: device budget"
