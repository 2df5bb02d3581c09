"""Model loads per 1,000 enrichment batches under the zoo's 1,650 MB pool, three policies.

Run from the repository root::

    .venv/bin/python -m bench.swaps [--batches 1000] [--seed 7] [--json out.json]

A trace of enrichment batches is generated from a seeded label mix (``LABEL_MIX``;
nothing recorded is replayed) and run against:

1. **lru** — this system: a real ``ModelManager`` with policy ``lru`` on a
   ``SimulatedBackend`` of 24 GB × 0.8 (so only the 1,650 MB zoo pool binds), with the
   test suite's doubles (``tests.fakes``): models that load at once and measure exactly
   their registry estimate, and a decision log in memory (no database).
2. **after_batch** — the Model Zoo document's behaviour: the same manager with policy
   ``after_batch`` (every model a batch used is unloaded when ``end_batch`` is called).
3. **belady** — offline, on the same uses, sizes and pool: on a miss, evict the model
   whose next use is furthest away until the requested one fits; with unequal sizes a
   near-optimal rule, not an optimum (optimal paging with sizes is NP-hard in general).

The trace uses ten models, so the exact offline optimum is computed too (dynamic
programming over resident sets, ``exact_optimum``); the goal, lru within 1.2× of it, is
judged against it. Two lower bounds hold for any policy: *compulsory* (the distinct
models used) and *compulsory + conflicts* (a use of m is a forced load when, since m's
previous use, some x was used with size(m) + size(x) > pool).

The order inside a batch is the service's own (``inference.planning.batch_plan``, stored
as a batch's work items by ``inference.work.batch_work``), fed the catalog's trigger
table as a fresh database holds it (``trigger_table``). Each triggered model is acquired
once per batch (acquire → predict on each of its items → release, ``batch=`` set):
all-frames models first, then per-label models by first appearance, OCR last; then
``end_batch``. One model is leased at a time, so only the one being acquired cannot be
evicted; Belady and the optimum work at that granularity too.

The label mix (a home-security camera): each label follows its own two-state Markov
chain (in the scene / not), independent of the others, whose stationary probability is
the label's share of batches and whose mean run length is its burst; about a third of
the batches have no detection. A batch has 1–6 frames; a label in the batch is detected
in each frame with probability 0.7 (in at least one), once per frame, a frame listing
its detections in ``LABEL_MIX`` order. Models no trigger names are never used.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import django
from django.apps import apps

# The inference modules import Django models, so Django must be set up before they are
# imported. Nothing here queries the database.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zoo_project.settings.base")
if not apps.ready:
    django.setup()

import numpy as np
from PIL import Image

from bench.support import finish
from fleet.models import EventKind
from inference.engine.devices import SimulatedBackend
from inference.engine.manager import ModelManager
from inference.engine.specs import ManagerSettings, ModelSpec
from inference.planning import PlanItem, batch_plan
from models_registry.catalog import TRIGGERS, ZOO_MODELS
from models_registry.models import EvictionPolicy, TriggerRule
from tests.fakes import DictSpecs, FakeLoader, MemorySink

POOL_MB = 1650
DEVICE_TOTAL_MB = 24 * 1024
OFFLOAD_THRESHOLD = 0.8
GOAL_RATIO = 1.2
EXACT_MAX_MODELS = 12  # the exact optimum keeps 2^models states; 12 stays fast
MAX_FRAMES = 6
FRAME_HIT = 0.7

# label -> (share of batches in which it appears, mean length of a burst in batches)
LABEL_MIX: dict[str, tuple[float, float]] = {
    "person": (0.45, 4.0), "car": (0.25, 3.0), "truck": (0.06, 2.0),
    "motorcycle": (0.03, 2.0), "dog": (0.08, 3.0), "cat": (0.05, 3.0),
}  # fmt: skip

IMAGE = Image.new("RGB", (2, 2))
CATEGORY = {entry["name"]: entry["category"] for entry in ZOO_MODELS}
SHOWN = ("policy", "loads")  # a ManagerRun's fields the table already has
_SPEC_FIELDS = (
    "name", "display_name", "category", "loader", "path", "model_id", "vram_mb", "in_zoo",
    "enabled", "disabled_reason",
)  # fmt: skip


# --- the trace ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Batch:
    """One enrichment batch: its frames' detections and the service's plan for it."""

    index: int
    frames: tuple[tuple[str, ...], ...]  # each frame's detection labels, in index order
    work: tuple[tuple[str, tuple[PlanItem, ...]], ...]  # (model, its items), in run order

    @property
    def labels(self) -> frozenset[str]:
        return frozenset(label for frame in self.frames for label in frame)

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.work)


@cache
def trigger_table() -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
    """(all-frames models, label → models): the catalog's triggers as ``selectors.trigger_table``
    reads them from a fresh database, enabled zoo models in (position, label, name) order."""
    active = {entry["name"] for entry in ZOO_MODELS if entry["enabled"] and entry["in_zoo"]}
    rules = sorted((at, label, n) for at, (label, names) in enumerate(TRIGGERS) for n in names)
    every_frame: list[str] = []
    by_label: dict[str, list[str]] = {}
    for _, label, name in rules:
        if name not in active:
            continue
        target = every_frame if label == TriggerRule.ALL_FRAMES else by_label.setdefault(label, [])
        if name not in target:
            target.append(name)
    return tuple(every_frame), {label: tuple(names) for label, names in by_label.items()}


def service_plan(frames: Sequence[Sequence[str]]) -> tuple[tuple[str, tuple[PlanItem, ...]], ...]:
    """The models a batch runs, in the order the service runs them, with their items."""
    plan, _ = batch_plan(frames, *trigger_table(), lambda names: {n: CATEGORY[n] for n in names})
    return tuple((name, tuple(items)) for name, items in plan.items())


def make_trace(batches: int, seed: int) -> list[Batch]:
    """A deterministic trace of ``batches`` batches generated from ``LABEL_MIX``."""
    rng = random.Random(seed)
    # Two-state chain per label: stay with probability 1 - 1/burst, enter with the
    # probability that makes the stationary share what LABEL_MIX says.
    chains: dict[str, tuple[float, float]] = {}
    present: dict[str, bool] = {}
    for label, (share, burst) in LABEL_MIX.items():
        stay = 1.0 - 1.0 / burst
        enter = share * (1.0 - stay) / (1.0 - share)
        chains[label] = (stay, enter)
        present[label] = rng.random() < share
    trace = []
    for index in range(batches):
        for label, (stay, enter) in chains.items():
            present[label] = rng.random() < (stay if present[label] else enter)
        count = rng.randint(1, MAX_FRAMES)
        frames: list[list[str]] = [[] for _ in range(count)]
        for label in LABEL_MIX:
            if not present[label]:
                continue
            hits = [i for i in range(count) if rng.random() < FRAME_HIT]
            for i in hits or [rng.randrange(count)]:
                frames[i].append(label)
        detections = tuple(tuple(frame) for frame in frames)
        trace.append(Batch(index=index, frames=detections, work=service_plan(detections)))
    return trace


def zoo_specs() -> dict[str, ModelSpec]:
    """The zoo's registry entries as specs, straight from the catalog (fake ids, no DB)."""
    return {
        entry["name"]: ModelSpec(id=position, **{key: entry[key] for key in _SPEC_FIELDS})
        for position, entry in enumerate(ZOO_MODELS, start=1)
    }


def zoo_sizes() -> dict[str, int]:
    """Each zoo model's registry estimate, in MB: what the fake models measure."""
    return {name: spec.vram_mb for name, spec in zoo_specs().items()}


# --- the three policies --------------------------------------------------------------


@dataclass
class ManagerRun:
    """What one run of the trace through the real manager did."""

    policy: str
    loads: int
    load_events: int
    evictions: int
    unloads: int
    peak_device_mb: int  # the simulated device's ledger peak
    peak_held_mb: int  # the manager's own count, after every acquire
    loads_by_model: dict[str, int] = field(default_factory=dict)


def run_manager(trace: Sequence[Batch], policy: str, *, pool_mb: int = POOL_MB) -> ManagerRun:
    """Run the trace through a real ``ModelManager`` with ``policy``."""
    settings = ManagerSettings(
        policy=policy, zoo_pool_mb=pool_mb, offload_threshold=OFFLOAD_THRESHOLD
    )
    backend = SimulatedBackend("sim:0", DEVICE_TOTAL_MB)
    loader = FakeLoader()
    loader.sizes = zoo_sizes()
    sink = MemorySink()
    ticks = itertools.count()
    manager = ModelManager(
        backend,
        specs=DictSpecs.of(zoo_specs(), settings),
        sink=sink,
        loader=loader,
        # A logical clock: LRU order is decided by use order, never by timer resolution.
        clock=lambda: float(next(ticks)),
    )
    peak_held = 0
    for batch in trace:
        batch_id = f"batch-{batch.index}"
        for name, items in batch.work:
            with manager.acquire(name, batch=batch_id) as lease:
                peak_held = max(peak_held, manager.held_mb())
                for _ in items:
                    lease.predict(IMAGE)
        manager.end_batch(batch_id)
    manager.close()
    return ManagerRun(
        policy=policy,
        loads=len(loader.loads),
        load_events=sink.count(EventKind.LOAD),
        evictions=sink.count(EventKind.EVICT),
        unloads=sink.count(EventKind.UNLOAD),
        peak_device_mb=backend.peak_mb,
        peak_held_mb=peak_held,
        loads_by_model=dict(sorted(Counter(loader.loads).items())),
    )


def _requests(trace: Sequence[Batch]) -> list[str]:
    return [name for batch in trace for name in batch.models]


def belady_loads(trace: Sequence[Batch], sizes: dict[str, int], pool_mb: int) -> int:
    """Loads under furthest-next-use eviction (Belady generalised to sizes)."""
    requests = _requests(trace)
    never = len(requests)
    next_use = [never] * len(requests)
    upcoming: dict[str, int] = {}
    for position in range(len(requests) - 1, -1, -1):
        next_use[position] = upcoming.get(requests[position], never)
        upcoming[requests[position]] = position
    resident: dict[str, int] = {}  # model -> position of its next use
    loads = 0
    for position, name in enumerate(requests):
        if name not in resident:
            loads += 1
            free = pool_mb - sum(sizes[r] for r in resident)
            while free < sizes[name]:
                # furthest next use first; the name breaks ties deterministically
                victim = max(resident, key=lambda r: (resident[r], r))
                free += sizes[victim]
                del resident[victim]
        resident[name] = next_use[position]
    return loads


def lower_bounds(trace: Sequence[Batch], sizes: dict[str, int], pool_mb: int) -> tuple[int, int]:
    """(compulsory loads, compulsory + conflict loads): both bound every policy below."""
    requests = _requests(trace)
    names = sorted(set(requests))
    seen: set[str] = set()
    conflicted: set[str] = set()
    forced = 0
    for name in requests:
        if name not in seen or name in conflicted:
            forced += 1
        seen.add(name)
        conflicted.discard(name)
        conflicted.update(
            other for other in names if other != name and sizes[other] + sizes[name] > pool_mb
        )
    return len(names), forced


def exact_optimum(trace: Sequence[Batch], sizes: dict[str, int], pool_mb: int) -> int | None:
    """The fewest loads any policy can achieve on the trace (None past ``EXACT_MAX_MODELS``).

    Dynamic programming over resident sets: ``best[S]`` is the fewest loads after which
    exactly the models of ``S`` (fitting in the pool) are resident. On a use of m, a set T
    holding m is reached from any superset of T holding m (a hit; dropping costs nothing)
    or, for one load, from any superset of T - {m} without m: both superset minima come
    from one transform per bit, vectorised with numpy.
    """
    requests = _requests(trace)
    names = sorted(set(requests))
    if len(names) > EXACT_MAX_MODELS:
        return None
    bit = {name: 1 << i for i, name in enumerate(names)}
    masks = np.arange(1 << len(names))
    held = np.zeros(masks.size, dtype=np.int64)
    for name, flag in bit.items():
        held += np.where(masks & flag, sizes[name], 0)
    too_big = held > pool_mb
    never = np.iinfo(np.int64).max // 2
    best = np.full(masks.size, never, dtype=np.int64)
    best[0] = 0  # the pool starts empty

    # per bit: the sets without it, and the same sets with it
    pairs = [(masks[(masks & f) == 0], masks[(masks & f) == 0] | f) for f in bit.values()]

    def superset_min(values: np.ndarray) -> np.ndarray:
        out = values.copy()
        for without, with_ in pairs:
            out[without] = np.minimum(out[without], out[with_])
        return out

    for name in requests:
        flag = bit[name]
        holds = (masks & flag) != 0
        hit = superset_min(best)
        load = superset_min(np.where(holds, never, best))
        after = np.full(masks.size, never, dtype=np.int64)
        targets = masks[holds]
        after[targets] = np.minimum(hit[targets], load[targets ^ flag] + 1)
        after[too_big | (after > never)] = never
        best = after
    return int(best.min())


# --- the report ------------------------------------------------------------------------


@dataclass
class Report:
    """The figures of one run; identical for identical arguments."""

    batches: int
    seed: int
    pool_mb: int
    requests: int
    label_share: dict[str, float]
    empty_share: float
    lru: ManagerRun
    after_batch: ManagerRun
    belady: int
    optimum: int | None  # exact; None when the trace uses too many models to compute it
    lower_bound_compulsory: int
    lower_bound_conflicts: int

    @property
    def reference(self) -> int:
        """What "optimal" means in the goal: the exact optimum, else Belady's rule."""
        return self.optimum if self.optimum is not None else self.belady

    def per_1000(self, loads: int) -> float:
        return 1000.0 * loads / self.batches

    @staticmethod
    def _ratio(loads: int, base: int) -> float:
        return loads / base if base else (1.0 if loads == 0 else float("inf"))

    def ratio_to_optimum(self, loads: int) -> float:
        return self._ratio(loads, self.reference)

    def ratio_to_belady(self, loads: int) -> float:
        return self._ratio(loads, self.belady)

    @property
    def goal_met(self) -> bool:
        return self.ratio_to_optimum(self.lru.loads) <= GOAL_RATIO

    def rows(self) -> list[tuple[str, str, int | None]]:
        """(key, label, loads) for each line of the table."""
        return [
            ("lru", "lru (this system's ModelManager)", self.lru.loads),
            ("after_batch", "after_batch (the document; same manager)", self.after_batch.loads),
            ("belady", "belady (offline, furthest next use)", self.belady),
            ("optimum", "optimum (offline, exact DP over resident sets)", self.optimum),
            ("compulsory", "lower bound: compulsory", self.lower_bound_compulsory),
            ("conflicts", "lower bound: compulsory + conflicts", self.lower_bound_conflicts),
        ]

    def to_json(self) -> dict[str, Any]:
        """The same figures as the table, plus what the manager's runs recorded."""

        def figures(loads: int | None) -> dict[str, Any]:
            if loads is None:
                return {"loads": None}
            return {
                "loads": loads,
                "loads_per_1000_batches": round(self.per_1000(loads), 1),
                "ratio_to_optimum": round(self.ratio_to_optimum(loads), 3),
                "ratio_to_belady": round(self.ratio_to_belady(loads), 3),
            }

        policies = {key: figures(loads) for key, _, loads in self.rows()}
        for key, run in (("lru", self.lru), ("after_batch", self.after_batch)):
            recorded = asdict(run)  # what the manager's runs recorded, beyond the table's
            policies[key].update((k, recorded[k]) for k in recorded if k not in SHOWN)
        return {
            "benchmark": "swaps",
            "batches": self.batches,
            "seed": self.seed,
            "pool_mb": self.pool_mb,
            "requests": self.requests,
            "trace": {"label_share": self.label_share, "empty_share": self.empty_share},
            "policies": policies,
            "goal": {
                "lru_within_ratio": GOAL_RATIO,
                "optimum": "exact" if self.optimum is not None else "belady",
                "lru_ratio_to_optimum": round(self.ratio_to_optimum(self.lru.loads), 3),
                "lru_ratio_to_belady": round(self.ratio_to_belady(self.lru.loads), 3),
                "met": self.goal_met,
            },
        }

    def markdown(self) -> str:
        """The trace in one line, the table, and the goal line."""
        shares = ", ".join(f"{label} {share:.2f}" for label, share in self.label_share.items())
        lines = [
            f"Trace generated from the seeded label mix: {self.batches} batches, seed {self.seed}, "
            f"{self.requests} model uses; "
            f"batches with label: {shares}; with no detection {self.empty_share:.2f}. "
            f"Zoo pool {self.pool_mb} MB.",
            "",
            "| policy | loads | loads / 1,000 batches | ratio to optimum | ratio to belady |",
            "|---|---:|---:|---:|---:|",
        ]
        for _, label, loads in self.rows():
            if loads is None:
                lines.append(f"| {label} | n/a | n/a | n/a | n/a |")
                continue
            lines.append(
                f"| {label} | {loads} | {self.per_1000(loads):.1f} "
                f"| {self.ratio_to_optimum(loads):.2f}x | {self.ratio_to_belady(loads):.2f}x |"
            )
        which = "the exact optimum" if self.optimum is not None else "belady"
        lines += [
            "",
            f"goal: lru within {GOAL_RATIO}x of optimal — "
            f"{'MET' if self.goal_met else 'NOT MET'} "
            f"({self.ratio_to_optimum(self.lru.loads):.2f}x {which}; "
            f"{self.ratio_to_belady(self.lru.loads):.2f}x belady)",
        ]
        return "\n".join(lines)


def run(batches: int = 1000, seed: int = 7, *, pool_mb: int = POOL_MB) -> Report:
    """Build the trace and measure the policies and the bounds on it."""
    if batches < 1:
        raise ValueError("a trace needs at least one batch")
    trace = make_trace(batches, seed)
    sizes = zoo_sizes()
    compulsory, conflicts = lower_bounds(trace, sizes, pool_mb)
    label_counts = Counter(label for batch in trace for label in batch.labels)
    return Report(
        batches=batches,
        seed=seed,
        pool_mb=pool_mb,
        requests=len(_requests(trace)),
        label_share={label: round(label_counts[label] / batches, 3) for label in LABEL_MIX},
        empty_share=round(sum(1 for batch in trace if not batch.labels) / batches, 3),
        lru=run_manager(trace, EvictionPolicy.LRU, pool_mb=pool_mb),
        after_batch=run_manager(trace, EvictionPolicy.AFTER_BATCH, pool_mb=pool_mb),
        belady=belady_loads(trace, sizes, pool_mb),
        optimum=exact_optimum(trace, sizes, pool_mb),
        lower_bound_compulsory=compulsory,
        lower_bound_conflicts=conflicts,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: print the Markdown table, optionally write the JSON figures."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.swaps",
        description="Model loads per 1,000 enrichment batches: lru, after_batch, offline optimum.",
    )
    add = parser.add_argument
    add("--batches", type=int, default=1000, help="batches in the trace (default 1000)")
    add("--seed", type=int, default=7, help="seed of the trace (default 7)")
    add("--json", type=Path, metavar="PATH", help="also write the figures as JSON to PATH")
    args = parser.parse_args(argv)
    if args.batches < 1:
        parser.error("--batches must be at least 1")
    logging.getLogger("inference").setLevel(logging.WARNING)  # one line per load otherwise
    started = time.perf_counter()
    report = run(args.batches, args.seed)
    finish(report.markdown(), report.to_json(), args.json)
    print(f"\n(ran in {time.perf_counter() - started:.1f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
