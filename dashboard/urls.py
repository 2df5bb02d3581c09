from __future__ import annotations

from django.urls import path

from dashboard import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("dashboard/select", views.select, name="dashboard-select"),
    path("dashboard/models/<str:name>/<str:action>", views.model_action, name="dashboard-model-action"),
]  # fmt: skip
