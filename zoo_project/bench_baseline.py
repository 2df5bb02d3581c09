"""The yardstick of ``bench.api_throughput``: the least a DRF endpoint can do, served
through the same middleware, authentication, permissions and renderer as the real
ones. Routed only when ``ZOO_BENCH_BASELINE`` is set."""

from __future__ import annotations

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class BenchBaseline(APIView):
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})
