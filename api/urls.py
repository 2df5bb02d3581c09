"""Every API route, grouped by the document that publishes it (the README's URL table)."""

from __future__ import annotations

from django.urls import path

from api import enrichment, management, zoo

urlpatterns = [
    # The Model Zoo API (home-security document), plus staff load/unload.
    path("system/models", zoo.ZooRegistryView.as_view(), name="zoo-models"),
    path("system/models/<str:model_name>", zoo.ZooModelDetailView.as_view(), name="zoo-model-detail"),
    path("system/models/<str:model_name>/load", zoo.ModelLoadView.as_view(), name="model-load"),
    path("system/models/<str:model_name>/unload", zoo.ModelUnloadView.as_view(), name="model-unload"),
    path("system/model-zoo/status", zoo.ZooStatusView.as_view(), name="zoo-status"),
    path("system/model-zoo/events", zoo.ZooEventsView.as_view(), name="zoo-events"),
    path("system/model-zoo/latency/history", zoo.LatencyHistoryView.as_view(), name="zoo-latency-history"),
    # The Model Management API (annotation-tool document), plus task inference.
    path("models/config", management.ConfigView.as_view(), name="models-config"),
    path("models/status", management.StatusView.as_view(), name="models-status"),
    path("models/select", management.SelectView.as_view(), name="models-select"),
    path("models/validate", management.ValidateView.as_view(), name="models-validate"),
    path("models/infer", management.InferView.as_view(), name="models-infer"),
    path("models/infer/<uuid:request_id>", management.InferDetailView.as_view(), name="models-infer-detail"),
    # Enrichment batches.
    path("enrichment/batches", enrichment.BatchListView.as_view(), name="enrichment-batches"),
    path("enrichment/batches/<uuid:batch_id>", enrichment.BatchDetailView.as_view(), name="enrichment-batch-detail"),
]  # fmt: skip
