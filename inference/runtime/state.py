"""Where the manager writes what it does: model-state rows and the decision log.

Transitions (loading, loaded, error, unloaded) are written at once. Lease counts and
last-used times change on every inference, so they are coalesced and written by a
background thread at most ``flush_interval`` later, keeping the database off the
inference path; a transition of the same model first folds in what was pending.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from datetime import datetime
from typing import Any

from django.db import close_old_connections, connection

from fleet import services as fleet_services
from fleet.models import Device, ModelState
from inference.engine.devices import DeviceBackend
from inference.engine.sink import StateSink
from inference.engine.specs import ModelSpec

logger = logging.getLogger(__name__)


class DatabaseStateSink(StateSink):
    """Writes the rows of one device: a claimed one, or one it registers on creation."""

    def __init__(
        self,
        backend: DeviceBackend,
        *,
        budget_mb: int = 0,
        worker: str = "",
        host: str | None = None,
        device: Device | None = None,
        flush_interval: float = 0.5,
    ):
        self.device = device or fleet_services.device_register(
            host=host or socket.gethostname(),
            name=backend.name,
            kind=backend.kind,
            total_memory_mb=backend.total_memory_mb,
            budget_mb=budget_mb,
            worker=worker,
        )
        self._lock = threading.Lock()
        self._pending: dict[int, dict[str, Any]] = {}
        self._interval = flush_interval
        self._wake = threading.Event()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="zoo-state-flush", daemon=True)
        self._thread.start()

    def measured_sizes(self) -> dict[str, int]:
        rows = ModelState.objects.filter(device=self.device, measured_mb__isnull=False)
        return {name: mb for name, mb in rows.values_list("model__name", "measured_mb") if mb}

    def transition(self, spec: ModelSpec, **fields: Any) -> None:
        on_cpu = fields.pop("on_cpu", None)
        if on_cpu is not None:
            fields["on_cpu_fallback"] = on_cpu
        with self._lock:
            pending = self._pending.pop(spec.id, {})
            pending.update(fields)
            self._write(spec.id, pending)

    def usage(self, spec: ModelSpec, load_count: int, last_used_at: datetime | None) -> None:
        with self._lock:
            self._pending[spec.id] = {
                **self._pending.get(spec.id, {}),
                "load_count": load_count,
                "last_used_at": last_used_at,
            }
        self._wake.set()

    def event(
        self,
        spec: ModelSpec,
        kind: str,
        reason: str,
        memory_mb: int | None = None,
        duration_s: float | None = None,
        cause: str = "",
    ) -> None:
        fleet_services.model_event_record(
            device_id=self.device.pk,
            model_id=spec.id,
            model_name=spec.name,
            kind=kind,
            reason=reason,
            memory_mb=memory_mb,
            duration_s=duration_s,
            cause=cause,
        )

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
            for model_id, fields in pending.items():
                self._write(model_id, fields)

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()
        self._thread.join(timeout=5)
        self.flush()

    def _write(self, model_id: int, fields: dict[str, Any]) -> None:
        fleet_services.model_state_write(device_id=self.device.pk, model_id=model_id, **fields)

    def _run(self) -> None:
        while not self._stopped:
            self._wake.wait()
            self._wake.clear()
            if self._stopped:
                break
            time.sleep(self._interval)  # coalesce a burst into one write
            try:
                self.flush()
            except Exception:  # the next flush retries; a worker must not die of it
                logger.exception("Could not write model state")
            finally:
                close_old_connections()
        connection.close()  # this thread's own connection
