"""End to end, for real: a clip's frames through the API, the broker and a real worker
process, which calls llama-4-scout's server (a local stand-in) with its URL from the
environment, records the call's latency, and reserves the server's memory on its device
while the server answers."""

from __future__ import annotations

import pytest

from latency.models import LatencySample
from models_registry.models import ModelEntry
from tests.api.test_video_summarization_api import frames_b64
from tests.provider_stand_in import provider_stand_in
from tests.servers import wait_for, worker_process

pytestmark = [pytest.mark.subprocess]

URL = "/api/models/infer?task_type=video_summarization"


def scout_loaded(api):
    return api.get("/api/models/status").json()["loaded_models"].get("video_summarization")


def test_a_real_worker_summarizes_three_frames_and_reserves_the_servers_memory(
    django_db_serialized_rollback, transactional_db, staff_api, settings
):
    settings.ZOO_STATUS_SNAPSHOTS = False
    ModelEntry.objects.filter(name="llama-4-scout").update(server_device="sim:45", vram_mb=2048)
    with provider_stand_in() as server:
        url = f"{server.url}/v1"
        settings.ZOO_SERVER_URLS = {"LLAMA_4_SCOUT": url}  # this (web) process
        with worker_process(
            "sim:45", ZOO_SERVER_URL_LLAMA_4_SCOUT=url, ZOO_SERVER_PROBE_INTERVAL_S="1"
        ):
            response = staff_api.post(URL, {"frames": frames_b64(3), "prompt": "Who?"}, "json")
            reserved = wait_for(lambda: scout_loaded(staff_api), 30)
            sample = wait_for(
                lambda: LatencySample.objects.filter(model__name="llama-4-scout").first(), 30
            )
        # With the worker gone, nothing holds the reservation any more.
        after = scout_loaded(staff_api)

    assert response.status_code == 200, response.json()
    assert response.json()["result"]["summary"] == server.summary
    assert response.json()["device"] == "sim:45"
    (call,) = server.calls("/v1/chat/completions")
    assert len(call.body["messages"][0]["content"]) == 4  # the prompt and three frames
    assert reserved["memory_usage_gb"] == 2.0 and reserved["device"] == "sim:45"
    assert sample.duration_ms > 0 and sample.device.name == "sim:45"
    assert after is None
