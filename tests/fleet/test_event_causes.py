"""Every decision the manager logs carries a cause, and the running tallies behind
the Prometheus counters add up the log exactly; loads and inferences reach the hooks
the latency recorder hangs on."""

from __future__ import annotations

import pytest

from fleet.models import EventTally, ModelEvent
from inference.engine.manager import ModelLoadFailed, ModelRefused
from models_registry.models import ModelEntry
from tests.fakes import missing_weights, oom

pytestmark = pytest.mark.subprocess  # the manager's sink writes from its own thread


def zoo(*names: str) -> list[ModelEntry]:
    return list(ModelEntry.objects.filter(name__in=names))


def tallies() -> dict[tuple[str, str], int]:
    """The tallies summed over models, by (kind, cause)."""
    summed: dict[tuple[str, str], int] = {}
    for tally in EventTally.objects.all():
        summed[(tally.kind, tally.cause)] = summed.get((tally.kind, tally.cause), 0) + tally.count
    return summed


def test_each_kind_of_decision_is_logged_and_counted_with_its_cause(make_manager):
    loads, inferences = [], []
    rig = make_manager(
        zoo(
            "vitpose-small", "yolo11-face", "pet-classifier", "xclip-base", "weather-classification"
        ),
        on_load=lambda spec, device, seconds: loads.append((spec.name, device, seconds)),
        on_inference=lambda spec, device, seconds, cold: inferences.append((spec.name, cold)),
    )
    for name in ("yolo11-face", "pet-classifier"):
        with rig.manager.acquire(name) as lease:
            lease.predict("image")
    with rig.manager.acquire("yolo11-face") as lease:
        lease.predict("image")
    rig.manager.acquire("vitpose-small").release()  # 1500 MB: evicts the two others
    with pytest.raises(ModelRefused):
        rig.manager.acquire("xclip-base")  # 2000 MB, larger than the pool
    rig.loader.failures["weather-classification"] = missing_weights("weather", "/x.pt")
    with pytest.raises(ModelLoadFailed):
        rig.manager.acquire("weather-classification")
    rig.loader.run_faults["vitpose-small"] = oom()
    with pytest.raises(ModelLoadFailed), rig.manager.acquire("vitpose-small") as lease:
        lease.predict("image")  # a fault while running: error, then unloaded
    rig.manager.acquire("yolo11-face").release()
    rig.manager.unload("yolo11-face")

    logged = list(ModelEvent.objects.order_by("id").values_list("kind", "cause"))
    assert logged == [
        ("load", "loaded"), ("load", "loaded"),
        ("evict", "make_room"), ("evict", "make_room"), ("load", "loaded"),
        ("refuse", "refused"),
        ("evict", "make_room"), ("fail", "load_error"),  # room was made, then the load failed
        ("load", "loaded"), ("fail", "inference_fault"), ("unload", "fault"),
        ("load", "loaded"), ("unload", "request"),
    ]  # fmt: skip
    expected: dict[tuple[str, str], int] = {}
    for kind, cause in logged:
        expected[(kind, cause)] = expected.get((kind, cause), 0) + 1
    assert tallies() == expected

    assert [name for name, _, _ in loads] == [
        "yolo11-face", "pet-classifier", "vitpose-small", "vitpose-small", "yolo11-face",
    ]  # fmt: skip
    assert all(device == "sim:0" and seconds >= 0 for _, device, seconds in loads)
    assert inferences == [("yolo11-face", True), ("pet-classifier", True), ("yolo11-face", False)]
