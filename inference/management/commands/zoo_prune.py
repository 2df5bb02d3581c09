"""``manage.py zoo_prune``: delete latency data and decision-log entries past their
retention now (workers also do it every ``ZOO_LATENCY_PRUNE_INTERVAL_S``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from inference import services


class Command(BaseCommand):
    help = "Delete latency samples, roll-ups and decision-log entries past their retention."

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
