"""For real: a worker process runs inferences, a two-process web server answers the
history and /metrics, and a real Prometheus server scrapes it; the numbers agree."""

from __future__ import annotations

import pytest

from fleet.models import Device, ModelState
from fleet.selectors import counted_mb
from latency.models import LatencySample, SampleKind
from models_registry.models import InferenceSettings, Task
from tests.prometheus import PROMETHEUS, prometheus_binary, prometheus_server
from tests.servers import http, needs_program, wait_for, web_server, worker_process
from tests.traffic import image_b64

pytestmark = [
    pytest.mark.subprocess,
    needs_program(prometheus_binary() is not None, f"prometheus at {PROMETHEUS}"),
]

INFERENCES = 3
HISTORY_CALLS = 6


def value(result: list[dict]) -> float | None:
    return float(result[0]["value"][1]) if len(result) == 1 else None


def test_worker_inferences_reach_the_history_and_a_real_prometheus(real_models, staff_api):
    InferenceSettings.objects.filter(pk=1).update(warmup_on_startup=False)
    model = Task.objects.get(name="object_detection").selected
    assert model is not None
    with (
        worker_process("sim:53", total_memory_mb=8192),
        web_server(workers=2) as base,
        prometheus_server([base.removeprefix("http://")]) as prometheus,
    ):
        for _ in range(INFERENCES):
            response = staff_api.post(
                "/api/models/infer?task_type=object_detection",
                {"image": image_b64(320, 240, seed=5)},
                format="json",
            )
            assert response.status_code == 200, response.json()

        # The history, read by the web server's processes, holds the worker's samples.
        url = f"{base}/api/system/model-zoo/latency/history?model={model.name}&since=10"

        calls = 0

        def counted() -> int:
            nonlocal calls
            status, body = http("GET", url)
            calls += 1
            assert status == 200
            return sum(s["stats"]["sample_count"] for s in body["snapshots"] if s["stats"])

        wait_for(lambda: counted() == INFERENCES, timeout=30)
        while calls < HISTORY_CALLS:
            counted()
        device = Device.objects.get(name="sim:53")
        state = ModelState.objects.get(device=device, model=model)

        label = f'model="{model.name}"'
        for expr, expected in [
            (f"model_zoo_inference_seconds_count{{{label}}}", INFERENCES),
            (f'model_zoo_inference_seconds_bucket{{{label},le="+Inf"}}', INFERENCES),
            (f"model_zoo_loads_total{{{label}}}", 1),
            (f"model_zoo_load_seconds_count{{{label}}}", 1),
            (f'model_zoo_models_loaded{{device="{device}"}}', 1),
            (
                f'model_zoo_device_vram_used_bytes{{device="{device}"}}',
                counted_mb(estimate_mb=model.vram_mb, measured_mb=state.measured_mb, on_cpu=False)
                * 1024
                * 1024,
            ),
            # the task's detector is no zoo model: the zoo's series leaves it out
            (f'model_zoo_vram_used_bytes{{device="{device}"}}', 0),
            (f'model_zoo_vram_budget_bytes{{device="{device}"}}', device.budget_mb * 1024 * 1024),
            # django-prometheus, summed over both web processes whichever answered.
            (
                "sum(django_http_responses_total_by_status_view_method_total"
                '{view="zoo-latency-history",status="200"})',
                calls,  # however many polls the wait took
            ),
        ]:
            result = prometheus.wait_for(expr, lambda r, e=expected: value(r) == e, timeout=60)
            assert value(result) == expected, expr
        assert prometheus.targets_healthy()

    # Each inference was measured once, and only the first paid for the load.
    inference = LatencySample.objects.filter(model=model, kind=SampleKind.INFERENCE)
    assert list(inference.order_by("recorded_at").values_list("cold", flat=True)) == [
        True, False, False,
    ]  # fmt: skip
    assert set(inference.values_list("device_id", flat=True)) == {device.pk}
    assert LatencySample.objects.filter(model=model, kind=SampleKind.LOAD).count() == 1
