"""A worker's reservations for the servers running on its device: every server-run
option whose ``server_device`` names this device is probed (``GET <base>/models``) every
``ZOO_SERVER_PROBE_INTERVAL_S``; while it answers, the device's manager holds its
``vram_mb`` as a reservation (``ModelManager.reserve``) and its state row on
this device says ``loaded`` with that memory, so ``/api/models/status`` counts it; once
it stops answering (or is disabled, or its device changes), both are released."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.utils import timezone

from fleet import services as fleet_services
from fleet.models import ModelStatus
from inference.engine.remote import server_answers
from inference.runtime.remote import server_url
from inference.runtime.zoo import ModelZoo
from models_registry.models import Loader, ModelEntry

logger = logging.getLogger(__name__)


class ServerReservations:
    """Keeps the reservations of one worker's device in step with its servers."""

    def __init__(
        self,
        zoo: ModelZoo,
        *,
        interval_s: float | None = None,
        probe: Callable[[str], bool] = server_answers,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.zoo = zoo
        self.interval_s = settings.ZOO_SERVER_PROBE_INTERVAL_S if interval_s is None else interval_s
        self._probe = probe
        self._clock = clock
        self._checked_at: float | None = None

    def refresh_when_due(self) -> None:
        now = self._clock()
        if self._checked_at is None or now - self._checked_at >= self.interval_s:
            self._checked_at = now
            self.refresh()

    def refresh(self) -> dict[str, int]:
        """Probe this device's servers and hold what answers; the reservations held."""
        device = self.zoo.device
        entries = ModelEntry.objects.filter(
            loader=Loader.SERVER, server_device=device.name, enabled=True
        )
        answering = {
            entry.name: entry
            for entry in entries
            if (url := server_url(entry)) and self._probe(url)
        }
        wanted = {name: entry.vram_mb for name, entry in answering.items()}
        added, released = self.zoo.manager.reserve(wanted)
        now = timezone.now()
        for name in added:
            entry = answering[name]
            logger.info("%s answers: %s MB reserved on %s", name, entry.vram_mb, device.name)
            fleet_services.model_state_write(
                device_id=device.pk, model_id=entry.pk, status=ModelStatus.LOADED,
                measured_mb=entry.vram_mb, loaded_at=now, on_cpu_fallback=False, last_error="",
            )  # fmt: skip
        self._release(released, why="stopped answering")
        return wanted

    def release_all(self) -> None:
        """Let every reservation go (the worker is stopping)."""
        _, released = self.zoo.manager.reserve({})
        self._release(released, why="worker stopping")

    def _release(self, names: list[str], *, why: str) -> None:
        device = self.zoo.device
        for entry in ModelEntry.objects.filter(name__in=names):
            logger.info("%s %s: its reservation on %s released", entry.name, why, device.name)
            fleet_services.model_state_write(
                device_id=device.pk, model_id=entry.pk, status=ModelStatus.UNLOADED
            )
