"""The swaps benchmark (``python -m bench.swaps``) on small traces: its figures are ordered
as they must be, the real manager never passes the zoo pool, the offline optimum is
really optimal, a seed always gives the same figures, and each generated batch runs its
models in the order the service's plan gives the same batch stored in the database."""

from __future__ import annotations

import itertools

import pytest

from bench import swaps
from inference import selectors, work
from inference.models import Detection, EnrichmentBatch, Frame
from models_registry.catalog import TRIGGERS

SIZES = {name: spec.vram_mb for name, spec in swaps.zoo_specs().items()}
ALL_FRAMES_MODELS = next(names for label, names in TRIGGERS if label == "*")


@pytest.fixture(scope="module")
def report() -> swaps.Report:
    return swaps.run(batches=60, seed=11)


def test_loads_are_ordered_from_after_batch_down_to_the_lower_bounds(report: swaps.Report):
    assert report.optimum is not None
    assert report.after_batch.loads >= report.lru.loads >= report.optimum
    assert report.belady >= report.optimum >= report.lower_bound_conflicts
    assert report.lower_bound_conflicts >= report.lower_bound_compulsory > 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_policy_beats_the_offline_optimum(seed: int):
    # Belady's furthest-next-use rule is a heuristic with unequal sizes, so the online
    # policy may beat it; nothing may beat the exact optimum.
    report = swaps.run(batches=60, seed=seed)
    assert report.optimum is not None
    assert report.optimum <= report.lru.loads <= report.after_batch.loads
    assert report.optimum <= report.belady


def test_after_batch_loads_every_model_for_every_batch_that_uses_it(report: swaps.Report):
    assert report.after_batch.loads == report.requests
    assert report.after_batch.unloads > 0


def test_the_lru_run_never_exceeds_the_zoo_pool(report: swaps.Report):
    for run in (report.lru, report.after_batch):
        assert 0 < run.peak_device_mb <= swaps.POOL_MB
        assert 0 < run.peak_held_mb <= swaps.POOL_MB


def test_loads_counted_by_the_loader_match_the_managers_decision_log(report: swaps.Report):
    for run in (report.lru, report.after_batch):
        assert run.loads == run.load_events == sum(run.loads_by_model.values())


def test_the_same_seed_gives_the_same_figures():
    first = swaps.run(batches=60, seed=5)
    second = swaps.run(batches=60, seed=5)
    assert first.to_json() == second.to_json()
    assert first.markdown() == second.markdown()
    assert swaps.make_trace(60, 5) != swaps.make_trace(60, 6)


def test_each_batch_runs_the_all_frames_models_first_and_each_model_once():
    for batch in swaps.make_trace(60, 11):
        assert batch.models[: len(ALL_FRAMES_MODELS)] == tuple(sorted(ALL_FRAMES_MODELS))
        assert len(set(batch.models)) == len(batch.models)
        for _name, items in batch.work:
            assert items
            for frame, detection in items:
                assert 0 <= frame < len(batch.frames)
                assert detection is None or 0 <= detection < len(batch.frames[frame])


def _store(trace: list[swaps.Batch]) -> list[EnrichmentBatch]:
    """The generated batches as the service stores them: frames and detections by index."""
    stored = EnrichmentBatch.objects.bulk_create(EnrichmentBatch() for _ in trace)
    frames = Frame.objects.bulk_create(
        Frame(batch=row, index=i, width=64, height=48)
        for row, batch in zip(stored, trace, strict=True)
        for i in range(len(batch.frames))
    )
    labels = [frame for batch in trace for frame in batch.frames]
    Detection.objects.bulk_create(
        Detection(frame=frame, index=j, label=label, x1=1, y1=2, x2=30, y2=40, confidence=0.9)
        for frame, frame_labels in zip(frames, labels, strict=True)
        for j, label in enumerate(frame_labels)
    )
    return stored


@pytest.mark.django_db
def test_the_bench_reads_the_trigger_table_a_fresh_database_holds():
    every_frame, by_label = selectors.trigger_table()
    assert swaps.trigger_table() == (tuple(every_frame), {k: tuple(v) for k, v in by_label.items()})


@pytest.mark.django_db
def test_each_generated_batch_runs_its_models_in_the_services_order_on_the_same_items():
    # The default trace's first 300 batches (the same as in the full trace; 4 queries a
    # batch): the service's plan (``inference.work.batch_work``, the work items a dispatch
    # stores) for each batch in the database must be the bench's, model by model, item by
    # item.
    trace = swaps.make_trace(300, 7)
    assert [batch.frames for batch in trace] == [b.frames for b in swaps.make_trace(1000, 7)[:300]]
    for batch, stored in zip(trace, _store(trace), strict=True):
        served = tuple(
            (name, tuple((frame, detection) for frame, detection in targets))
            for name, _stage, targets in work.batch_work(stored.pk)
        )
        assert served == batch.work, f"batch {batch.index}: {batch.frames}"


def _brute_force_optimum(requests: list[str], pool_mb: int) -> int:
    """Every choice of what to keep on every miss; only for tiny traces."""
    states: dict[frozenset[str], int] = {frozenset(): 0}
    for name in requests:
        after: dict[frozenset[str], int] = {}
        for resident, loads in states.items():
            if name in resident:
                choices = [(resident, loads)]
            else:
                choices = [
                    (frozenset(kept) | {name}, loads + 1)
                    for size in range(len(resident) + 1)
                    for kept in itertools.combinations(sorted(resident), size)
                    if sum(SIZES[m] for m in kept) + SIZES[name] <= pool_mb
                ]
            for state, cost in choices:
                after[state] = min(cost, after.get(state, cost))
        states = after
    return min(states.values())


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_the_exact_optimum_agrees_with_a_brute_force_search(seed: int):
    trace = swaps.make_trace(12, seed)
    requests = [name for batch in trace for name in batch.models]
    assert swaps.exact_optimum(trace, SIZES, swaps.POOL_MB) == _brute_force_optimum(
        requests, swaps.POOL_MB
    )


def test_the_report_ends_with_the_goal_line(report: swaps.Report):
    last = report.markdown().splitlines()[-1]
    assert last.startswith("goal: lru within 1.2x of optimal — ")
    assert ("NOT MET" not in last) == report.goal_met
