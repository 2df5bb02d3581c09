"""``/metrics``: django-prometheus's series (requests, database, ...) and model_zoo's.

The model_zoo series are read from the database at scrape time. Why from the database
and not from in-process counters: inference and loads run in worker processes, possibly
on other machines, and the web server runs several processes; a scrape reaches one web
process, which never saw any of it. prometheus client's multiprocess mode only joins
processes that share one directory on one host and cannot represent gauges of memory
held elsewhere. The workers already write every sample, load, eviction and failure to
the database in the same transaction as their running totals (latency's
``LatencyTotal``, fleet's ``EventTally``), so any web process reads the same, correct,
monotonic numbers. A scrape costs five small aggregate queries over tables whose size
grows with models and devices, not with traffic.

The collector lives here, at the top, because it joins two sibling apps that may not
import each other: latency (the histograms) and fleet (event counters, device gauges).
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Iterator

from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from fleet.models import EventKind
from fleet.selectors import DeviceUsage, device_usage, event_tallies
from latency.models import SampleKind
from latency.selectors import latency_totals
from latency.storage import HISTOGRAM_BUCKETS

MB = 1024 * 1024


def _le(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(bound)


class ModelZooCollector(Collector):
    """Yields the model_zoo series from the database on every scrape."""

    def collect(self) -> Iterator[Metric]:
        yield from _histograms(latency_totals())
        yield from _event_counters(event_tallies())
        yield from _device_gauges(device_usage())

    def describe(self) -> Iterator[Metric]:
        return iter(())  # no query at registration time


def _histograms(totals: list[tuple[str, int, int, int, float]]) -> Iterator[Metric]:
    families = {
        SampleKind.INFERENCE: HistogramMetricFamily(
            "model_zoo_inference_seconds",
            "Duration of each model inference run by a worker (predict only; cold calls included).",
            labels=["model"],
        ),
        SampleKind.LOAD: HistogramMetricFamily(
            "model_zoo_load_seconds",
            "Duration of each successful model load.",
            labels=["model"],
        ),
    }
    loads = CounterMetricFamily(
        "model_zoo_loads", "Successful model loads, per model.", labels=["model"]
    )
    by_series: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0] * len(HISTOGRAM_BUCKETS))
    sums: dict[tuple[int, str], float] = defaultdict(float)
    for model, kind, index, count, total_s in totals:
        by_series[(kind, model)][index] += count
        sums[(kind, model)] += total_s
    for (kind, model), counts in sorted(by_series.items()):
        cumulative, running = [], 0
        for bound, count in zip(HISTOGRAM_BUCKETS, counts, strict=True):
            running += count
            cumulative.append((_le(bound), running))
        families[SampleKind(kind)].add_metric([model], cumulative, sums[(kind, model)])
        if kind == SampleKind.LOAD:
            loads.add_metric([model], running)
    yield from families.values()
    yield loads


def _event_counters(tallies: list[tuple[str, str, str, int]]) -> Iterator[Metric]:
    evictions = CounterMetricFamily(
        "model_zoo_evictions",
        "Models taken out of memory, by reason: make_room (evicted for another model), "
        "after_batch, keep_alive, registry (disabled or deleted), request, shutdown, fault.",
        labels=["model", "reason"],
    )
    failures = CounterMetricFamily(
        "model_zoo_load_failures",
        "Loads that did not happen, by reason: refused (too large for the budget), "
        "load_error, out_of_memory; and inference_fault (a loaded model failed).",
        labels=["model", "reason"],
    )
    for model, kind, cause, count in tallies:
        if kind in (EventKind.UNLOAD, EventKind.EVICT):
            evictions.add_metric([model, cause or "unknown"], count)
        elif kind in (EventKind.FAIL, EventKind.REFUSE):
            failures.add_metric([model, cause or "unknown"], count)
    yield evictions
    yield failures


# Per live device: (series, help, DeviceUsage field, scale to the series' unit). Memory
# is counted as admission counts it: the larger of estimate and measurement per model,
# nothing for a model on CPU fallback.
_DEVICE_SERIES = (
    (
        "model_zoo_vram_used_bytes",
        "Memory held by the enrichment zoo's models on each live device, as the Model "
        "Zoo document means it (what the zoo API's vram_used_mb sums).",
        "zoo_used_mb",
        MB,
    ),
    (
        "model_zoo_pool_budget_bytes",
        "The zoo's pool on each live device (its cap, or the device budget if smaller).",
        "zoo_pool_mb",
        MB,
    ),
    (
        "model_zoo_device_vram_used_bytes",
        "Memory held by every model resident on each live device: zoo and task models.",
        "used_mb",
        MB,
    ),
    (
        "model_zoo_vram_budget_bytes",
        "Memory budget of each live device (total x offload threshold, or configured).",
        "budget_mb",
        MB,
    ),
    ("model_zoo_models_loaded", "Models loaded on each live device.", "loaded", 1),
)


def _device_gauges(devices: list[DeviceUsage]) -> Iterator[Metric]:
    for series, text, field, scale in _DEVICE_SERIES:
        gauge = GaugeMetricFamily(series, text, labels=["device"])
        for device in devices:
            gauge.add_metric([device.device], getattr(device, field) * scale)
        yield gauge


MODEL_ZOO = CollectorRegistry(auto_describe=False)
MODEL_ZOO.register(ModelZooCollector())


def metrics(request: HttpRequest) -> HttpResponse:
    """Open to the scraper like ``/healthz``: counts and sizes, no model data."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # several web processes: sum them
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    body = generate_latest(registry) + generate_latest(MODEL_ZOO)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
