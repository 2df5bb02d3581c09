"""End to end, for real: the web API, the broker, and a real worker process loading real
checkpoints on its (simulated) device, all against the test database."""

from __future__ import annotations

import pytest

from fleet.models import ModelEvent
from models_registry.models import InferenceSettings
from tests.servers import wait_for, worker_process
from tests.traffic import batch_document

pytestmark = [pytest.mark.subprocess]


def finished(api, url):
    body = api.get(url).json()
    return body if body["status"] in ("done", "failed") else None


def test_a_batch_runs_on_a_real_worker_and_a_second_one_loads_nothing_new(real_models, staff_api):
    # Room for all ten models the batch triggers, so lru keeps them for the next batch.
    InferenceSettings.objects.filter(pk=1).update(zoo_vram_budget_mb=8000)
    with worker_process("sim:31", total_memory_mb=16384):
        first = staff_api.post("/api/enrichment/batches", batch_document(), format="json")
        assert first.status_code == 202
        done = wait_for(lambda: finished(staff_api, first.json()["url"]))  # a batch is private

        zoo_loads = ModelEvent.objects.filter(kind="load", model__in_zoo=True)  # not warmup's
        loads_after_first = zoo_loads.count()
        second = staff_api.post("/api/enrichment/batches", batch_document(), format="json")
        wait_for(lambda: finished(staff_api, second.json()["url"]))
        loads_after_second = zoo_loads.count()

    assert done["status"] == "done"
    person, car, dog = done["frames"][0]["detections"]
    assert set(person["results"]) == {
        "yolo11-face", "vitpose-small", "violence-detection", "segformer-b2-clothes",
    }  # fmt: skip
    assert "people" in person["results"]["vitpose-small"]
    assert "classes" in person["results"]["segformer-b2-clothes"]
    assert "plates" in car["results"]["paddleocr"]
    assert "label" in dog["results"]["pet-classifier"]
    assert {"min", "max", "mean"} <= set(done["frames"][0]["results"]["depth-anything-v2-small"])
    assert all("error" not in r for d in (person, car, dog) for r in d["results"].values())
    loaded = list(zoo_loads.values_list("model_name", flat=True))
    assert len(loaded[:loads_after_first]) == len(set(loaded[:loads_after_first])) == 10
    assert loads_after_second == loads_after_first
