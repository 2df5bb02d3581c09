"""URL routes: both APIs under /api/, schema and docs, admin, health, metrics."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from zoo_project import dashboard, health, metrics

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("dashboard/select", dashboard.select, name="dashboard-select"),
    path(
        "dashboard/models/<str:name>/<str:action>",
        dashboard.model_action,
        name="dashboard-model-action",
    ),
    path("api/", include("models_registry.api.urls")),
    path("api/", include("inference.api.urls")),
    path("api/", include("latency.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics, name="prometheus-metrics"),
]

handler400 = "models_registry.api.errors.bad_request"
handler403 = "models_registry.api.errors.permission_denied"
handler404 = "models_registry.api.errors.not_found"
handler500 = "models_registry.api.errors.server_error"

if settings.ZOO_BENCH_BASELINE:  # bench.api_throughput's yardstick, never on by default
    from zoo_project.bench_baseline import BenchBaseline

    urlpatterns.append(path("api/bench/baseline", BenchBaseline.as_view()))
