"""``python manage.py zoo_worker --device cpu|cuda:N|sim:N``: a GPU worker for one device.

A thin wrapper over Celery's own worker: it consumes that device's queue with
concurrency 1 and prefetch 1 (tasks are acknowledged late and given back to the queue
if the worker dies). The pool child claims the device, heartbeats and holds the models;
the parent process never touches the device.
"""

from __future__ import annotations

import socket
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections


class Command(BaseCommand):
    help = "Run a Celery worker bound to one device (cpu, cuda:N or sim:N)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--device", default="", help="Device to serve (default: the probe's)")
        parser.add_argument(
            "--total-memory-mb",
            type=int,
            default=0,
            help="The device's memory (required meaning for sim:N; default 24576 there)",
        )
        parser.add_argument("--loglevel", default="INFO")

    def handle(self, *args: Any, **options: Any) -> None:
        from celery import current_app as app  # the project's app (zoo_project.celery)

        from inference.runtime.specs import SpecSource
        from inference.runtime.zoo import DeviceBusy, claim_device, device_backend, new_worker_id
        from inference.selectors import queue_for
        from inference.worker import lifecycle

        try:
            backend = device_backend(options["device"], options["total_memory_mb"] or None)
            device = backend.name
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        # Claim the device here, before any child exists, so a second worker for the same
        # device fails at once; the pool child carries on under this process's id.
        worker_id = new_worker_id("worker")
        try:
            claim_device(backend, worker_id, SpecSource().settings().offload_threshold)
        except DeviceBusy as exc:
            raise CommandError(str(exc)) from exc
        # Pool children are forked from this process and serve what it claimed.
        lifecycle.bind(lifecycle.Binding(device, worker_id, options["total_memory_mb"] or None))
        connections.close_all()  # the children open their own
        queue = queue_for(socket.gethostname(), device)
        self.stdout.write(f"Serving {device} from queue {queue}")
        app.worker_main(worker_argv(queue, device, options["loglevel"]))


def worker_argv(queue: str, device: str, loglevel: str) -> list[str]:
    """Celery's worker for one device's queue: one task at a time, none prefetched, and
    this worker's own time limits (messages carry none)."""
    soft = settings.ZOO_TASK_SOFT_TIME_LIMIT_S
    return [
        "worker",
        "--queues", queue,
        "--concurrency", "1",
        "--prefetch-multiplier", "1",
        "--pool", "prefork",
        "--hostname", f"zoo-{device.replace(':', '-')}@%h",
        "--loglevel", loglevel,
        "--soft-time-limit", str(soft),
        "--time-limit", str(soft + 60),
        "--without-gossip",
        "--without-mingle",
    ]  # fmt: skip
