"""The Celery application shared by the web process (which enqueues) and the workers,
and the worker process's signals: a pool child serves the device its parent claimed
(``zoo_worker``), lets it go on shutdown, and stores a task's latency samples before
the task's message is acknowledged."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import task_postrun, worker_process_init, worker_process_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zoo_project.settings.base")

app = Celery("zoo_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _serve_device(**_: Any) -> None:
    from inference.worker import lifecycle  # the parent never imports the model engine

    lifecycle.serve_bound_device()


@worker_process_shutdown.connect
def _release_device(**_: Any) -> None:
    from inference.worker import lifecycle

    lifecycle.stop_bound_device()


@task_postrun.connect
def _store_latency(**_: Any) -> None:
    from inference.worker import lifecycle

    lifecycle.flush_latency()
