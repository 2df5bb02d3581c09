"""Model loads per 1,000 enrichment batches under the zoo's 1,650 MB pool, three policies.

Run from the repository root::

    .venv/bin/python -m bench.swaps [--batches 1000] [--seed 7] [--json out.json]

A seeded trace of enrichment batches is replayed against:

1. **lru** — this system: a real ``inference.manager.ModelManager`` with policy ``lru``
   on a ``SimulatedBackend`` of 24 GB × 0.8 (so only the 1,650 MB zoo pool binds),
   with an instant in-memory loader whose models measure exactly their registry
   estimate, and an in-memory ``StateSink`` (no database).
2. **after_batch** — the Model Zoo document's behaviour: the same manager with policy
   ``after_batch`` (every model a batch used is unloaded when ``end_batch`` is called).
3. **belady** — the offline rule, computed on the trace with the same sizes and pool:
   on a miss, evict the resident model whose next use is furthest in the future until
   the requested model fits. With unequal sizes "furthest next use" is the standard
   generalisation of Belady's rule; it is a near-optimal bound, not a proven optimum
   (optimal paging with sizes is NP-hard in general).

Because the trace only ever uses ten models, the true offline optimum is also
computed exactly, by dynamic programming over every set of models that fits in the
pool (2^10 states; ``exact_optimum``). On the default trace, and on seeds 0–7, it
comes out about 11 % below Belady's rule: with a 1,650 MB pool and 1,500 MB models,
which models to drop matters as much as when they are next used. The goal is judged
against this exact optimum; the ratio to Belady is shown beside it.

Two lower bounds, valid for any policy, show what the trace itself forces:
*compulsory* (the number of distinct models ever used) and *compulsory + conflicts*
(a use of model m is a forced load when, since m's previous use, some model x was used
with size(m) + size(x) > pool: x had to be resident at that moment and m cannot have
been beside it).

How the pipeline is driven (as the enrichment stage will): for each batch, the work is
grouped by model, so each triggered model is acquired once per batch (acquire → predict
on each frame it concerns → release), with ``batch=`` set, and ``end_batch`` is called
when the batch's work is done. The order inside a batch is fixed and deterministic:
first the all-frames models (``depth-anything-v2-small``, ``weather-classification``),
then the per-label models following the trigger table's row order (person, car, truck,
motorcycle, cat, dog), each model once, at its first appearance. Only one model is
leased at a time, so the model being acquired is the only one that cannot be evicted;
Belady and the exact optimum are computed at that same granularity. (Keeping every
model a batch needs resident at once is impossible: a person batch needs
``vitpose-small`` and ``segformer-b2-clothes``, 1,500 MB each. Models needed later in
the current batch have the nearest next uses, so Belady evicts them last.)

Trace assumptions (a home-security camera; ``LABEL_MIX`` below):

- Each detection label follows its own two-state Markov chain (in the scene / not),
  independent of the others, whose stationary probability is the label's share of
  batches and whose mean run length is its burst length: a person walking by appears
  in several consecutive batches. Per batch: person 0.45 (bursts of 4 batches on
  average), car 0.25 (3), truck 0.06 (2), motorcycle 0.03 (2), dog 0.08 (3), cat 0.05
  (3). With independent labels about a third of the batches have no detection at all.
- A batch has 1–6 frames; a label present in the batch appears in each frame with
  probability 0.7 (in at least one). Frames decide only how often ``predict`` runs.
- Every batch, detections or not, runs the all-frames models, as the trigger table's
  "(all frames)" row says.

Which zoo models never take part: ``xclip-base`` and ``vehicle-damage-detection``
(2,000 MB each) are larger than the whole pool and could never be admitted; neither is
in the trigger table. ``yolo-world-s``, ``fashion-clip`` and ``clip-vit-l`` are enabled
but not triggered; the three disabled models are never loaded.

Goal: lru within 1.2× of the optimum.
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
from dataclasses import dataclass, field
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

from bench.support import finish
from fleet.models import EventKind
from inference.engine.devices import MB, SimulatedBackend
from inference.engine.loaders.base import ImageLike, LoadedModel
from inference.engine.manager import ModelManager
from inference.engine.sink import StateSink
from inference.engine.specs import ManagerSettings, ModelSpec, UnknownModel
from models_registry.catalog import TRIGGERS, ZOO_MODELS
from models_registry.models import EvictionPolicy

POOL_MB = 1650
DEVICE_TOTAL_MB = 24 * 1024
OFFLOAD_THRESHOLD = 0.8
GOAL_RATIO = 1.2
EXACT_MAX_MODELS = 12  # the exact optimum keeps 2^models states; 12 stays fast
MAX_FRAMES = 6
FRAME_HIT = 0.7
ALL_FRAMES = "*"

# label -> (share of batches in which it appears, mean length of a burst in batches)
LABEL_MIX: dict[str, tuple[float, float]] = {
    "person": (0.45, 4.0),
    "car": (0.25, 3.0),
    "truck": (0.06, 2.0),
    "motorcycle": (0.03, 2.0),
    "dog": (0.08, 3.0),
    "cat": (0.05, 3.0),
}

_IMAGE = np.zeros((2, 2, 3), dtype=np.uint8)


# --- the trace ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Batch:
    """One enrichment batch: its frames' labels and the work grouped by model."""

    index: int
    frames: tuple[frozenset[str], ...]
    # (model, indices of the frames it runs on), in pipeline order
    work: tuple[tuple[str, tuple[int, ...]], ...]

    @property
    def labels(self) -> frozenset[str]:
        return frozenset().union(*self.frames)

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.work)


def pipeline_work(frames: Sequence[frozenset[str]]) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """The models a batch triggers, each once, in pipeline order, with their frames.

    All-frames models first, then the trigger table's rows in order; a model shared by
    several labels (license plate for car and truck) runs once on the union of frames.
    """
    rows = [row for row in TRIGGERS if row[0] == ALL_FRAMES]
    rows += [row for row in TRIGGERS if row[0] != ALL_FRAMES]
    work: dict[str, set[int]] = {}
    for label, names in rows:
        hits = {i for i, labels in enumerate(frames) if label == ALL_FRAMES or label in labels}
        if not hits:
            continue
        for name in names:
            work.setdefault(name, set()).update(hits)
    return tuple((name, tuple(sorted(hits))) for name, hits in work.items())


def make_trace(batches: int, seed: int) -> list[Batch]:
    """A deterministic trace of ``batches`` batches drawn from ``LABEL_MIX``."""
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
        frames: list[set[str]] = [set() for _ in range(count)]
        for label in LABEL_MIX:
            if not present[label]:
                continue
            hits = [i for i in range(count) if rng.random() < FRAME_HIT]
            for i in hits or [rng.randrange(count)]:
                frames[i].add(label)
        frozen = tuple(frozenset(f) for f in frames)
        trace.append(Batch(index=index, frames=frozen, work=pipeline_work(frozen)))
    return trace


def zoo_specs() -> dict[str, ModelSpec]:
    """The zoo's registry entries as specs, straight from the catalog (fake ids, no DB)."""
    return {
        entry["name"]: ModelSpec(
            id=position,
            name=entry["name"],
            display_name=entry["display_name"],
            category=entry["category"],
            loader=entry["loader"],
            path=entry["path"],
            model_id=entry["model_id"],
            vram_mb=entry["vram_mb"],
            in_zoo=entry["in_zoo"],
            enabled=entry["enabled"],
            disabled_reason=entry["disabled_reason"],
        )
        for position, entry in enumerate(ZOO_MODELS, start=1)
    }


# --- the manager's edges, in memory --------------------------------------------------


class MemorySink(StateSink):
    """Keeps the decision log in a list instead of the database."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []  # (kind, model name)

    def event(
        self,
        spec: ModelSpec,
        kind: str,
        reason: str,
        memory_mb: int | None = None,
        duration_s: float | None = None,
        cause: str = "",
    ) -> None:
        self.events.append((kind, spec.name))

    def count(self, kind: str) -> int:
        return sum(1 for event_kind, _ in self.events if event_kind == kind)


class _BenchModel(LoadedModel):
    """A model that loads instantly and measures exactly its registry estimate."""

    def tensor_bytes(self) -> int:
        return self.spec.vram_mb * MB

    def predict(self, image: ImageLike, **options: Any) -> dict[str, Any]:
        return {"model": self.spec.name}

    def close(self) -> None:
        """Nothing to free."""


class CountingLoader:
    """The manager's loader: counts every load it is asked for."""

    def __init__(self) -> None:
        self.loads: list[str] = []

    def __call__(self, spec: ModelSpec, device: str) -> LoadedModel:
        self.loads.append(spec.name)
        return _BenchModel(spec, device)


class StaticSpecs:
    """A ``SpecProvider`` over fixed specs and settings."""

    def __init__(self, specs: dict[str, ModelSpec], settings: ManagerSettings):
        self._specs = specs
        self._settings = settings

    def spec(self, name: str) -> ModelSpec:
        if name not in self._specs:
            raise UnknownModel(name)
        return self._specs[name]

    def settings(self) -> ManagerSettings:
        return self._settings

    def invalidate(self) -> None:
        """Fixed specs: nothing to read again."""


# --- the three policies --------------------------------------------------------------


@dataclass
class ManagerRun:
    """What one replay through the real manager did."""

    policy: str
    loads: int
    load_events: int
    evictions: int
    unloads: int
    peak_device_mb: int  # the simulated device's ledger peak
    peak_held_mb: int  # the manager's own count, after every acquire
    loads_by_model: dict[str, int] = field(default_factory=dict)


def run_manager(trace: Sequence[Batch], policy: str, *, pool_mb: int = POOL_MB) -> ManagerRun:
    """Replay the trace through a real ``ModelManager`` with ``policy``."""
    settings = ManagerSettings(
        policy=policy, zoo_pool_mb=pool_mb, offload_threshold=OFFLOAD_THRESHOLD
    )
    backend = SimulatedBackend("sim:0", DEVICE_TOTAL_MB)
    loader = CountingLoader()
    sink = MemorySink()
    ticks = itertools.count()
    manager = ModelManager(
        backend,
        specs=StaticSpecs(zoo_specs(), settings),
        sink=sink,
        loader=loader,
        # A logical clock: LRU order is decided by use order, never by timer resolution.
        clock=lambda: float(next(ticks)),
    )
    peak_held = 0
    for batch in trace:
        batch_id = f"batch-{batch.index}"
        for name, frames in batch.work:
            with manager.acquire(name, batch=batch_id) as lease:
                peak_held = max(peak_held, manager.held_mb())
                for _ in frames:
                    lease.predict(_IMAGE)
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
    exactly the models of ``S`` are resident (every S fitting in the pool). For a use of
    model m, a set T containing m is reached either from any superset of T holding m
    (a hit; dropping the others costs nothing) or, for one load, from any superset of
    T - {m} without m. Both minima over supersets come from one superset-minimum
    transform per bit, vectorised with numpy.
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

        def manager(run: ManagerRun) -> dict[str, Any]:
            return {
                "load_events": run.load_events,
                "evictions": run.evictions,
                "unloads": run.unloads,
                "peak_device_mb": run.peak_device_mb,
                "peak_held_mb": run.peak_held_mb,
                "loads_by_model": run.loads_by_model,
            }

        policies = {key: figures(loads) for key, _, loads in self.rows()}
        policies["lru"].update(manager(self.lru))
        policies["after_batch"].update(manager(self.after_batch))
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
            f"Trace: {self.batches} batches, seed {self.seed}, {self.requests} model uses; "
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
    sizes = {name: spec.vram_mb for name, spec in zoo_specs().items()}
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
    parser.add_argument(
        "--batches", type=int, default=1000, help="batches in the trace (default 1000)"
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the trace (default 7)")
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        metavar="PATH",
        help="also write the figures as JSON to PATH",
    )
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
