"""The life of a GPU worker process: claim the device, heartbeat, serve, let go.

A worker is a Celery worker bound to one device, consuming that device's queue with
concurrency 1. Celery's prefork pool runs tasks in a child process; the models live in
that child, so everything here happens in the child (``worker_process_init``), never in
the parent before it forks — the parent does not touch CUDA. In the child, the device's
scheduler thread serves the work waiting on the device; the messages only wake it.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import close_old_connections, connection

from fleet import services as fleet_services
from inference import run
from inference import services as services_inference
from inference.runtime.reservations import ServerReservations
from inference.runtime.zoo import model_zoo
from inference.worker.scheduler import Scheduler
from latency.recorder import LatencyRecorder

logger = logging.getLogger(__name__)


class Heartbeat:
    """Keeps the device's heartbeat fresh and applies the idle policy, every interval.

    If the device's row names another worker (it took the device over after this one
    missed its heartbeats), this worker stops serving instead of sharing the budget.
    Latency data, decision-log entries and finished work (batches, inferences, loads)
    past their retention are pruned every ``ZOO_LATENCY_PRUNE_INTERVAL_S``.
    """

    def __init__(
        self,
        device_id: int,
        worker: str,
        interval: float,
        reservations: ServerReservations | None = None,
    ):
        self.device_id = device_id
        self.worker = worker
        self.interval = interval
        self.reservations = reservations
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
                if self.reservations is not None:
                    self.reservations.refresh_when_due()
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
            services_inference.retention_prune()


@dataclass(frozen=True)
class Binding:
    """What the parent worker process claimed, for its pool children to serve."""

    device: str
    worker_id: str
    total_memory_mb: int | None = None


# Set by ``zoo_worker`` in the parent before Celery forks its pool; a forked child
# inherits it (it is this process's memory, not configuration).
_binding: Binding | None = None


def bind(binding: Binding) -> None:
    """Record the device this process's pool children will serve (in the parent)."""
    global _binding
    _binding = binding


def serve_bound_device() -> None:
    """In a pool child: serve the device the parent claimed, if it claimed one."""
    if _binding is not None:
        start_serving(_binding.device, total_memory_mb=_binding.total_memory_mb)


def stop_bound_device() -> None:
    if _binding is not None:
        stop_serving()


_heartbeat: Heartbeat | None = None
_scheduler: Scheduler | None = None
recorder: LatencyRecorder | None = None


def start_serving(device: str, *, total_memory_mb: int | None = None) -> None:
    """In the worker's child process: claim the device, reset its state, heartbeat."""
    global _heartbeat, _scheduler, recorder
    # Collect what the parent left behind before this process opens a connection or a
    # thread: finalising a stale inherited socket later would close whatever file
    # descriptor now has its number (a new database connection of another thread).
    gc.collect()
    recorder = LatencyRecorder(interval=settings.ZOO_LATENCY_FLUSH_INTERVAL_S)
    model_zoo.configure(
        device,
        total_memory_mb=total_memory_mb,
        worker="worker",
        worker_id=_binding.worker_id if _binding else "",
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
        device_row.pk, model_zoo.worker, settings.ZOO_WORKER_HEARTBEAT_INTERVAL_S,
        reservations=ServerReservations(model_zoo),
    )  # fmt: skip
    _heartbeat.start()
    # What start-up made (Django, the model libraries: ~500 k objects) lives as long as
    # the process: keep it out of every later collection, which then scans only new work.
    gc.freeze()
    requeued = run.items_recover(model_zoo)
    if requeued:
        logger.warning("%d work item(s) left running by a previous process queued again", requeued)
    services_inference.selections_warm_up(device_id=device_row.pk)
    _scheduler = Scheduler(
        model_zoo,
        order=settings.ZOO_WORK_ORDER,
        max_wait_s=settings.ZOO_MAX_WAIT_S,
        poll_s=settings.ZOO_SCHEDULER_POLL_S,
        soft_limit_s=settings.ZOO_TASK_SOFT_TIME_LIMIT_S,
        after_item=flush_latency,
    )
    model_zoo.on_work = _scheduler.wake
    _scheduler.start()


def stop_serving() -> None:
    global _heartbeat, _scheduler, recorder
    if _scheduler is not None:
        model_zoo.on_work = None
        _scheduler.stop()
        _scheduler = None
    if _heartbeat is not None:
        _heartbeat.stop()
        try:
            if _heartbeat.reservations is not None:
                _heartbeat.reservations.release_all()
        except Exception:  # the rows go stale with the heartbeat anyway
            logger.exception("Could not release the servers' reservations")
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
