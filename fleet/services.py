"""Write-side operations on the runtime truth: device claims and heartbeats, model state
transitions and the decision log. Only workers call these (and tools and tests)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.db import upsert_add
from fleet.models import Device, EventTally, ModelEvent, ModelState, ModelStatus

logger = logging.getLogger(__name__)


def device_register(
    *, host: str, name: str, kind: str, total_memory_mb: int, budget_mb: int, worker: str
) -> Device:
    """Create or refresh the row of a device, heartbeating it now (no ownership check:
    for tools and tests; workers use ``device_claim``)."""
    device, _ = Device.objects.update_or_create(
        host=host,
        name=name,
        defaults={
            "kind": kind,
            "total_memory_mb": total_memory_mb,
            "budget_mb": budget_mb,
            "worker": worker,
            "heartbeat_at": timezone.now(),
        },
    )
    return device


def device_claim(
    *,
    host: str,
    name: str,
    kind: str,
    total_memory_mb: int,
    budget_mb: int,
    worker: str,
    stale_after_s: float,
    take_over: bool = False,
) -> Device | None:
    """Make ``worker`` the one owner of a device, or None if another live worker owns it.

    Two workers never both think they own one device's budget: the row is locked, and a
    device whose owner heartbeated within ``stale_after_s`` is refused unless
    ``take_over`` (the caller knows that owner is dead). The new owner holds nothing yet,
    so whatever a previous process left "loaded", "loading" or leased is reset.
    """
    now = timezone.now()
    with transaction.atomic():
        device, created = Device.objects.select_for_update().get_or_create(
            host=host,
            name=name,
            defaults={
                "kind": kind,
                "total_memory_mb": total_memory_mb,
                "budget_mb": budget_mb,
                "worker": worker,
                "heartbeat_at": now,
            },
        )
        if not created:
            live = device.heartbeat_at is not None and (
                (now - device.heartbeat_at).total_seconds() < stale_after_s
            )
            if live and device.worker not in ("", worker) and not take_over:
                return None
            device.kind = kind
            device.total_memory_mb = total_memory_mb
            device.budget_mb = budget_mb
            device.worker = worker
            device.heartbeat_at = now
            device.save()
        states = ModelState.objects.filter(device=device)
        states.filter(status__in=[ModelStatus.LOADED, ModelStatus.LOADING]).update(
            status=ModelStatus.UNLOADED, on_cpu_fallback=False, updated_at=now
        )
        states.exclude(load_count=0).update(load_count=0, updated_at=now)
    return device


def device_heartbeat(*, device_id: int, worker: str | None = None) -> bool:
    """Refresh a device's heartbeat; with ``worker``, only while that worker owns it.
    Returns whether the heartbeat was written."""
    rows = Device.objects.filter(pk=device_id)
    if worker is not None:
        rows = rows.filter(worker=worker)
    return rows.update(heartbeat_at=timezone.now()) == 1


def device_release(*, device_id: int, worker: str) -> None:
    """The owner lets the device go (clean shutdown): its models stop counting at once."""
    Device.objects.filter(pk=device_id, worker=worker).update(heartbeat_at=None)


def model_state_write(*, device_id: int, model_id: int, **fields: Any) -> None:
    """Record what a worker did with a model on its device (one row per pair).

    ``error_count_increment`` adds to the error count instead of setting it.
    """
    increment = fields.pop("error_count_increment", 0)
    fields["updated_at"] = timezone.now()
    with transaction.atomic():
        state, created = ModelState.objects.select_for_update().get_or_create(
            model_id=model_id, device_id=device_id, defaults=fields
        )
        if not created:
            for key, value in fields.items():
                setattr(state, key, value)
        state.error_count += increment
        state.save()


def model_event_record(
    *,
    device_id: int | None,
    model_id: int | None,
    model_name: str,
    kind: str,
    reason: str,
    memory_mb: int | None = None,
    duration_s: float | None = None,
    cause: str = "",
) -> ModelEvent:
    """Log one decision of a manager and count it in the tallies, together."""
    with transaction.atomic():
        event = ModelEvent.objects.create(
            device_id=device_id,
            model_id=model_id,
            model_name=model_name,
            kind=kind,
            reason=reason,
            memory_mb=memory_mb,
            duration_s=duration_s,
            cause=cause,
        )
        upsert_add(
            EventTally._meta.db_table, ("model_name", "kind", "cause"), ("count",),
            [(model_name, kind, cause, 1)],
        )  # fmt: skip
    return event


def events_prune(*, now: datetime | None = None) -> int:
    """Delete decision-log entries older than ``ZOO_EVENT_RETENTION_DAYS``; returns how
    many. The Prometheus counters read ``EventTally``, so they never go down."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.ZOO_EVENT_RETENTION_DAYS)
    deleted, _ = ModelEvent.objects.filter(created_at__lt=cutoff).delete()
    if deleted:
        logger.info("Pruned %s decision-log entries older than %s", deleted, cutoff)
    return deleted
