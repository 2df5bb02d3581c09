from __future__ import annotations

from django.urls import path

from inference.api import views

urlpatterns = [
    path("system/models/<str:model_name>/load", views.ModelLoadView.as_view(), name="model-load"),
    path(
        "system/models/<str:model_name>/unload",
        views.ModelUnloadView.as_view(),
        name="model-unload",
    ),
    path("models/infer", views.InferView.as_view(), name="models-infer"),
    path(
        "models/infer/<uuid:request_id>",
        views.InferDetailView.as_view(),
        name="models-infer-detail",
    ),
    path("enrichment/batches", views.BatchListView.as_view(), name="enrichment-batches"),
    path(
        "enrichment/batches/<uuid:batch_id>",
        views.BatchDetailView.as_view(),
        name="enrichment-batch-detail",
    ),
]
