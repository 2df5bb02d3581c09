"""URL routes: both APIs under /api/, schema and docs, admin, health, metrics."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from zoo_project import health, metrics

urlpatterns = [
    path("", include("dashboard.urls")),
    path("api/", include("api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its set-up script as a file: no inline script (the CSP).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics, name="prometheus-metrics"),
]

handler400 = "api.errors.bad_request"
handler403 = "api.errors.permission_denied"
handler404 = "api.errors.not_found"
handler500 = "api.errors.server_error"

if settings.ZOO_BENCH_BASELINE:  # bench.api_throughput's yardstick, never on by default
    from zoo_project.bench_baseline import BenchBaseline

    urlpatterns.append(path("api/bench/baseline", BenchBaseline.as_view()))
