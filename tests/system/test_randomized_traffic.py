"""Randomized traffic against real workers: loads, unloads, selections and enrichment
batches in a seeded random order for a bounded time, on two worker processes (each owns
its simulated device; a third process asking for a device already served is refused, so
no two processes ever share one budget). Afterwards: no budget was ever exceeded by
the decision log, nothing is stuck in ``loading``, every batch is answered."""

from __future__ import annotations

import random
import subprocess
import sys
import time

import pytest

from fleet.models import Device, ModelEvent, ModelState
from inference.models import EnrichmentBatch
from models_registry.models import InferenceSettings
from tests.servers import ROOT, child_env, wait_for, worker_process
from tests.traffic import peak_held, submit

pytestmark = [pytest.mark.subprocess, pytest.mark.timeout(420)]

TRAFFIC_S = 25  # about 30 actions, paced like operators and a camera system
ZOO = ["yolo11-face", "pet-classifier", "violence-detection", "weather-classification",
       "depth-anything-v2-small", "paddleocr", "vitpose-small"]  # fmt: skip
DETECTORS = ["yolov8n", "yolov8s", "yolov8m"]
SELECT = "/api/models/select?task_type=object_detection"
LABELS = [["person"], ["car"], ["dog"], ["person", "car"], []]


def detections(labels: list[str]) -> list[dict]:
    return [
        {"label": label, "bbox": [10 + 60 * i, 10, 60 + 60 * i, 120], "confidence": 0.9}
        for i, label in enumerate(labels)
    ]


def test_randomized_traffic_keeps_every_promise(real_models, staff_api, settings):
    settings.ZOO_INFER_WAIT_S = 1  # load/unload answer 202 at once rather than wait
    settings.ZOO_UNLOAD_WAIT_S = 1
    pool = InferenceSettings.load().zoo_vram_budget_mb
    rng = random.Random(20261123)
    answers: list[tuple[str, int]] = []
    batches: list[str] = []
    with worker_process("sim:93"), worker_process("sim:94"):
        # A third process for a device already served is refused at once.
        third = subprocess.run(
            [sys.executable, "manage.py", "zoo_worker", "--device", "sim:93"],
            cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert third.returncode != 0 and "is served by" in third.stderr + third.stdout

        deadline = time.monotonic() + TRAFFIC_S
        while time.monotonic() < deadline:
            time.sleep(rng.uniform(0.2, 1.2))
            action = rng.choice(["load", "unload", "select", "enrich", "enrich"])
            if action == "enrich":
                batches.append(submit(staff_api, detections(rng.choice(LABELS))))
                continue
            if action == "select":
                url = f"{SELECT}&model_name={rng.choice(DETECTORS)}"
            else:
                url = f"/api/system/models/{rng.choice(ZOO)}/{action}"
            answers.append((url, staff_api.post(url).status_code))

        answered = EnrichmentBatch.objects.filter(pk__in=batches, status__in=["done", "failed"])
        wait_for(lambda: answered.count() == len(batches), timeout=180)
        wait_for(lambda: not ModelState.objects.filter(status="loading").exists(), timeout=60)

    assert batches and answers
    # A selection waits for its load: one still loading when the wait ends is a 503
    # (the load goes on, and is over before the checks below).
    assert all(
        code in (200, 202, 409) or (url.startswith(SELECT) and code == 503) for url, code in answers
    ), answers
    failed = EnrichmentBatch.objects.filter(pk__in=batches, status="failed")
    assert not failed.filter(error="").exists()  # a failure always says why
    assert failed.count() == 0, list(failed.values_list("error", flat=True))
    for device in Device.objects.filter(name__in=["sim:93", "sim:94"]):
        events = ModelEvent.objects.filter(device=device).order_by("created_at", "id")
        assert peak_held(events.filter(model__in_zoo=True)) <= pool, f"{device}: zoo pool"
        assert peak_held(events) <= device.budget_mb, f"{device}: device budget"
