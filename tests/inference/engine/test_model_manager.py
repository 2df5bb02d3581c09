"""The model manager on a simulated device: leases, sequential loads, admission,
eviction, failures, and the database rows that tell the truth about all of it."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from fleet.models import ModelState
from inference.engine.manager import (
    ModelBusy,
    ModelDisabled,
    ModelLoadFailed,
    ModelNotLocal,
    ModelRefused,
)
from models_registry.models import ModelEntry
from tests.fakes import missing_weights, oom

pytestmark = pytest.mark.subprocess  # threads with their own database connections


def zoo(*names: str) -> list[ModelEntry]:
    return list(ModelEntry.objects.filter(name__in=names))


def in_threads(count: int, target) -> list:
    """Run ``target(i)`` in ``count`` threads; collect results or exceptions."""
    results: list = [None] * count

    def run(index: int) -> None:
        try:
            results[index] = target(index)
        except Exception as exc:
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_a_lease_loads_the_model_and_the_database_shows_it(make_manager):
    rig = make_manager(zoo("yolo11-face"))

    with rig.manager.acquire("yolo11-face") as lease:
        assert lease.predict("image")["model"] == "yolo11-face"
        assert rig.states() == {"yolo11-face": ("loaded", 1)}
        state = ModelState.objects.get(model__name="yolo11-face")
        assert state.loaded_at is not None
        assert state.load_duration_s is not None and state.load_duration_s >= 0
        assert state.measured_mb == 1

    assert rig.states() == {"yolo11-face": ("loaded", 0)}
    assert ModelState.objects.get(model__name="yolo11-face").last_used_at is not None
    assert [kind for kind, _, _ in rig.events()] == ["load"]


def test_a_second_use_does_not_load_again(make_manager):
    rig = make_manager(zoo("yolo11-face"))

    with rig.manager.acquire("yolo11-face") as first:
        assert first.cold
    with rig.manager.acquire("yolo11-face") as second:
        assert not second.cold

    assert rig.loader.loads == ["yolo11-face"]


def test_concurrent_acquirers_of_one_model_share_one_load(make_manager):
    rig = make_manager(zoo("vitpose-small"))
    rig.loader.gate = threading.Event()

    def use(_):
        with rig.manager.acquire("vitpose-small") as lease:
            return lease.predict("x")["model"]

    threads_done = []
    runner = threading.Thread(target=lambda: threads_done.append(in_threads(6, use)))
    runner.start()
    rig.loader.started.wait(5)
    rig.loader.gate.set()
    runner.join(30)

    assert threads_done[0] == ["vitpose-small"] * 6
    assert rig.loader.loads == ["vitpose-small"]
    assert rig.states() == {"vitpose-small": ("loaded", 0)}


def test_loads_of_different_models_happen_one_at_a_time(make_manager):
    names = ["yolo11-face", "pet-classifier", "weather-classification", "paddleocr"]
    rig = make_manager(zoo(*names))
    rig.loader.gate = threading.Event()
    threading.Timer(0.3, rig.loader.gate.set).start()

    def use(index):
        with rig.manager.acquire(names[index]):
            return names[index]

    assert sorted(in_threads(4, use)) == sorted(names)
    assert rig.loader.peak_in_flight == 1  # counted inside the loader calls themselves
    assert sorted(rig.loader.loads) == sorted(names)


def test_a_model_in_memory_is_served_while_another_loads(make_manager):
    rig = make_manager(zoo("yolo11-face", "pet-classifier"))
    with rig.manager.acquire("yolo11-face"):
        pass
    rig.loader.gate = threading.Event()
    rig.loader.started.clear()
    loading = threading.Thread(
        target=lambda: in_threads(1, lambda _: rig.manager.acquire("pet-classifier").release())
    )
    loading.start()
    rig.loader.started.wait(5)

    with rig.manager.acquire("yolo11-face") as lease:  # does not wait for the other load
        assert lease.predict("x")["model"] == "yolo11-face"

    rig.loader.gate.set()
    loading.join(10)


def test_a_failed_load_is_an_error_with_its_reason_and_holds_nothing(make_manager):
    rig = make_manager(zoo("yolo11-face"))
    rig.loader.failures["yolo11-face"] = missing_weights("yolo11-face", "/models/face.pt")

    with pytest.raises(ModelLoadFailed, match=r"/models/face\.pt"):
        rig.manager.acquire("yolo11-face")

    state = ModelState.objects.get(model__name="yolo11-face")
    assert (state.status, state.load_count, state.error_count) == ("error", 0, 1)
    assert "/models/face.pt" in state.last_error
    assert rig.manager.snapshot() == {}
    assert rig.manager.held_mb() == 0
    assert rig.backend.allocated_mb == 0
    assert rig.events()[-1][0] == "fail"


def test_a_model_in_error_is_retried_on_its_next_use(make_manager):
    rig = make_manager(zoo("yolo11-face"))
    rig.loader.failures["yolo11-face"] = missing_weights("yolo11-face", "/x.pt")
    with pytest.raises(ModelLoadFailed):
        rig.manager.acquire("yolo11-face")
    del rig.loader.failures["yolo11-face"]

    with rig.manager.acquire("yolo11-face"):
        assert rig.states() == {"yolo11-face": ("loaded", 1)}

    assert rig.loader.loads == ["yolo11-face", "yolo11-face"]
    assert ModelState.objects.get(model__name="yolo11-face").last_error == ""


def test_every_waiter_on_a_failed_load_gets_the_failure_and_no_lease_leaks(make_manager):
    rig = make_manager(zoo("yolo11-face"))
    rig.loader.failures["yolo11-face"] = missing_weights("yolo11-face", "/x.pt")
    rig.loader.gate = threading.Event()
    threading.Timer(0.2, rig.loader.gate.set).start()

    results = in_threads(4, lambda _: rig.manager.acquire("yolo11-face"))

    assert all(isinstance(r, ModelLoadFailed) for r in results)
    assert rig.manager.snapshot() == {}
    assert rig.states() == {"yolo11-face": ("error", 0)}


def test_an_exception_inside_the_block_still_releases_the_lease(make_manager):
    rig = make_manager(zoo("yolo11-face"))

    with pytest.raises(ZeroDivisionError), rig.manager.acquire("yolo11-face"):
        raise ZeroDivisionError

    assert rig.manager.snapshot()["yolo11-face"].leases == 0
    assert rig.states() == {"yolo11-face": ("loaded", 0)}


@pytest.mark.parametrize("big", ["xclip-base", "vehicle-damage-detection"])
def test_a_model_larger_than_the_zoo_pool_is_refused_before_anything_is_evicted(make_manager, big):
    rig = make_manager(zoo("yolo11-face", big))
    rig.manager.acquire("yolo11-face").release()

    with pytest.raises(ModelRefused, match=rf"{big} needs 2000 MB.*zoo pool of 1650 MB"):
        rig.manager.acquire(big)

    assert set(rig.manager.snapshot()) == {"yolo11-face"}
    kinds = [kind for kind, _, _ in rig.events()]
    assert kinds == ["load", "refuse"]
    # Not fitting is a property of the model, not a failure: no red error row.
    assert not ModelState.objects.filter(model__name=big).exclude(status="unloaded").exists()


def test_a_task_model_larger_than_the_device_budget_is_refused_without_cpu_fallback(
    make_manager,
):
    from inference.engine.specs import ManagerSettings

    rig = make_manager(  # budget 80 % = 3276 MB
        zoo("yolov8l"), total_mb=4096, settings=ManagerSettings(cpu_fallback=False)
    )

    with pytest.raises(ModelRefused, match="device budget of 3276 MB"):
        rig.manager.acquire("yolov8l")


@pytest.mark.parametrize("big", ["xclip-base", "vehicle-damage-detection"])
def test_with_zoo_cpu_fallback_a_too_large_model_runs_on_the_cpu(make_manager, big):
    from inference.engine.specs import ManagerSettings

    rig = make_manager(zoo(big), settings=ManagerSettings(zoo_cpu_fallback=True))

    with rig.manager.acquire(big) as lease:
        assert lease.device == "cpu"
        assert lease.predict("x")["model"] == big
        assert rig.manager.held_mb() == 0

    state = ModelState.objects.get(model__name=big)
    assert state.on_cpu_fallback is True
    assert rig.events()[-1][0] == "cpu_fallback"


def test_idle_models_are_evicted_least_recently_used_first(make_manager):
    rig = make_manager(zoo("vitpose-small", "yolo11-face", "pet-classifier", "violence-detection"))
    for name in ("yolo11-face", "pet-classifier", "violence-detection"):
        rig.manager.acquire(name).release()  # 200 + 200 + 500 = 900 MB of 1650
    rig.manager.acquire("pet-classifier").release()  # face is now the least recent

    with rig.manager.acquire("vitpose-small"):  # 1500 MB: needs 750 MB more
        resident = set(rig.manager.snapshot())

    assert resident == {"vitpose-small"} | ({"pet-classifier"} & resident)
    evictions = [reason for kind, _, reason in rig.events() if kind == "evict"]
    assert evictions[0].startswith("evicted yolo11-face (lru, idle")
    assert evictions[0].endswith("200 MB) to fit vitpose-small; freed 200 MB")
    assert rig.manager.held_mb() <= 1650
    assert rig.states()["yolo11-face"] == ("unloaded", 0)


def test_a_model_in_use_is_never_evicted(make_manager):
    rig = make_manager(zoo("vitpose-small", "yolo-world-s"))

    with (
        rig.manager.acquire("vitpose-small"),
        pytest.raises(ModelRefused, match="1500 MB held by models in use"),
    ):
        rig.manager.acquire("yolo-world-s")

    assert set(rig.manager.snapshot()) == {"vitpose-small"}
    assert rig.loader.closed == []


def test_pinned_models_stay_and_low_priority_goes_first(make_manager):
    rig = make_manager(zoo("yolo11-face", "pet-classifier", "violence-detection", "clip-vit-l"))
    rig.specs.set("yolo11-face", pinned=True)
    for name in ("yolo11-face", "pet-classifier", "violence-detection"):
        rig.manager.acquire(name).release()  # 900 MB; the face model is least recent
    rig.specs.set("violence-detection", priority=-1)
    rig.manager.acquire("violence-detection").release()  # a use picks up the new priority

    rig.manager.acquire("clip-vit-l").release()  # 800 MB: one eviction makes room

    assert set(rig.manager.snapshot()) == {"yolo11-face", "pet-classifier", "clip-vit-l"}
    evicted = [model for kind, model, _ in rig.events() if kind == "evict"]
    assert evicted == ["violence-detection"]


def test_after_batch_unloads_a_model_when_its_batch_ends(make_manager):
    from inference.engine.specs import ManagerSettings

    rig = make_manager(zoo("yolo11-face"), settings=ManagerSettings(policy="after_batch"))

    rig.manager.acquire("yolo11-face", batch="b1").release()
    assert "yolo11-face" in rig.manager.snapshot()  # the batch is still going
    rig.manager.end_batch("b1")

    assert rig.manager.snapshot() == {}
    assert rig.states() == {"yolo11-face": ("unloaded", 0)}
    assert rig.events()[-1][2] == "after_batch: batch b1 finished; freed 200 MB"


def test_keep_alive_unloads_models_idle_too_long(make_manager):
    from inference.engine.specs import ManagerSettings

    now = [1000.0]
    rig = make_manager(
        zoo("yolo11-face", "pet-classifier"),
        settings=ManagerSettings(policy="keep_alive", keep_alive_s=60),
        clock=lambda: now[0],
    )
    rig.manager.acquire("yolo11-face").release()
    now[0] += 30
    rig.manager.acquire("pet-classifier").release()
    now[0] += 40  # face idle 70 s, pet idle 40 s

    assert rig.manager.reap() == ["yolo11-face"]
    assert set(rig.manager.snapshot()) == {"pet-classifier"}
    assert "keep_alive, idle 70 s" in rig.events()[-1][2]


def test_a_load_that_measures_past_the_room_left_is_undone(make_manager):
    from inference.engine.specs import ManagerSettings

    rig = make_manager(
        zoo("yolo11-face", "vitpose-small"),
        total_mb=3000,
        settings=ManagerSettings(offload_threshold=1.0, zoo_pool_mb=3000),
    )
    rig.loader.sizes["vitpose-small"] = 2900  # measures far above its 1500 MB estimate
    rig.specs.set("yolo11-face", pinned=True)
    rig.manager.acquire("yolo11-face").release()

    with pytest.raises(ModelLoadFailed) as failure:
        rig.manager.acquire("vitpose-small")

    assert "vitpose-small" not in rig.manager.snapshot()
    assert rig.manager.held_mb() == 200
    assert rig.backend.allocated_mb == 200
    assert rig.states()["vitpose-small"][0] == "error"
    assert "no room for vitpose-small (2900 MB)" in str(failure.value)


def test_a_simulated_gpu_out_of_memory_is_reported_as_such(make_manager):
    from inference.engine.specs import ManagerSettings

    rig = make_manager(
        zoo("yolo11-face"), total_mb=100, settings=ManagerSettings(offload_threshold=5.0)
    )  # a budget (500 MB) the device cannot back

    with pytest.raises(ModelLoadFailed) as failure:
        rig.manager.acquire("yolo11-face")

    assert failure.value.out_of_memory
    state = ModelState.objects.get(model__name="yolo11-face")
    assert state.last_error.startswith("Out of memory while loading yolo11-face on sim:0")
    assert rig.backend.allocated_mb == 0


def test_out_of_memory_while_running_marks_error_and_unloads_after_release(make_manager):
    rig = make_manager(zoo("yolo11-face"))
    rig.loader.run_faults["yolo11-face"] = oom()

    with rig.manager.acquire("yolo11-face") as lease:
        with pytest.raises(ModelLoadFailed, match="Out of memory while running yolo11-face"):
            lease.predict("x")
        assert rig.states()["yolo11-face"] == ("error", 1)

    assert rig.manager.snapshot() == {}
    assert rig.manager.held_mb() == 0
    assert rig.states()["yolo11-face"] == ("error", 0)


def test_a_model_measured_larger_than_its_estimate_counts_at_its_measure(make_manager):
    rig = make_manager(zoo("yolo11-face", "pet-classifier"))
    rig.loader.sizes["yolo11-face"] = 450

    rig.manager.acquire("yolo11-face").release()
    assert rig.manager.held_mb() == 450
    rig.manager.unload("yolo11-face")
    rig.manager.acquire("yolo11-face").release()

    assert rig.manager.snapshot()["yolo11-face"].held_mb == 450
    assert ModelState.objects.get(model__name="yolo11-face").measured_mb == 450


def test_unloading_a_model_in_use_is_refused_or_waits_for_its_release(make_manager):
    rig = make_manager(zoo("yolo11-face"))
    lease = rig.manager.acquire("yolo11-face")

    with pytest.raises(ModelBusy, match="in use"):
        rig.manager.unload("yolo11-face")

    threading.Timer(0.2, lease.release).start()
    assert rig.manager.unload("yolo11-face", wait_s=5) is True
    assert rig.manager.snapshot() == {}
    assert rig.states() == {"yolo11-face": ("unloaded", 0)}


def test_disabled_models_are_refused_and_unloaded_when_idle(make_manager):
    rig = make_manager(zoo("yolo11-face", "florence-2-large"))
    with pytest.raises(ModelDisabled, match="ai-florence"):
        rig.manager.acquire("florence-2-large")

    rig.manager.acquire("yolo11-face").release()
    rig.specs.set("yolo11-face", enabled=False)

    assert rig.manager.reap() == ["yolo11-face"]
    with pytest.raises(ModelDisabled):
        rig.manager.acquire("yolo11-face")


def test_external_models_are_never_loaded(make_manager):
    rig = make_manager(zoo("claude", "llama-4-scout"))

    for name in ("claude", "llama-4-scout"):
        with pytest.raises(ModelNotLocal):
            rig.manager.acquire(name)

    assert rig.loader.loads == []
    assert rig.states() == {}


def test_releasing_twice_counts_once(make_manager):
    rig = make_manager(zoo("yolo11-face"))
    first = rig.manager.acquire("yolo11-face")
    second = rig.manager.acquire("yolo11-face")

    first.release()
    first.release()

    assert rig.manager.snapshot()["yolo11-face"].leases == 1
    second.release()


def test_only_the_victims_a_load_needs_are_evicted(make_manager):
    rig = make_manager(zoo("depth-anything-v2-small", "vitpose-small", "segformer-b2-clothes"))
    rig.manager.acquire("depth-anything-v2-small").release()  # 150 MB, least recent
    rig.manager.acquire("vitpose-small").release()  # 1500 MB

    rig.manager.acquire("segformer-b2-clothes").release()  # 1500 MB: vitpose must go

    assert set(rig.manager.snapshot()) == {"depth-anything-v2-small", "segformer-b2-clothes"}
    assert [m for kind, m, _ in rig.events() if kind == "evict"] == ["vitpose-small"]
