"""``manage.py zoo_prune``: delete latency data, decision-log entries and finished work
(batches, inferences, loads) past their retention now (workers also do it every
``ZOO_LATENCY_PRUNE_INTERVAL_S``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from inference import services


class Command(BaseCommand):
    help = (
        "Delete latency samples, roll-ups, decision-log entries and finished batches, "
        "inferences and loads past their retention."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        deleted = services.retention_prune()
        self.stdout.write(
            f"Deleted {deleted['samples']} raw samples (older than "
            f"{settings.ZOO_LATENCY_RAW_RETENTION_DAYS} days) and {deleted['rollups']} "
            "roll-ups."
        )
        self.stdout.write(
            f"Deleted {deleted['events']} decision-log entries (older than "
            f"{settings.ZOO_EVENT_RETENTION_DAYS} days)."
        )
        self.stdout.write(
            f"Deleted {deleted['batches']} finished batches (older than "
            f"{settings.ZOO_BATCH_RETENTION_DAYS} days), {deleted['inferences']} finished "
            f"inferences and {deleted['loads']} finished loads (older than "
            f"{settings.ZOO_INFERENCE_RETENTION_DAYS} days)."
        )
