from __future__ import annotations

from django.urls import path

from latency.api import views

urlpatterns = [
    path(
        "system/model-zoo/latency/history",
        views.LatencyHistoryView.as_view(),
        name="zoo-latency-history",
    ),
]
