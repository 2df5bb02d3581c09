"""When an idle model leaves without being needed as a victim: under ``after_batch`` once
its use or its batches are over, under ``keep_alive`` once idle long enough, and under
any policy once the registry disables or deletes it.

Pure decisions on a resident the manager reads under its lock; the manager unloads.
"""

from __future__ import annotations

from inference.engine.records import age
from inference.engine.residents import Resident
from inference.engine.specs import ManagerSettings, ModelSpec
from inference.engine.vocabulary import EventCause, EvictionPolicy, ModelStatus


def over_after_use(resident: Resident, settings: ManagerSettings) -> bool:
    """Its last lease was just released and, under ``after_batch``, no batch holds it."""
    return (
        settings.policy == EvictionPolicy.AFTER_BATCH
        and not resident.batches
        and not resident.spec.pinned
    )


def over_after_batch(resident: Resident, settings: ManagerSettings) -> bool:
    """A batch that used it ended and, under ``after_batch``, nothing else holds it."""
    return (
        settings.policy == EvictionPolicy.AFTER_BATCH
        and not resident.batches
        and resident.leases == 0
        and resident.status == ModelStatus.LOADED
        and not resident.spec.pinned
    )


def reap_reason(
    resident: Resident, spec: ModelSpec | None, settings: ManagerSettings, now: float
) -> tuple[str, str] | None:
    """(reason, cause) to unload an idle loaded model, or None to keep it.

    ``spec`` is the registry's entry as it is now (None once deleted), which may differ
    from the one the model was loaded with.
    """
    if spec is None or not spec.enabled:
        why = "deleted from" if spec is None else "disabled in"
        return f"unloaded {resident.spec.name}: {why} the registry", EventCause.REGISTRY
    idle_s = now - resident.last_used_mono
    if (
        settings.policy == EvictionPolicy.KEEP_ALIVE
        and not spec.pinned
        and idle_s >= settings.keep_alive_s
    ):
        return f"unloaded {spec.name}: keep_alive, idle {age(idle_s)}", EventCause.KEEP_ALIVE
    return None
