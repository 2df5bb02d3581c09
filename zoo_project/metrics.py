"""``/metrics``: django-prometheus's series (requests, database, ...) and model_zoo's."""

from __future__ import annotations

import os

from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)

from latency.metrics import ModelZooCollector

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
