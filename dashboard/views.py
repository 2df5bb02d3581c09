"""The operator's dashboard at ``/``: devices, models, task selection, latency, events.

Server-rendered (templates, SVG charts), so it works without JavaScript; a small script
refreshes its panels every few seconds and warns before a selection that would not fit.
Staff get plain HTML forms (CSRF-protected, POST then redirect) for select, load,
unload and enable/disable; everyone else sees the same page read-only, or a login page
when ``ZOO_READS_REQUIRE_AUTH`` is set.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import wraps
from typing import Any, cast
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from api.permissions import may_read
from core.errors import Conflict
from fleet import selectors as fleet_selectors
from fleet.disclosure import public_reason
from fleet.pools import pool_note
from fleet.snapshots import snapshots
from fleet.validation import budget_validation
from inference import selectors as inference_selectors
from inference import services as inference_services
from inference.engine.manager import NOT_LOCAL
from latency import selectors as latency_selectors
from latency.charts import history_chart
from latency.selectors import BUCKET_SECONDS, SINCE_MINUTES
from models_registry import selectors, services
from models_registry.models import InferenceSettings, ModelEntry, Task

WINDOWS = [(15, "15 min"), (60, "1 hour"), (360, "6 hours"), (1440, "24 hours")]
BUCKETS = [(10, "10 s"), (60, "1 min"), (300, "5 min"), (3600, "1 hour")]
REFRESH_S = 5
STATUS_WORDS = {
    "loaded": "In memory: using VRAM",
    "unloaded": "Not loaded: can be loaded",
    "disabled": "Disabled: needs a configuration change",
    "loading": "Loading: in progress",
    "error": "Error: see the reason",
}
PUBLIC_ERROR_WORD = "Error: the reason is shown to signed-in users"


@dataclass(frozen=True)
class OptionView:
    name: str
    vram_mb: int
    selected: bool
    warning: str  # why selecting it would not fit; "" when it fits


@dataclass(frozen=True)
class TaskView:
    name: str
    label: str
    selected: str
    options: list[OptionView]
    loaded: str = ""  # the model loaded for it and where ("yolov8l on cpu"), if any


def staff_only(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Anonymous callers go to the login page; signed-in non-staff get a 403."""

    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(reverse("dashboard"))
        if not request.user.is_staff:
            return HttpResponse("Only staff may change the zoo.", status=403)
        return view(request, *args, **kwargs)

    return guarded


@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    if not may_read(request):
        return redirect_to_login(request.get_full_path())
    since, bucket, choice_errors = _latency_choices(request)
    # The status read model's document (fleet.snapshots), vouched for as of now.
    snapshot = replace(
        snapshots.get("zoo-compact-status", fleet_selectors.zoo_compact_status),
        taken_at=timezone.now(),
    )
    tasks = selectors.tasks_with_options()
    task_views = _task_views(tasks, fleet_selectors.management_status()["loaded_models"])
    models = selectors.model_names()
    chart_model = request.GET.get("model") or _busiest_model(snapshot.rows)
    if models and chart_model not in models:
        choice_errors.append(f"Unknown model {chart_model!r}; showing {models[0]}.")
        chart_model = models[0]
    history = None
    # None when an operator has emptied the registry (or deleted the model just now).
    chart_entry = selectors.model_entry(name=chart_model) if models else None
    if chart_entry is not None:
        history = latency_selectors.latency_history(
            model=chart_entry, since_minutes=since, bucket_seconds=bucket
        )
    signed_in = request.user.is_authenticated
    context = {
        "devices": fleet_selectors.device_usage(),
        "budget": snapshot.budget,
        "groups": _groups(snapshot.rows, signed_in, selectors.inference_settings()),
        "tasks": task_views,
        "validation": budget_validation(tasks=tasks),
        "confirm": _confirm_request(request, task_views),
        "history": history,
        "chart": history_chart(history) if history else None,
        "chart_model": chart_model,
        "models": models,
        "since": since,
        "bucket": bucket,
        "windows": WINDOWS,
        "buckets": BUCKETS,
        "choice_errors": choice_errors,
        "events": [  # (event, what happened, as this reader may see it)
            (event, event.reason if signed_in else public_reason(event))
            for event in fleet_selectors.model_events()[:12]
        ],
        "signed_in": signed_in,
        "is_staff": request.user.is_staff,
        "not_local": NOT_LOCAL,
        "refresh_s": REFRESH_S,
        "taken_at": snapshot.taken_at,
    }
    return render(request, "dashboard/index.html", context)


def _groups(
    rows: list[fleet_selectors.ZooModelRow], signed_in: bool, settings_row: InferenceSettings
) -> list[tuple[str, list[tuple[fleet_selectors.ZooModelRow, str, str]]]]:
    """The models by UI category, each with what its status means and, for one larger
    than the zoo pool, a note saying so (a property of the model, not a failure).
    Anonymous readers do not get the reasons of errors (they name paths) or the paths."""
    if not signed_in:
        rows = [replace(row, last_error="", path="") for row in rows]
    words = STATUS_WORDS if signed_in else {**STATUS_WORDS, "error": PUBLIC_ERROR_WORD}

    def note(row: fleet_selectors.ZooModelRow) -> str:
        return pool_note(
            in_zoo=True,
            need_mb=row.vram_mb,
            room=row.pool_mb,
            fallback=settings_row.zoo_cpu_fallback,
        )

    return [
        (category, [(row, words.get(row.status, ""), note(row)) for row in group])
        for category, group in itertools.groupby(rows, key=lambda r: r.ui_category)
    ]


def _latency_choices(request: HttpRequest) -> tuple[int, int, list[str]]:
    """The chart's window and bucket from the query, defaults where they are bad."""
    errors = []
    chosen = []
    for name, bounds in (("since", SINCE_MINUTES), ("bucket_seconds", BUCKET_SECONDS)):
        raw = request.GET.get(name, "")
        try:
            value = int(raw) if raw else bounds.default
        except ValueError:
            value = -1
        if not bounds.minimum <= value <= bounds.maximum:
            errors.append(
                f"{name} must be a whole number from {bounds.minimum} to {bounds.maximum}; "
                f"using {bounds.default}."
            )
            value = bounds.default
        chosen.append(value)
    return chosen[0], chosen[1], errors


def _busiest_model(rows: list[fleet_selectors.ZooModelRow]) -> str:
    """The model shown first: the most recently used one, else the first."""
    used = [(row.last_used_at, row.name) for row in rows if row.last_used_at is not None]
    if used:
        return max(used)[1]
    return rows[0].name if rows else ""


def _task_views(tasks: list[Task], loaded: Any) -> list[TaskView]:
    """Each task's options, each saying whether selecting it would fit (in memory), and
    what is loaded for it where (``loaded``: the Management API's ``loaded_models``)."""
    device, row = fleet_selectors.primary_device(), selectors.inference_settings()
    views = []
    for task in tasks:
        options = []
        for option in task.task_options.all():
            model = option.model
            check = budget_validation(
                selection={task.name: model}, tasks=tasks, device=device, row=row
            )
            # The last warning is the document's generic advice; the others say why.
            warning = "" if check["valid"] else "; ".join(cast(list[str], check["warnings"])[:-1])
            options.append(
                OptionView(
                    name=model.name,
                    vram_mb=model.vram_mb,
                    selected=model.pk == task.selected_id,
                    warning=warning,
                )
            )
        views.append(
            TaskView(
                name=task.name,
                label=task.get_name_display(),
                selected=task.selected.name if task.selected else "",
                options=options,
                loaded=_loaded_where(loaded.get(task.name)),
            )
        )
    return views


def _loaded_where(entry: dict[str, Any] | None) -> str:
    """``model_id on device`` for a task's loaded model, saying when it is CPU fallback."""
    if not entry:
        return ""
    where = entry["device"]
    fallback = " (CPU fallback: it did not fit the GPU)" if where == "cpu" else ""
    return f"{entry['model_id']} on {where}{fallback}"


def _confirm_request(request: HttpRequest, tasks: list[TaskView]) -> dict[str, str] | None:
    """A selection waiting for "select anyway" (after a warning, without JavaScript)."""
    task, model = request.GET.get("confirm_task"), request.GET.get("confirm_model")
    for view in tasks:
        for option in view.options:
            if view.name == task and option.name == model:
                warning = option.warning or _too_large(task, model)
                return {"task": task, "model": model, "warning": warning} if warning else None
    return None


def _too_large(task: str, model: str) -> str:
    """Why no live device could hold the model (its measured size can say so where the
    selection's estimates fit); "" when one could."""
    entry = selectors.task_option(task=task, model_name=model)
    if entry is None or entry.loader in NOT_LOCAL:
        return ""
    return inference_selectors.too_large_reason(entry)


@require_POST
@staff_only
def select(request: HttpRequest) -> HttpResponseBase:
    task_type = request.POST.get("task_type", "")
    model_name = request.POST.get("model_name", "")
    confirmed = request.POST.get("confirm") == "1"
    entry = selectors.task_option(task=task_type, model_name=model_name)
    if entry is None:
        messages.error(request, f"{model_name!r} is not an option of {task_type!r}.")
        return _back()
    check = budget_validation(selection={task_type: entry})
    if not check["valid"] and not confirmed:
        query = urlencode({"confirm_task": task_type, "confirm_model": model_name})
        return HttpResponseRedirect(f"{reverse('dashboard')}?{query}#tasks")
    try:  # confirmed: the operator insists, even on a model larger than every budget
        selection = inference_services.task_select_warm(
            task_type=task_type, model_name=model_name, force=confirmed
        )
    except inference_services.SelectionRefused:  # not confirmed: ask, with the reason
        query = urlencode({"confirm_task": task_type, "confirm_model": model_name})
        return HttpResponseRedirect(f"{reverse('dashboard')}?{query}#tasks")
    note = "" if check["valid"] else " (over the memory budget, as confirmed)"
    if selection.too_large:
        note = f" (over the memory budget, as confirmed; not loaded: {selection.too_large})"
    messages.success(request, f"{task_type}: selected {model_name}{note}.")
    return _back("tasks")


@require_POST
@staff_only
def model_action(request: HttpRequest, name: str, action: str) -> HttpResponseBase:
    entry = selectors.model_entry(name=name)
    if entry is None:
        messages.error(request, f"No model named {name!r}.")
        return _back("models")
    if action in ("enable", "disable"):
        services.models_set_enabled(
            names=[name], enabled=action == "enable", reason="disabled from the dashboard"
        )
        messages.success(request, f"{name} {action}d.")
    elif entry.loader in NOT_LOCAL:
        messages.error(request, f"{name} runs outside this service; nothing to {action}.")
    elif action == "load":
        refusal = _fit_refusal(entry) if entry.enabled else ""
        if not entry.enabled:
            messages.error(request, f"{name} is disabled; enable it first.")
        elif refusal:
            messages.error(request, f"{refusal}.")
        elif inference_services.model_load_dispatch(model_name=name) is None:
            messages.error(request, "No worker is running: nothing can load it.")
        else:
            messages.success(request, f"Loading {name}; its status follows below.")
    elif action == "unload":
        sent = inference_services.model_unload_dispatch(
            model_name=name, wait_s=settings.ZOO_UNLOAD_WAIT_S
        )
        if sent.live:
            messages.success(request, f"Unloading {name} once nobody uses it.")
        if sent.silent:
            messages.warning(request, sent.silent_reason(name) + ".")
        if not sent.live and not sent.silent:
            messages.info(request, f"{name} is not loaded anywhere; nothing to unload.")
    else:
        messages.error(request, f"Unknown action {action!r}.")
    return _back("models")


def _fit_refusal(entry: ModelEntry) -> str:
    """Why no device could ever hold ``entry`` (the refusal logged as an event); ""
    when one could."""
    try:
        inference_services.model_fit_check(entry=entry)
    except Conflict as exc:
        return str(exc)
    return ""


def _back(anchor: str = "") -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("dashboard") + (f"#{anchor}" if anchor else ""))
