"""What an eviction costs the worker: the time from "unload this model" until its memory
is back, with the worker's heap at a realistic size, measured side by side in one run:

- **collect** (the previous main): drop the model's references, then two full
  ``gc.collect()`` calls (the model's close and the backend's unload each ran one);
- **release** (now): the manager's ``unload`` of the same model (its ``close`` empties
  every tensor; nothing is collected), with the start-up heap frozen as the worker
  freezes it (``gc.freeze()``).

Run from the repository root::

    .venv/bin/python -m bench.eviction_cost [--model pet-classifier] [--rounds 7]
        [--heap 500000] [--json out.json]

``--heap`` tops the process up to that many objects tracked by the collector (a worker
serving requests tracks about 500 k). Goal: release ≤ 5 ms.
"""

from __future__ import annotations

import argparse
import gc
import io
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench.support import finish, on_sqlite

GOAL_MS = 5.0


def _ballast(objects: int) -> list[Any]:
    """Enough small tracked containers to bring the collector's count to ``objects``."""
    missing = max(0, objects - len(gc.get_objects()))
    return [[i] for i in range(missing)]  # lists are always tracked (small dicts may not be)


def _collect_path(model: Any) -> float:
    started = time.perf_counter()
    for name in list(vars(model)):
        if name not in ("spec", "device"):
            setattr(model, name, None)
    gc.collect()
    gc.collect()
    return time.perf_counter() - started


def measure(model: str, rounds: int, heap: int) -> dict[str, Any]:
    from django.core.management import call_command

    from inference.engine.devices import CpuBackend
    from inference.engine.loaders import load_model
    from inference.engine.manager import ModelManager
    from inference.runtime.specs import spec_of
    from models_registry.models import ModelEntry
    from tests.fakes import DictSpecs, MemorySink

    call_command("zoo_bootstrap", "--only", model, verbosity=0, stderr=io.StringIO())
    spec = spec_of(ModelEntry.objects.get(name=model))
    manager = ModelManager(
        CpuBackend(64 * 1024), specs=DictSpecs.of({model: spec}), sink=MemorySink()
    )
    ballast = _ballast(heap)
    tracked = len(gc.get_objects())
    collect, release = [], []
    for round_index in range(rounds):
        for path in ("collect", "release") if round_index % 2 == 0 else ("release", "collect"):
            if path == "collect":
                gc.unfreeze()
                collect.append(_collect_path(load_model(spec, "cpu")))
            else:
                with manager.acquire(model):
                    pass
                gc.collect()
                gc.freeze()
                started = time.perf_counter()
                manager.unload(model)
                release.append(time.perf_counter() - started)
    del ballast
    old, new = statistics.median(collect), statistics.median(release)
    return {
        "model": model,
        "rounds": rounds,
        "tracked_objects": tracked,
        "median_ms": {"collect": round(old * 1000, 3), "release": round(new * 1000, 3)},
        "ratio_release_to_collect": round(new / old, 5),
        "goal_ms": GOAL_MS,
    }


def markdown(result: dict[str, Any]) -> str:
    ms = result["median_ms"]
    verdict = "MET" if ms["release"] <= GOAL_MS else "NOT MET"
    return "\n".join(
        [
            f"Eviction of {result['model']} (CPU), {result['rounds']} rounds, "
            f"{result['tracked_objects']:,} objects tracked by the collector",
            "",
            "| path | median ms | ratio to collect |",
            "|---|---:|---:|",
            f"| collect (previous main: two gc.collect) | {ms['collect']:.2f} | 1.000x |",
            f"| release (manager.unload now) | {ms['release']:.2f} | "
            f"{result['ratio_release_to_collect']:.4f}x |",
            "",
            f"goal: release ≤ {GOAL_MS} ms — {verdict}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="pet-classifier")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--heap", type=int, default=500_000)
    parser.add_argument("--json", type=Path, help="Also write the figures as JSON here")
    args = parser.parse_args(argv)
    result = on_sqlite(lambda: measure(args.model, args.rounds, args.heap))
    finish(markdown(result), result, args.json)
    return 0 if result["median_ms"]["release"] <= GOAL_MS else 1


if __name__ == "__main__":
    sys.exit(main())
