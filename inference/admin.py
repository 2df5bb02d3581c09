"""Enrichment batches, inference requests and work items in the admin, read-only: the
services and workers write them."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from inference.models import EnrichmentBatch, EnrichmentResult, InferenceRequest, WorkItem


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


class ItemInline(admin.TabularInline):
    model = WorkItem
    extra = 0
    can_delete = False
    fields = ("model_name", "stage", "status", "device", "worker", "started_at", "finished_at",
              "error")  # fmt: skip
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(EnrichmentBatch)
class EnrichmentBatchAdmin(ReadOnlyAdmin):
    list_display = ["id", "status", "created_at", "finished_at", "device", "attempts", "error"]
    list_filter = ["status", "device"]
    date_hierarchy = "created_at"
    inlines = [ItemInline, ResultInline]


@admin.register(WorkItem)
class WorkItemAdmin(ReadOnlyAdmin):
    """What waits on each device, and what each worker is serving."""

    list_display = ["id", "kind", "model_name", "status", "priority", "device", "created_at",
                    "started_at", "finished_at"]  # fmt: skip
    list_filter = ["status", "kind", "device"]
    search_fields = ["model_name"]
    exclude = ["targets"]


@admin.register(InferenceRequest)
class InferenceRequestAdmin(ReadOnlyAdmin):
    list_display = ["id", "task_type", "model_name", "status", "created_at", "device", "error"]
    list_filter = ["status", "task_type"]
    exclude = ["image"]
