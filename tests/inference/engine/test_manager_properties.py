"""A stateful property test: random acquire / release / unload / enable / disable /
failing-load sequences, run from several threads at once against a manager on a
simulated device, with exceptions injected at random steps (the loader, the device, a
sink write, a model's close or predict: a soft time limit, an interrupt, a failure),
checked after every step against the manager's invariants: its books stay true."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.db import connection
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from fleet.models import LEGAL_TRANSITIONS, ModelState, ModelStatus
from inference.engine.devices import SimulatedBackend
from inference.engine.loaders.base import LoadedModel
from inference.engine.manager import ManagerError, ModelManager
from inference.engine.specs import ManagerSettings, ModelSpec
from inference.runtime.state import DatabaseStateSink
from models_registry.models import ModelEntry
from tests.fakes import DictSpecs, missing_weights
from tests.inference.engine.faults import (
    POINTS,
    Faults,
    FaultyLoader,
    InjectedFault,
    counted_on_device,
)

pytestmark = pytest.mark.subprocess

MODELS = [
    "yolo11-face", "pet-classifier", "violence-detection", "clip-vit-l", "vitpose-small",
    "xclip-base", "yolov8n", "yolov8s", "yolov8m", "groundingdino",
]  # fmt: skip
TOTAL_MB = 4000
# No CPU fallback: every model stays on the simulated device, whose budget is the point.
SETTINGS = ManagerSettings(offload_threshold=0.8, zoo_pool_mb=1650, cpu_fallback=False)
BUDGET = int(TOTAL_MB * SETTINGS.offload_threshold)
LOAD_S = 0.05  # how long each fake load takes
INJECTED = (SoftTimeLimitExceeded, KeyboardInterrupt, InjectedFault)
ERRORS = {
    "time limit": lambda: SoftTimeLimitExceeded("soft time limit exceeded"),
    "interrupt": KeyboardInterrupt,
    "failure": lambda: InjectedFault("the edge failed"),
}


class CheckingBackend(SimulatedBackend):
    """The simulated GPU, also checking the zoo pool whenever memory is taken, and failing
    where the faults say."""

    def __init__(self, zoo: set[str], faults: Faults):
        super().__init__("sim:7", TOTAL_MB)
        self.zoo = zoo
        self.faults = faults
        self.violations: list[str] = []

    def on_unloaded(self, name: str, mark: int = 0) -> int | None:
        self.faults.check("on_unloaded", name)
        return super().on_unloaded(name, mark)

    def on_loaded(self, name: str, held_mb: int) -> None:
        self.faults.check("on_loaded", name)
        super().on_loaded(name, held_mb)
        self.check_pool(name)
        self.faults.check("on_loaded.after", name)

    def check_pool(self, name: str) -> None:
        with self._lock:
            total = sum(self.ledger.values())
            pool = sum(mb for key, mb in self.ledger.items() if key in self.zoo)
        if total > BUDGET:
            self.violations.append(f"budget: {total} MB > {BUDGET} MB after {name}")
        if pool > SETTINGS.zoo_pool_mb:
            self.violations.append(f"pool: {pool} MB > {SETTINGS.zoo_pool_mb} MB after {name}")


class RecordingSink(DatabaseStateSink):
    """The real database sink, also checking every status change it is asked to write,
    and failing where the faults say (before writing anything)."""

    def __init__(self, *args: Any, faults: Faults, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.faults = faults
        self.last: dict[str, str] = {}
        self.illegal: list[str] = []

    def usage(self, spec, load_count, last_used_at):
        self.faults.check("usage", spec.name)
        super().usage(spec, load_count, last_used_at)

    def event(self, spec, *args, **kwargs):
        self.faults.check("event", spec.name)
        super().event(spec, *args, **kwargs)

    def transition(self, spec, **fields):
        self.faults.check("transition", spec.name)
        status = fields.get("status")
        if status is not None:
            before = self.last.get(spec.name, ModelStatus.UNLOADED)
            if (before, status) not in LEGAL_TRANSITIONS:
                self.illegal.append(f"{spec.name}: {before} → {status}")
            self.last[spec.name] = status
        super().transition(spec, **fields)


class LeaseTrackingLoader(FaultyLoader):
    """Records any model closed (evicted or unloaded) while the test still holds a lease,
    and when each load ran, so that two loads overlapping in time show; fails where the
    faults say (the load, a model's close or predict)."""

    def __init__(self, machine: ManagerMachine):
        super().__init__(machine.faults)
        self.machine = machine
        self.evicted_in_use: list[str] = []
        self.load_intervals: list[tuple[float, float, str]] = []
        self._intervals_lock = threading.Lock()

    def __call__(self, spec: ModelSpec, device: str) -> LoadedModel:
        started = time.monotonic()
        try:
            # A real load takes a while; an instant one would rarely overlap another even
            # if the manager let two run at once, and the check below would prove nothing.
            time.sleep(LOAD_S)
            return super().__call__(spec, device)
        finally:
            with self._intervals_lock:
                self.load_intervals.append((started, time.monotonic(), spec.name))

    def overlapping_loads(self) -> list[str]:
        with self._intervals_lock:
            intervals = sorted(self.load_intervals)
        return [
            f"{name} started before {before} ended"
            for (_, before_end, before), (start, _, name) in itertools.pairwise(intervals)
            if start < before_end
        ]

    def closing(self, name: str) -> None:
        if any(lease.spec.name == name for lease in self.machine.held_leases()):
            self.evicted_in_use.append(name)


class ManagerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self._leases: list[Any] = []
        self._leases_lock = threading.Lock()
        self.faults = Faults()
        self.unexpected: list[str] = []
        entries = list(ModelEntry.objects.filter(name__in=MODELS))
        self.zoo = {e.name for e in entries if e.in_zoo}
        self.backend = CheckingBackend(self.zoo, self.faults)
        self.specs = DictSpecs(entries, SETTINGS)
        self.sink = RecordingSink(
            self.backend,
            budget_mb=BUDGET,
            host="prop-host",
            worker="prop",
            flush_interval=0.01,
            faults=self.faults,
        )
        ModelState.objects.filter(device=self.sink.device).delete()
        self.loader = LeaseTrackingLoader(self)
        original_close = _patch_close(self.loader)
        self._restore = original_close
        self.manager = ModelManager(
            self.backend, specs=self.specs, sink=self.sink, loader=self.loader
        )

    def held_leases(self) -> list[Any]:
        with self._leases_lock:
            return list(self._leases)

    @initialize(sizes=st.dictionaries(st.sampled_from(MODELS), st.integers(1, 2600), max_size=4))
    def measured_sizes(self, sizes: dict[str, int]) -> None:
        """Some models measure larger (or smaller) than their estimate."""
        self.loader.sizes.update(sizes)

    @rule(
        ops=st.lists(
            st.one_of(
                st.tuples(st.just("acquire"), st.sampled_from(MODELS)),
                st.tuples(st.just("release"), st.integers(0, 50)),
                st.tuples(st.just("unload"), st.sampled_from(MODELS)),
                st.tuples(st.just("reap"), st.just("")),
            ),
            min_size=1,
            max_size=5,
        )
    )
    def concurrent_operations(self, ops: list[tuple[str, Any]]) -> None:
        """Several operations at once, each from its own thread."""
        with self._leases_lock:
            to_release = {
                index: self._leases.pop(index % len(self._leases))
                for index, (op, arg) in enumerate(ops)
                if op == "release" and self._leases
            }

        def run(index: int, op: str, arg: Any) -> None:
            try:
                if op == "acquire":
                    self.use(arg)
                elif op == "release" and index in to_release:
                    to_release[index].release()
                elif op == "unload":
                    self.manager.unload(arg)
                elif op == "reap":
                    self.manager.reap()
            except ManagerError:
                pass  # refusals, failures, disabled and busy are answers, not bugs
            except BaseException as exc:  # only what was injected may come out
                if not _injected(exc):
                    self.unexpected.append(f"{op} {arg}: {type(exc).__name__}: {exc}")
            finally:
                connection.close()

        threads = [
            threading.Thread(target=run, args=(i, op, arg)) for i, (op, arg) in enumerate(ops)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
            assert not thread.is_alive(), "an operation hung"
        for point, _ in self.faults.take_fired():
            event(f"a fault fired: {point}")  # shown by --hypothesis-show-statistics

    def use(self, name: str) -> None:
        """Acquire and run the model, keeping the lease; a failed run gives it back."""
        lease = self.manager.acquire(name)
        try:
            lease.predict("frame")
        except BaseException:
            lease.release()
            raise
        with self._leases_lock:
            self._leases.append(lease)

    @rule(
        point=st.sampled_from(POINTS),
        # Mostly any model: a fault for one model fires only when that model is touched.
        model=st.one_of(st.none(), st.none(), st.none(), st.sampled_from(MODELS)),
        error=st.sampled_from(sorted(ERRORS)),
    )
    def inject_a_fault(self, point: str, model: str | None, error: str) -> None:
        """The next call of ``point`` (for ``model``, or any) raises, at whatever step of
        whichever operation makes it."""
        self.faults.arm(point, ERRORS[error], model=model)

    @rule(name=st.sampled_from(MODELS), enabled=st.booleans())
    def enable_or_disable(self, name: str, enabled: bool) -> None:
        self.specs.set(name, enabled=enabled)

    @rule(name=st.sampled_from(MODELS), failing=st.booleans())
    def break_or_mend_weights(self, name: str, failing: bool) -> None:
        if failing:
            self.loader.failures[name] = missing_weights(name, f"/models/{name}.pt")
        else:
            self.loader.failures.pop(name, None)

    @invariant()
    def budget_and_pool_never_exceeded(self) -> None:
        assert self.backend.violations == []
        assert self.backend.peak_mb <= BUDGET
        assert self.manager.held_mb() <= BUDGET

    @invariant()
    def at_most_one_load_in_flight(self) -> None:
        # Seen from the loader calls themselves, not from the manager's own count, which
        # is taken under its load slot and so is at most one by construction.
        assert self.loader.peak_in_flight <= 1
        assert self.loader.overlapping_loads() == []

    @invariant()
    def no_leased_model_evicted(self) -> None:
        assert self.loader.evicted_in_use == []

    @invariant()
    def only_legal_transitions(self) -> None:
        assert self.sink.illegal == []

    @invariant()
    def leases_match_what_the_test_holds(self) -> None:
        held: dict[str, int] = {}
        for lease in self.held_leases():
            held[lease.spec.name] = held.get(lease.spec.name, 0) + 1
        snapshot = self.manager.snapshot()
        assert {name: view.leases for name, view in snapshot.items() if view.leases} == held

    @invariant()
    def only_injected_exceptions_escape(self) -> None:
        assert self.unexpected == []

    @invariant()
    def the_ledger_holds_what_the_residents_hold(self) -> None:
        # No operation is in flight between steps: no phantom memory anywhere.
        counted = counted_on_device(self.manager)
        assert self.backend.ledger == counted
        assert self.manager.held_mb() == sum(counted.values())

    @invariant()
    def nothing_is_left_loading_and_the_load_slot_is_free(self) -> None:
        snapshot = self.manager.snapshot()
        assert [n for n, v in snapshot.items() if v.status == ModelStatus.LOADING] == []
        assert not self.manager._load_slot.locked()
        assert self.manager._lock.acquire(timeout=5)
        self.manager._lock.release()

    @invariant()
    def database_rows_equal_the_managers_state(self) -> None:
        self.sink.flush()
        snapshot = self.manager.snapshot()
        rows = {
            r.model.name: r
            for r in ModelState.objects.filter(device=self.sink.device).select_related("model")
        }
        for name in MODELS:
            row = rows.get(name)
            view = snapshot.get(name)
            if view is None:
                assert row is None or (row.status in ("unloaded", "error") and row.load_count == 0)
            else:
                assert row is not None
                assert (row.status, row.load_count) == (view.status, view.leases), name

    def teardown(self) -> None:
        self.faults.disarm()
        for lease in self.held_leases():
            lease.release()
        self._leases.clear()
        try:
            assert all(view.leases == 0 for view in self.manager.snapshot().values())
        finally:
            self.sink.stop()
            self._restore()


def _injected(exc: BaseException | None) -> bool:
    """Whether the exception is, or comes from, one the faults raised."""
    while exc is not None:
        if isinstance(exc, INJECTED):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _patch_close(loader: LeaseTrackingLoader):
    """Make every fake model report its closing to the loader (eviction check)."""
    from tests import fakes

    original = fakes.FakeModel.close

    def close(model: fakes.FakeModel) -> None:
        if isinstance(model.loader, LeaseTrackingLoader):
            model.loader.closing(model.spec.name)
        original(model)

    fakes.FakeModel.close = close  # type: ignore[method-assign]

    def restore() -> None:
        fakes.FakeModel.close = original  # type: ignore[method-assign]

    return restore


def test_the_manager_keeps_its_invariants_under_concurrent_random_use(
    django_db_serialized_rollback, transactional_db
):
    run_state_machine_as_test(
        ManagerMachine,
        settings=settings(
            max_examples=50,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
