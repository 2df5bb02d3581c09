"""A stateful property test: random acquire / release / unload / enable / disable /
failing-load sequences, run from several threads at once against a manager on a
simulated device, checked after every step against the manager's invariants."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import pytest
from django.db import connection
from hypothesis import HealthCheck, settings
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
from tests.fakes import DictSpecs, FakeLoader, missing_weights

pytestmark = pytest.mark.subprocess

MODELS = [
    "yolo11-face", "pet-classifier", "violence-detection", "clip-vit-l", "vitpose-small",
    "xclip-base", "yolov8n", "yolov8s", "yolov8m", "groundingdino",
]  # fmt: skip
TOTAL_MB = 4000
SETTINGS = ManagerSettings(offload_threshold=0.8, zoo_pool_mb=1650)
BUDGET = int(TOTAL_MB * SETTINGS.offload_threshold)
LOAD_S = 0.05  # how long each fake load takes


class CheckingBackend(SimulatedBackend):
    """The simulated GPU, also checking the zoo pool whenever memory is taken."""

    def __init__(self, zoo: set[str]):
        super().__init__("sim:7", TOTAL_MB)
        self.zoo = zoo
        self.violations: list[str] = []

    def on_loaded(self, name: str, held_mb: int) -> None:
        super().on_loaded(name, held_mb)
        with self._lock:
            total = sum(self.ledger.values())
            pool = sum(mb for key, mb in self.ledger.items() if key in self.zoo)
        if total > BUDGET:
            self.violations.append(f"budget: {total} MB > {BUDGET} MB after {name}")
        if pool > SETTINGS.zoo_pool_mb:
            self.violations.append(f"pool: {pool} MB > {SETTINGS.zoo_pool_mb} MB after {name}")


class RecordingSink(DatabaseStateSink):
    """The real database sink, also checking every status change it is asked to write."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.last: dict[str, str] = {}
        self.illegal: list[str] = []

    def transition(self, spec, **fields):
        status = fields.get("status")
        if status is not None:
            before = self.last.get(spec.name, ModelStatus.UNLOADED)
            if (before, status) not in LEGAL_TRANSITIONS:
                self.illegal.append(f"{spec.name}: {before} → {status}")
            self.last[spec.name] = status
        super().transition(spec, **fields)


class LeaseTrackingLoader(FakeLoader):
    """Records any model closed (evicted or unloaded) while the test still holds a lease,
    and when each load ran, so that two loads overlapping in time show."""

    def __init__(self, machine: ManagerMachine):
        super().__init__()
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
        entries = list(ModelEntry.objects.filter(name__in=MODELS))
        self.zoo = {e.name for e in entries if e.in_zoo}
        self.backend = CheckingBackend(self.zoo)
        self.specs = DictSpecs(entries, SETTINGS)
        self.sink = RecordingSink(
            self.backend, budget_mb=BUDGET, host="prop-host", worker="prop", flush_interval=0.01
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
                    lease = self.manager.acquire(arg)
                    lease.predict("frame")
                    with self._leases_lock:
                        self._leases.append(lease)
                elif op == "release" and index in to_release:
                    to_release[index].release()
                elif op == "unload":
                    self.manager.unload(arg)
                elif op == "reap":
                    self.manager.reap()
            except ManagerError:
                pass  # refusals, failures, disabled and busy are answers, not bugs
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
        for lease in self.held_leases():
            lease.release()
        self._leases.clear()
        try:
            assert all(view.leases == 0 for view in self.manager.snapshot().values())
        finally:
            self.sink.stop()
            self._restore()


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
            max_examples=25,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
