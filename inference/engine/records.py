"""What the manager writes through its ``StateSink`` when a model changes state: the
status row's new fields and the decision-log entry beside them, written together so the
two APIs and the log tell one story.

The reasons are for people and are also what tests and operators match on, so their
wording lives here, in one place.

Every record is made whole even when one of its writes is interrupted (a soft time
limit raised inside the database call, say): that write is made once more, the others
are still made, and only then does the exception go on (``write_all``). Whatever the
manager undid or kept, the row then says so, not ``loading`` for a load long undone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from inference.engine.errors import ManagerError, ModelRefused, ModelTooLarge
from inference.engine.residents import Resident
from inference.engine.sink import StateSink
from inference.engine.specs import ModelSpec
from inference.engine.vocabulary import EventCause, EventKind, ModelStatus

logger = logging.getLogger(__name__)


def write_all(*writes: Callable[[], None]) -> None:
    """Make every write; one that raises is made once more, the rest are still made, and
    then the first exception is raised again (a second failure of a write is logged:
    the row stays as it was and the books, which the manager keeps, stay true)."""
    failure: BaseException | None = None
    for write in writes:
        try:
            write()
        except BaseException as exc:
            failure = failure or exc
            try:
                write()
            except Exception:
                logger.exception("A model state write failed twice; the row may be stale")
    if failure is not None:
        raise failure


def age(seconds: float) -> str:
    """An idle time, as people say it."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def eviction_reason(victim: Resident, policy: str, idle_s: float, to_fit: str) -> str:
    """Why ``victim`` goes to make room, before a load."""
    return (
        f"evicted {victim.spec.name} ({policy}, idle {age(idle_s)}, "
        f"{victim.held_mb} MB) to fit {to_fit}"
    )


def regrowth_eviction_reason(victim: Resident, policy: str, to_fit: str, held: int) -> str:
    """Why ``victim`` goes to make room for a model that measured above its estimate."""
    return (
        f"evicted {victim.spec.name} ({policy}, {victim.held_mb} MB) to fit "
        f"{to_fit}, which measured {held} MB"
    )


def unclosed_reason(name: str) -> str:
    """Why a model is stranded: its close failed, so its memory may still be held."""
    return f"{name} could not be closed and may still hold its memory; it is closed again first"


def unload_retried(name: str) -> str:
    """Why a stranded model is unloaded: its close is tried again."""
    return f"unloaded {name}: closed again after an earlier close failed"


def refused(sink: StateSink, spec: ModelSpec, refusal: ModelRefused, need: int) -> None:
    """Admission said no: the model is in error with the refusal as its reason; or, for
    a model larger than everything here (``ModelTooLarge``), a property of the model
    rather than a failure, only the event: its state is left as it was (unloaded)."""

    def event() -> None:
        sink.event(spec, EventKind.REFUSE, str(refusal), memory_mb=need, cause=EventCause.REFUSED)

    if isinstance(refusal, ModelTooLarge):
        write_all(event)
        return
    write_all(
        lambda: sink.transition(
            spec,
            status=ModelStatus.ERROR,
            load_count=0,
            last_error=str(refusal),
            error_count_increment=1,
        ),
        event,
    )


def loading(sink: StateSink, resident: Resident) -> None:
    """Admitted, room made: the load begins."""
    write_all(
        lambda: sink.transition(
            resident.spec,
            status=ModelStatus.LOADING,
            load_count=resident.leases,
            on_cpu=resident.on_cpu,
        )
    )


def used(sink: StateSink, spec: ModelSpec, leases: int, last_used_at: datetime | None) -> None:
    """A lease was taken or given back."""
    write_all(lambda: sink.usage(spec, leases, last_used_at))


def loaded(
    sink: StateSink, resident: Resident, device_name: str, *, measured: int, duration: float
) -> None:
    """A load finished: the model is loaded, with its measure and how long it took."""
    spec = resident.spec
    where = "on the CPU (fallback)" if resident.on_cpu else f"on {device_name}"
    write_all(
        lambda: sink.transition(
            spec,
            status=ModelStatus.LOADED,
            load_count=resident.leases,
            measured_mb=measured,
            loaded_at=resident.loaded_at,
            last_used_at=resident.last_used_at,
            load_duration_s=duration,
            on_cpu=resident.on_cpu,
            last_error="",
        ),
        lambda: sink.event(
            spec,
            EventKind.CPU_FALLBACK if resident.on_cpu else EventKind.LOAD,
            f"loaded {spec.name} {where} in {duration:.2f} s "
            f"(estimate {spec.vram_mb} MB, measured {measured} MB)",
            # What counts against the budget, so the log alone can audit it.
            memory_mb=measured if resident.on_cpu else resident.held_mb,
            duration_s=duration,
            cause=EventCause.LOADED,
        ),
    )


def load_failed(sink: StateSink, spec: ModelSpec, reason: str, *, out_of_memory: bool) -> None:
    """A load failed after admission and was undone."""
    cause = EventCause.OUT_OF_MEMORY if out_of_memory else EventCause.LOAD_ERROR
    write_all(
        lambda: sink.transition(
            spec,
            status=ModelStatus.ERROR,
            load_count=0,
            last_error=reason,
            error_count_increment=1,
            on_cpu=False,
        ),
        lambda: sink.event(spec, EventKind.FAIL, reason, cause=cause),
    )


def load_failure_reason(spec: ModelSpec, where: str, exc: BaseException, oom: bool) -> str:
    """Why a load failed, for people."""
    if oom:
        return f"Out of memory while loading {spec.name} on {where}: {exc}"
    if isinstance(exc, ManagerError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def stranded(sink: StateSink, resident: Resident, exc: BaseException) -> None:
    """A model's memory could not be given back: in error, still counted, to go later."""
    write_all(
        lambda: sink.transition(
            resident.spec,
            status=ModelStatus.ERROR,
            load_count=0,
            last_error=resident.doomed,
            error_count_increment=1,
        ),
        lambda: sink.event(
            resident.spec,
            EventKind.FAIL,
            f"{resident.doomed} ({type(exc).__name__}: {exc})",
            memory_mb=resident.held_mb or None,
            cause=EventCause.FAULT,
        ),
    )


def faulted(sink: StateSink, resident: Resident, reason: str) -> None:
    """A loaded model failed while running and is unusable; it goes once released."""
    write_all(
        lambda: sink.transition(
            resident.spec,
            status=ModelStatus.ERROR,
            load_count=resident.leases,
            last_error=reason,
            error_count_increment=1,
        ),
        lambda: sink.event(resident.spec, EventKind.FAIL, reason, cause=EventCause.INFERENCE_FAULT),
    )


def freed(sink: StateSink, resident: Resident, kind: str, reason: str, cause: str) -> None:
    """A model's memory was given back (evicted or unloaded); an error stays an error."""
    fields: dict[str, Any] = {"load_count": 0, "on_cpu": False}
    if resident.status != ModelStatus.ERROR:
        fields["status"] = ModelStatus.UNLOADED
    write_all(
        lambda: sink.transition(resident.spec, **fields),
        lambda: sink.event(
            resident.spec, kind, reason, memory_mb=resident.held_mb or None, cause=cause
        ),
    )
