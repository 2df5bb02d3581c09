"""Read-side queries of the runtime truth, joined with the catalog where a document
needs both: each model's state over live devices, the zoo's budget, the Model
Management API's status and budget validation, the decision log, device usage.

Every function here runs a fixed number of queries, whatever the number of models:
the status endpoints are polled every few seconds by dashboards.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from fleet import pools
from fleet.hardware import DeviceInfo, probe_default_device
from fleet.models import Device, EventTally, ModelEvent, ModelState, ModelStatus
from models_registry.models import ModelEntry
from models_registry.selectors import (
    UI_CATEGORIES,
    UI_ORDER,
    UI_OTHER,
    gb,
    inference_document,
    inference_settings,
    tasks_document,
    tasks_with_options,
    zoo_entries,
    zoo_entry,
)

# When a model has states on several devices, the one to show: the most "alive" wins.
_STATUS_RANK: dict[str, int] = {
    ModelStatus.LOADED: 4,
    ModelStatus.LOADING: 3,
    ModelStatus.ERROR: 2,
    ModelStatus.UNLOADED: 1,
}
_HOLDING = (ModelStatus.LOADED, ModelStatus.LOADING)


@dataclass
class ModelRuntime:
    """A model's runtime state, summed over the devices of live workers.

    ``held_mb`` is the memory counted against a budget while the model is loaded or
    loading: the larger of the registry estimate and the measured size, summed over the
    devices holding it (``held_by_device`` per device id).
    """

    status: str = ModelStatus.UNLOADED
    load_count: int = 0
    held_mb: int = 0
    measured_mb: int | None = None
    last_used_at: datetime | None = None
    available: bool = False
    load_duration_s: float | None = None
    last_error: str = ""
    held_by_device: dict[int, int] = field(default_factory=dict)
    device: str = ""  # where the shown state is: its device's name, or "cpu" (fallback)


def counted_mb(*, estimate_mb: int, measured_mb: int | None, on_cpu: bool) -> int:
    """What a loaded (or loading) model counts against its device's budget: the larger
    of the registry estimate and the measured size; nothing when it runs on the CPU."""
    return 0 if on_cpu else max(estimate_mb, measured_mb or 0)


def heartbeat_cutoff() -> datetime:
    return timezone.now() - timedelta(seconds=settings.ZOO_WORKER_HEARTBEAT_TIMEOUT_S)


def live_devices() -> list[Device]:
    """Devices whose worker has heartbeated within the timeout."""
    return list(Device.objects.filter(heartbeat_at__gte=heartbeat_cutoff()))


def runtime_by_model(entries: Iterable[ModelEntry]) -> dict[int, ModelRuntime]:
    """The runtime state of each given model, in one query.

    Status, leases and held memory count only devices of live workers, so a dead
    worker's models stop showing as loaded. ``available`` and ``last_used_at`` are
    history and count every device.
    """
    by_id = {entry.pk: entry for entry in entries}
    runtime = {pk: ModelRuntime() for pk in by_id}
    cutoff = heartbeat_cutoff()
    states = ModelState.objects.filter(model_id__in=by_id).values(
        "model_id",
        "status",
        "load_count",
        "measured_mb",
        "loaded_at",
        "last_used_at",
        "load_duration_s",
        "last_error",
        "on_cpu_fallback",
        "device_id",
        "device__name",
        "device__heartbeat_at",
    )
    for state in states:
        info = runtime[state["model_id"]]
        if state["loaded_at"] is not None:
            info.available = True
        if state["last_used_at"] and (
            info.last_used_at is None or state["last_used_at"] > info.last_used_at
        ):
            info.last_used_at = state["last_used_at"]
        heartbeat = state["device__heartbeat_at"]
        if heartbeat is None or heartbeat < cutoff:
            continue
        if _STATUS_RANK[state["status"]] > _STATUS_RANK[info.status]:
            info.status = state["status"]
            info.load_duration_s = state["load_duration_s"]
            info.measured_mb = state["measured_mb"]
            info.device = "cpu" if state["on_cpu_fallback"] else state["device__name"]
        if state["status"] == ModelStatus.ERROR and not info.last_error:
            info.last_error = state["last_error"]
        info.load_count += state["load_count"]
        if state["status"] in _HOLDING:
            held = counted_mb(
                estimate_mb=by_id[state["model_id"]].vram_mb,
                measured_mb=state["measured_mb"],
                on_cpu=state["on_cpu_fallback"],
            )
            info.held_mb += held
            device_id = state["device_id"]
            info.held_by_device[device_id] = info.held_by_device.get(device_id, 0) + held
    for pk, entry in by_id.items():
        if not entry.enabled:
            runtime[pk].status = ModelStatus.DISABLED
    return runtime


@dataclass(frozen=True)
class ZooBudget:
    """The zoo's pool over the live devices: the sum of each device's pool, what zoo
    models hold, and the sum of what each device's pool has left (a device over its pool
    adds nothing, and takes nothing from the others)."""

    budget_mb: int
    used_mb: int
    available_mb: int


def zoo_budget(runtime: dict[int, ModelRuntime], *, devices: list[Device]) -> ZooBudget:
    """The zoo's pool on each live device, as admission sees it (the zoo's cap, or the
    device's whole budget where that is smaller), summed; with no live device, one cap."""
    cap = inference_settings().zoo_vram_budget_mb
    held: dict[int, int] = {}
    for info in runtime.values():
        for device_id, mb in info.held_by_device.items():
            held[device_id] = held.get(device_id, 0) + mb
    by_device = {
        device.pk: pools.device_room(in_zoo=True, budget=device.budget_mb, cap=cap)
        for device in devices
    } or {0: cap}
    return ZooBudget(
        budget_mb=sum(by_device.values()),
        used_mb=sum(held.values()),
        available_mb=sum(max(0, pool - held.get(pk, 0)) for pk, pool in by_device.items()),
    )


def primary_device(devices: list[Device] | None = None) -> DeviceInfo:
    """The device the Model Management API reports on.

    A live worker's device when one is registered (the truth of the machine that runs
    the models), preferring the GPU with the most memory; else this machine's probe.
    ``devices``: the live devices, when the caller has read them already.
    """
    devices = live_devices() if devices is None else devices
    if devices:
        gpu_first = sorted(
            devices, key=lambda d: (d.kind == "cuda", d.kind != "cpu", d.total_memory_mb)
        )
        best = gpu_first[-1]
        return DeviceInfo(name=best.name, kind=best.kind, total_memory_mb=best.total_memory_mb)
    return probe_default_device()


def is_loaded(*, model_id: int) -> bool:
    """Whether a live worker holds the model."""
    return ModelState.objects.filter(
        model_id=model_id, status=ModelStatus.LOADED, device__heartbeat_at__gte=heartbeat_cutoff()
    ).exists()


@dataclass(frozen=True)
class ZooModelRow:
    """A zoo model as both of the zoo API's lists show it."""

    name: str
    display_name: str
    vram_mb: int
    status: str
    category: str
    ui_category: str
    enabled: bool
    available: bool
    path: str
    load_count: int
    last_used_at: datetime | None
    last_error: str = ""
    disabled_reason: str = ""
    pool_mb: int = 0  # the largest room its kind has on a live device (fleet.pools)
    device: str = ""  # where it is loaded: a device's name, or "cpu" (fallback)

    @property
    def fits_pool(self) -> bool:
        """Whether its estimate fits that room: a property of the entry, not a state."""
        return self.vram_mb <= self.pool_mb


@dataclass(frozen=True)
class ZooSnapshot:
    rows: list[ZooModelRow]
    budget: ZooBudget
    taken_at: datetime

    @property
    def loaded_count(self) -> int:
        return sum(1 for row in self.rows if row.status == ModelStatus.LOADED)

    @property
    def disabled_count(self) -> int:
        return sum(1 for row in self.rows if not row.enabled)


def _zoo_row(entry: ModelEntry, info: ModelRuntime, pool_mb: int) -> ZooModelRow:
    return ZooModelRow(
        name=entry.name,
        display_name=entry.display_name,
        vram_mb=entry.vram_mb,
        status=info.status,
        category=entry.category,
        ui_category=UI_CATEGORIES.get(entry.category, UI_OTHER) if entry.enabled else UI_OTHER,
        enabled=entry.enabled,
        available=info.available,
        path=entry.path,
        load_count=info.load_count,
        last_used_at=info.last_used_at,
        last_error=info.last_error,
        disabled_reason="" if entry.enabled else entry.disabled_reason,
        pool_mb=pool_mb,
        device=info.device if info.status in _HOLDING else "",
    )


def _room(in_zoo: bool, devices: list[Device]) -> int:
    """The largest room a model of this kind has on the live devices (``fleet.pools``)."""
    row = inference_settings()
    return pools.room_mb(
        in_zoo=in_zoo,
        budgets=[device.budget_mb for device in devices],
        cap=row.zoo_vram_budget_mb,
        default_budget=lambda: int(primary_device(devices).total_memory_mb * row.offload_threshold),
    )


def zoo_snapshot() -> ZooSnapshot:
    """Every zoo model with its runtime state and the zoo's budget, in registry order."""
    entries = list(zoo_entries())
    runtime = runtime_by_model(entries)
    devices = live_devices()
    pool = _room(True, devices)
    rows = [_zoo_row(entry, runtime[entry.pk], pool) for entry in entries]
    budget = zoo_budget(runtime, devices=devices)
    return ZooSnapshot(rows=rows, budget=budget, taken_at=timezone.now())


def zoo_compact_status() -> ZooSnapshot:
    """The snapshot sorted for the UI: by category in the document's order, disabled last,
    and by name within each (the home-security backend's order)."""
    snapshot = zoo_snapshot()
    ordered = sorted(
        snapshot.rows,
        key=lambda row: (not row.enabled, UI_ORDER.index(row.ui_category), row.name),
    )
    return ZooSnapshot(rows=ordered, budget=snapshot.budget, taken_at=snapshot.taken_at)


def model_row(*, name: str) -> ZooModelRow | None:
    """Any registry model (zoo or task option) in the zoo API's row shape."""
    entry = ModelEntry.objects.filter(name=name).first()
    if entry is None:
        return None
    return _zoo_row(entry, runtime_by_model([entry])[entry.pk], _room(entry.in_zoo, live_devices()))


def zoo_model_row(*, name: str) -> ZooModelRow | None:
    entry = zoo_entry(name=name)
    if entry is None:
        return None
    return _zoo_row(entry, runtime_by_model([entry])[entry.pk], _room(entry.in_zoo, live_devices()))


def management_config() -> dict[str, object]:
    """``GET /api/models/config``: every task's options and selection, and the settings."""
    device = primary_device()
    return {
        "models": tasks_document(every_field=True),
        "inference": inference_document(inference_settings()),
        "cuda_available": device.cuda_available,
        "total_vram_gb": gb(device.total_memory_mb),
    }


def management_status() -> dict[str, object]:
    """``GET /api/models/status``: what is loaded for each task, and the device's memory.

    A task shows its selected model if that is loaded, else the first of its loaded
    options; its memory is what it holds on every live device. The two totals are over
    the same set of devices, every live one (or, with none, the probed device): what
    every model holds there, zoo models too, and their total memory. ``device`` and
    ``cuda_available`` name the largest of them (``primary_device``); each loaded
    model's own ``device`` is where it runs, ``"cpu"`` when placed there by CPU fallback.
    """
    devices = live_devices()
    device = primary_device(devices)
    tasks = tasks_with_options()
    holding = ModelEntry.objects.filter(
        states__status__in=_HOLDING, states__device__heartbeat_at__gte=heartbeat_cutoff()
    ).distinct()
    runtime = runtime_by_model(holding)
    loaded: dict[str, object] = {}
    for task in tasks:
        candidates = [o.model for o in task.task_options.all() if o.model.pk in runtime]
        candidates.sort(key=lambda entry: entry.pk != task.selected_id)
        for entry in candidates:
            info = runtime[entry.pk]
            if info.status == ModelStatus.LOADED:
                loaded[task.name] = {
                    "model_id": entry.model_id or entry.name,
                    "memory_usage_gb": gb(info.held_mb),
                    "load_time": round(info.load_duration_s or 0.0, 3),
                    "device": info.device,
                }
                break
    return {
        "loaded_models": loaded,
        "total_vram_allocated_gb": gb(sum(info.held_mb for info in runtime.values())),
        "total_vram_available_gb": gb(
            sum(d.total_memory_mb for d in devices) if devices else device.total_memory_mb
        ),
        "cuda_available": device.cuda_available,
        "device": device.name,
    }


def model_events(*, model: str | None = None, kind: str | None = None) -> QuerySet[ModelEvent]:
    """The decision log, newest first, optionally for one model or one kind of event."""
    events = ModelEvent.objects.select_related("device")
    if model:
        events = events.filter(model_name=model)
    if kind:
        events = events.filter(kind=kind)
    return events.order_by("-created_at", "-id")


def event_tallies() -> list[tuple[str, str, str, int]]:
    """Every (model name, event kind, cause, count) ever logged."""
    return list(
        EventTally.objects.order_by("model_name", "kind", "cause").values_list(
            "model_name", "kind", "cause", "count"
        )
    )


@dataclass(frozen=True)
class DeviceUsage:
    """One live device: what its resident models hold, and how many are loaded.

    ``used_mb`` is what admission counts (the larger of estimate and measurement per
    model); ``estimate_mb`` and ``measured_mb`` are the two sums it is drawn from.
    ``zoo_used_mb`` is the part of ``used_mb`` held by the enrichment zoo's models, and
    ``zoo_pool_mb`` the zoo's pool there (its cap, or the device's budget if smaller).
    """

    device: str  # host/name
    name: str  # the device name alone (cuda:0), what anonymous readers are shown
    kind: str
    total_memory_mb: int
    budget_mb: int
    used_mb: int
    estimate_mb: int
    measured_mb: int
    loaded: int
    zoo_used_mb: int = 0
    zoo_pool_mb: int = 0

    @property
    def used_percent(self) -> float:
        return min(100.0, 100.0 * self.used_mb / self.budget_mb) if self.budget_mb else 0.0


def device_usage() -> list[DeviceUsage]:
    """Memory held and models loaded on each live device (and the zoo's share and pool),
    in three queries."""
    devices = {device.pk: device for device in live_devices()}
    sums = {pk: {"used": 0, "estimate": 0, "measured": 0, "loaded": 0, "zoo": 0} for pk in devices}
    cap = inference_settings().zoo_vram_budget_mb
    states = ModelState.objects.filter(device_id__in=devices, status__in=_HOLDING).values_list(
        "device_id", "status", "measured_mb", "on_cpu_fallback", "model__vram_mb", "model__in_zoo"
    )
    for device_id, status, measured_mb, on_cpu, estimate_mb, in_zoo in states:
        held = sums[device_id]
        counted = counted_mb(estimate_mb=estimate_mb, measured_mb=measured_mb, on_cpu=on_cpu)
        held["used"] += counted
        held["zoo"] += counted if in_zoo else 0
        if not on_cpu:
            held["estimate"] += estimate_mb
            held["measured"] += measured_mb or 0
        held["loaded"] += status == ModelStatus.LOADED
    return [
        DeviceUsage(
            device=str(device),
            name=device.name,
            kind=device.kind,
            total_memory_mb=device.total_memory_mb,
            budget_mb=device.budget_mb,
            used_mb=sums[pk]["used"],
            estimate_mb=sums[pk]["estimate"],
            measured_mb=sums[pk]["measured"],
            loaded=sums[pk]["loaded"],
            zoo_used_mb=sums[pk]["zoo"],
            zoo_pool_mb=min(cap, device.budget_mb),
        )
        for pk, device in sorted(devices.items(), key=lambda item: str(item[1]))
    ]
