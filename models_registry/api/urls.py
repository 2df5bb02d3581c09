from __future__ import annotations

from django.urls import path

from models_registry.api import management_views, zoo_views

urlpatterns = [
    path("system/models", zoo_views.ZooRegistryView.as_view(), name="zoo-models"),
    path(
        "system/models/<str:model_name>",
        zoo_views.ZooModelDetailView.as_view(),
        name="zoo-model-detail",
    ),
    path("system/model-zoo/status", zoo_views.ZooStatusView.as_view(), name="zoo-status"),
    path("system/model-zoo/events", zoo_views.ZooEventsView.as_view(), name="zoo-events"),
    path("models/config", management_views.ConfigView.as_view(), name="models-config"),
    path("models/status", management_views.StatusView.as_view(), name="models-status"),
    path("models/select", management_views.SelectView.as_view(), name="models-select"),
    path("models/validate", management_views.ValidateView.as_view(), name="models-validate"),
]
