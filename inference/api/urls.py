from __future__ import annotations

from django.urls import path

from inference.api import views

urlpatterns = [
    path("enrichment/batches", views.BatchListView.as_view(), name="enrichment-batches"),
    path(
        "enrichment/batches/<uuid:batch_id>",
        views.BatchDetailView.as_view(),
        name="enrichment-batch-detail",
    ),
]
