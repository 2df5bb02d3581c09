"""The life of a GPU worker process: claim the device, heartbeat, serve, let go.

A worker is a Celery worker bound to one device, consuming that device's queue with
concurrency 1. Celery's prefork pool runs tasks in a child process; the models live in
that child, so everything here happens in the child (``worker_process_init``), never in
the parent before it forks — the parent does not touch CUDA.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time

from django.conf import settings
from django.db import close_old_connections, connection

from fleet import services as fleet_services
from inference import services as services_inference
from inference.worker.zoo import model_zoo
from latency import services as services_latency
from latency.recorder import LatencyRecorder

logger = logging.getLogger(__name__)


def queue_for(host: str, device: str) -> str:
    """The Celery queue of one device on one host: ``zoo.<host>.<device>``."""
    return "zoo." + re.sub(r"[^A-Za-z0-9_-]+", "-", f"{host}.{device}")


class Heartbeat:
    """Keeps the device's heartbeat fresh and applies the idle policy, every interval.

    If the device's row names another worker (it took the device over after this one
    missed its heartbeats), this worker stops serving instead of sharing the budget.
    Latency data and decision-log entries past their retention are pruned every
    ``ZOO_LATENCY_PRUNE_INTERVAL_S``.
    """

    def __init__(self, device_id: int, worker: str, interval: float):
        self.device_id = device_id
        self.worker = worker
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="zoo-heartbeat", daemon=True)
        self._pruned_at: float | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                if not fleet_services.device_heartbeat(
                    device_id=self.device_id, worker=self.worker
                ):
                    logger.error("Device taken over by another worker; stopping")
                    os._exit(3)  # a worker that lost its device must not keep loading
                model_zoo.manager.reap()
                services_inference.work_sweep()
                self._prune_when_due()
            except Exception:  # a database blip must not kill the worker: retry next beat
                logger.exception("Heartbeat failed")
            finally:
                close_old_connections()
        connection.close()

    def _prune_when_due(self) -> None:
        now = time.monotonic()
        if (
            self._pruned_at is None
            or now - self._pruned_at >= settings.ZOO_LATENCY_PRUNE_INTERVAL_S
        ):
            self._pruned_at = now
            services_latency.samples_prune()
            fleet_services.events_prune()


_heartbeat: Heartbeat | None = None
recorder: LatencyRecorder | None = None


def start_serving(device: str, *, total_memory_mb: int | None = None) -> None:
    """In the worker's child process: claim the device, reset its state, heartbeat."""
    global _heartbeat, recorder
    recorder = LatencyRecorder(interval=settings.ZOO_LATENCY_FLUSH_INTERVAL_S)
    model_zoo.configure(
        device,
        total_memory_mb=total_memory_mb,
        worker="worker",
        worker_id=settings.ZOO_WORKER_ID,
        on_inference=recorder.inference,
        on_load=recorder.load,
    )
    device_row = model_zoo.device
    recorder.worker, recorder.device_id = model_zoo.worker, device_row.pk
    recorder.start()
    logger.info(
        "Serving %s: %s MB, budget %s MB", device_row, device_row.total_memory_mb,
        device_row.budget_mb,
    )  # fmt: skip
    _heartbeat = Heartbeat(
        device_row.pk, model_zoo.worker, settings.ZOO_WORKER_HEARTBEAT_INTERVAL_S
    )
    _heartbeat.start()
    warm_up(device_row.host, device_row.name)


def warm_up(host: str, device: str) -> list[str]:
    """With ``warmup_on_startup``, queue a load of each task's selected model on this
    worker's own queue (loads run as ordinary tasks, inside the budget, one at a time)."""
    from inference.engine.manager import NOT_LOCAL
    from inference.tasks import load_model
    from models_registry.models import InferenceSettings, ModelEntry

    if not InferenceSettings.load().warmup_on_startup:
        return []
    names = list(
        ModelEntry.objects.filter(selected_for__isnull=False, enabled=True)
        .exclude(loader__in=NOT_LOCAL)
        .values_list("name", flat=True)
        .distinct()
    )
    for name in names:
        load_model.apply_async(args=[name], queue=queue_for(host, device))
    return names


def stop_serving() -> None:
    global _heartbeat, recorder
    if _heartbeat is not None:
        _heartbeat.stop()
        _heartbeat = None
    model_zoo.close()
    if recorder is not None:
        recorder.stop()  # after close: the loads and unloads of shutdown are in
        recorder = None


def flush_latency() -> None:
    """Store the samples of the task that just ended (before its message is acked)."""
    if recorder is not None:
        try:
            recorder.flush()
        except Exception:  # kept in the buffer; the recorder's thread retries
            logger.exception("Could not store latency samples")
