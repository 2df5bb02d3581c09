"""Enrichment batches and inference requests in the admin, read-only: workers write them."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from inference.models import EnrichmentBatch, EnrichmentResult, InferenceRequest


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class ResultInline(admin.TabularInline):
    model = EnrichmentResult
    extra = 0
    can_delete = False
    fields = ("frame", "detection", "model_name", "error", "duration_s", "output")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(EnrichmentBatch)
class EnrichmentBatchAdmin(ReadOnlyAdmin):
    list_display = ["id", "status", "created_at", "finished_at", "device", "attempts", "error"]
    list_filter = ["status", "device"]
    date_hierarchy = "created_at"
    inlines = [ResultInline]


@admin.register(InferenceRequest)
class InferenceRequestAdmin(ReadOnlyAdmin):
    list_display = ["id", "task_type", "model_name", "status", "created_at", "device", "error"]
    list_filter = ["status", "task_type"]
    exclude = ["image"]
