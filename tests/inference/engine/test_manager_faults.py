"""Every exit path leaves the manager's books true: an exception raised at any step of a
load, an eviction, an unload, a release or a predict (a soft time limit, an interrupt, an
ordinary failure of the edge) leaves no phantom memory in the manager or the device
ledger, no held lock or load slot, no model stuck ``loading``, no lease miscounted, and
the next load that fits goes through without waiting."""

from __future__ import annotations

import pytest
from celery.exceptions import SoftTimeLimitExceeded

from fleet.models import ModelState
from inference.engine.manager import ModelLoadFailed
from models_registry.models import ModelEntry
from tests.fakes import oom
from tests.inference.engine.faults import (
    Faults,
    FaultyLoader,
    InjectedFault,
    assert_books_true,
    counted_on_device,
    wire,
    within,
)

pytestmark = pytest.mark.subprocess  # threads with their own database connections

NAMES = ("clip-vit-l", "vitpose-small", "yolo11-face")
ERRORS = {
    "time limit": lambda: SoftTimeLimitExceeded("soft time limit exceeded"),
    "interrupt": KeyboardInterrupt,
    "failure": lambda: InjectedFault("the edge failed"),
}


@pytest.fixture
def rig(make_manager):
    """clip-vit-l (800 MB) loaded and idle in the 1,650 MB zoo pool: loading
    vitpose-small (1,500 MB) must evict it first."""
    faults = Faults()
    built = make_manager(
        list(ModelEntry.objects.filter(name__in=NAMES)), loader=FaultyLoader(faults)
    )
    wire(built.backend, built.sink, faults)
    built.faults = faults
    built.manager.acquire("clip-vit-l").release()
    assert counted_on_device(built.manager) == {"clip-vit-l": 800}
    return built


def raised_by(action) -> BaseException:
    """What ``action()`` raised (it must raise, and must not hang)."""
    try:
        within(10, action)
    except BaseException as exc:
        return exc
    raise AssertionError("nothing was raised")


def until(condition) -> None:
    import time

    while not condition():
        time.sleep(0.01)


def caused_by(exc: BaseException, cause: type[BaseException]) -> bool:
    while exc is not None:
        if isinstance(exc, cause):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def assert_rows_true(rig) -> None:
    """What both APIs read: every row agrees with the manager, none says ``loading``."""
    shown = rig.manager.snapshot()
    for name, (status, load_count) in rig.states().items():
        assert status != "loading", name
        view = shown.get(name)
        if view is None:
            assert status in ("unloaded", "error") and load_count == 0, name
        else:
            assert (status, load_count) == (view.status, view.leases), name


def assert_next_load_works(rig) -> None:
    """A 200 MB model fits whatever is left; its load must go through, promptly."""
    within(10, lambda: rig.manager.acquire("yolo11-face").release())
    assert rig.manager.snapshot()["yolo11-face"].status == "loaded"
    assert_books_true(rig.manager, rig.backend)
    assert_rows_true(rig)


def assert_true_after(rig) -> None:
    assert not rig.faults.armed(), "the injected fault never fired"
    assert_books_true(rig.manager, rig.backend)
    assert_rows_true(rig)
    assert all(view.leases == 0 for view in rig.manager.snapshot().values())
    assert_next_load_works(rig)


@pytest.mark.parametrize("error", ERRORS.values(), ids=ERRORS.keys())
@pytest.mark.parametrize(
    "point",
    ["loader", "on_loaded", "on_loaded.after", "transition"],
    ids=["in the loader", "before the device takes it", "during the bus transfer", "loading"],
)
def test_a_load_interrupted_before_it_is_done_holds_nothing(rig, point, error):
    rig.faults.arm(point, error, model="vitpose-small")

    exc = raised_by(lambda: rig.manager.acquire("vitpose-small"))

    assert caused_by(exc, type(error()))
    assert "vitpose-small" not in rig.manager.snapshot()
    assert rig.backend.ledger == {}  # clip-vit-l was evicted, the load undone
    assert ModelState.objects.get(model__name="vitpose-small").status == "error"
    assert_true_after(rig)


@pytest.mark.parametrize("error", ERRORS.values(), ids=ERRORS.keys())
def test_a_load_interrupted_while_writing_its_outcome_stays_loaded_and_unleased(rig, error):
    rig.faults.arm("event", error, model="vitpose-small")

    exc = raised_by(lambda: rig.manager.acquire("vitpose-small"))

    assert caused_by(exc, type(error()))
    view = rig.manager.snapshot()["vitpose-small"]
    assert (view.status, view.leases, view.held_mb) == ("loaded", 0, 1500)
    assert rig.backend.ledger == {"vitpose-small": 1500}
    assert_true_after(rig)


@pytest.mark.parametrize("error", ERRORS.values(), ids=ERRORS.keys())
@pytest.mark.parametrize(
    "point",
    ["close", "on_unloaded", "transition", "event"],
    ids=["closing it", "device reclaiming", "writing its row", "logging it"],
)
def test_an_eviction_interrupted_at_any_step_leaves_no_phantom_memory(rig, point, error):
    rig.faults.arm(point, error, model="clip-vit-l")

    exc = raised_by(lambda: rig.manager.acquire("vitpose-small"))

    assert caused_by(exc, type(error()))
    assert "vitpose-small" not in rig.manager.snapshot()
    assert ModelState.objects.get(model__name="vitpose-small").status == "error"
    assert_true_after(rig)


def test_a_victim_whose_tensors_cannot_be_released_stays_counted_in_error(rig):
    rig.faults.arm("close", lambda: RuntimeError("close failed"), model="clip-vit-l", times=-1)

    exc = raised_by(lambda: rig.manager.acquire("vitpose-small"))

    assert caused_by(exc, RuntimeError)
    view = rig.manager.snapshot()["clip-vit-l"]
    assert (view.status, view.held_mb) == ("error", 800)
    assert rig.backend.ledger == {"clip-vit-l": 800}
    assert "vitpose-small" not in rig.manager.snapshot()
    rig.faults.disarm()
    assert_true_after(rig)
    # Once it closes, it goes, and the model that needed its room loads.
    within(10, lambda: rig.manager.acquire("vitpose-small").release())
    assert "clip-vit-l" not in rig.manager.snapshot()
    assert_books_true(rig.manager, rig.backend)


def test_a_failed_load_whose_model_cannot_be_closed_stays_counted_until_it_closes(rig):
    rig.faults.arm("on_loaded.after", lambda: SoftTimeLimitExceeded("soft time limit exceeded"))
    rig.faults.arm("close", lambda: InjectedFault("close failed"), model="vitpose-small", times=-1)

    exc = raised_by(lambda: rig.manager.acquire("vitpose-small"))

    assert caused_by(exc, SoftTimeLimitExceeded)
    view = rig.manager.snapshot()["vitpose-small"]
    assert (view.status, view.leases, view.held_mb) == ("error", 0, 1500)
    assert rig.backend.ledger == {"vitpose-small": 1500}
    assert ModelState.objects.get(model__name="vitpose-small").status == "error"
    rig.faults.disarm()
    assert_true_after(rig)  # the 200 MB model needs its room: it is closed again, and goes
    assert "vitpose-small" not in rig.manager.snapshot()


@pytest.mark.parametrize("error", ERRORS.values(), ids=ERRORS.keys())
@pytest.mark.parametrize("point", ["close", "on_unloaded", "transition", "event"])
def test_an_unload_interrupted_at_any_step_leaves_no_phantom_memory(rig, point, error):
    rig.faults.arm(point, error, model="clip-vit-l")

    exc = raised_by(lambda: rig.manager.unload("clip-vit-l"))

    assert caused_by(exc, type(error()))
    assert_true_after(rig)


@pytest.mark.parametrize("error", ERRORS.values(), ids=ERRORS.keys())
def test_a_use_interrupted_while_its_lease_is_written_holds_no_lease(rig, error):
    rig.faults.arm("usage", error, model="clip-vit-l")

    exc = raised_by(lambda: rig.manager.acquire("clip-vit-l"))

    assert caused_by(exc, type(error()))
    assert rig.manager.snapshot()["clip-vit-l"].leases == 0
    assert_true_after(rig)


@pytest.mark.parametrize("error", ERRORS.values(), ids=ERRORS.keys())
def test_a_release_interrupted_while_it_is_written_counts_once(rig, error):
    lease = rig.manager.acquire("clip-vit-l")
    rig.faults.arm("usage", error, model="clip-vit-l")

    exc = raised_by(lease.release)
    lease.release()  # a second release (a ``with`` block's, say) changes nothing

    assert caused_by(exc, type(error()))
    assert rig.manager.snapshot()["clip-vit-l"].leases == 0
    assert_true_after(rig)


@pytest.mark.parametrize(
    "error",
    [*ERRORS.values(), oom],
    ids=[*ERRORS.keys(), "out of memory"],
)
def test_a_predict_interrupted_releases_its_lease_and_leaves_the_books_true(rig, error):
    rig.faults.arm("predict", error, model="clip-vit-l")

    def use() -> None:
        with rig.manager.acquire("clip-vit-l") as lease:
            lease.predict("frame")

    exc = raised_by(use)

    assert caused_by(exc, type(error()))
    if isinstance(error(), type(oom())):
        assert isinstance(exc, ModelLoadFailed) and exc.out_of_memory
        assert "clip-vit-l" not in rig.manager.snapshot()  # unusable: unloaded on release
    else:
        assert rig.manager.snapshot()["clip-vit-l"].status == "loaded"
    assert_true_after(rig)


def test_waiters_on_an_interrupted_load_get_its_failure_and_hold_nothing(rig):
    import threading

    rig.loader.gate = threading.Event()
    rig.loader.started.clear()
    rig.faults.arm("on_loaded", lambda: SoftTimeLimitExceeded("soft time limit exceeded"))
    loading = threading.Thread(target=lambda: raised_by(lambda: rig.manager.acquire("yolo11-face")))
    loading.start()
    rig.loader.started.wait(5)
    waiter = threading.Thread(target=lambda: waited.append(raised_by(wait)))
    waited: list[BaseException] = []

    def wait() -> None:
        rig.manager.acquire("yolo11-face")

    waiter.start()
    within(5, lambda: until(lambda: rig.manager.snapshot()["yolo11-face"].leases == 2))
    rig.loader.gate.set()
    loading.join(10)
    waiter.join(10)

    assert not loading.is_alive() and not waiter.is_alive()
    assert isinstance(waited[0], ModelLoadFailed)
    rig.loader.gate = None
    assert_true_after(rig)
