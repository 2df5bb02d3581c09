"""CPU fallback per kind of model, on a simulated device: a task model (the Model
Management API's) that does not fit the GPU goes to the CPU by default, as that
document's "graceful degradation" has it; a zoo model stays on the GPU unless
``zoo_cpu_fallback`` is on, and one larger than the zoo pool is refused every time
without its state turning to error."""

from __future__ import annotations

import pytest

from fleet.models import ModelEvent, ModelState
from inference.engine.errors import ModelRefused, ModelTooLarge
from inference.engine.specs import ManagerSettings
from models_registry.models import ModelEntry

pytestmark = pytest.mark.subprocess


def entries(*names: str) -> list[ModelEntry]:
    return list(ModelEntry.objects.filter(name__in=names))


def test_by_default_a_task_model_larger_than_the_gpu_budget_runs_on_the_cpu(make_manager):
    rig = make_manager(entries("yolov8l"), total_mb=4096)  # budget 3276 MB; yolov8l 4096 MB

    with rig.manager.acquire("yolov8l") as lease:
        assert lease.device == "cpu"
        assert rig.manager.held_mb() == 0  # nothing counted against the GPU budget

    state = ModelState.objects.get(model__name="yolov8l")
    assert (state.status, state.on_cpu_fallback) == ("loaded", True)
    assert [kind for kind, _, _ in rig.events()] == ["cpu_fallback"]


def test_by_default_a_zoo_model_larger_than_the_pool_is_refused_not_placed_on_the_cpu(
    make_manager,
):
    rig = make_manager(entries("xclip-base"))

    with pytest.raises(ModelTooLarge, match=r"xclip-base needs 2000 MB.*zoo pool of 1650 MB"):
        rig.manager.acquire("xclip-base")

    assert rig.manager.snapshot() == {}
    assert not ModelState.objects.filter(model__name="xclip-base", status="error").exists()


def test_each_refusal_of_a_model_too_large_is_an_event_and_never_an_error(make_manager):
    rig = make_manager(entries("vehicle-damage-detection"))

    for _ in range(3):
        with pytest.raises(ModelTooLarge):
            rig.manager.acquire("vehicle-damage-detection")

    assert [kind for kind, _, _ in rig.events()] == ["refuse"] * 3
    refusal = ModelEvent.objects.filter(model_name="vehicle-damage-detection").first()
    assert refusal is not None and refusal.cause == "refused" and refusal.memory_mb == 2000
    assert not ModelState.objects.filter(
        model__name="vehicle-damage-detection", status="error"
    ).exists()


def test_the_two_settings_apply_each_to_its_own_kind(make_manager):
    settings = ManagerSettings(cpu_fallback=False, zoo_cpu_fallback=True)
    rig = make_manager(entries("xclip-base", "yolov8l"), total_mb=4096, settings=settings)

    with rig.manager.acquire("xclip-base") as lease:
        assert lease.device == "cpu"
    with pytest.raises(ModelTooLarge, match="device budget of 3276 MB"):
        rig.manager.acquire("yolov8l")


def test_a_task_model_without_room_beside_models_in_use_goes_to_the_cpu(make_manager):
    rig = make_manager(entries("yolov8m", "yolov8s"), total_mb=4096)  # budget 3276 MB
    sizes = dict(ModelEntry.objects.filter(name__in=["yolov8m", "yolov8s"]).values_list(
        "name", "vram_mb"
    ))  # fmt: skip
    assert sizes["yolov8m"] + sizes["yolov8s"] > 3276 >= max(sizes.values())

    with rig.manager.acquire("yolov8m"), rig.manager.acquire("yolov8s") as second:
        assert second.device == "cpu"  # the first is in use: nothing can be evicted


def test_without_task_fallback_no_room_is_a_refusal_that_is_retried(make_manager):
    rig = make_manager(
        entries("yolov8m", "yolov8s"), total_mb=4096, settings=ManagerSettings(cpu_fallback=False)
    )

    with rig.manager.acquire("yolov8m"), pytest.raises(ModelRefused) as refused:
        rig.manager.acquire("yolov8s")

    assert not isinstance(refused.value, ModelTooLarge)  # a moment's state, not the model's
    assert ModelState.objects.get(model__name="yolov8s").status == "error"
    with rig.manager.acquire("yolov8s") as lease:  # room once the other is released
        assert lease.device == "sim:0"
