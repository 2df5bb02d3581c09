"""The manager's overhead: acquire → predict → release through the zoo, against the same
library calls made directly, same checkpoint, same input, side by side in one run.

Run from the repository root::

    .venv/bin/python -m bench.manager_overhead [--model yolo11-license-plate]
        [--rounds 9] [--calls 15] [--json out.json]

It works in a throwaway data folder (its own SQLite database and checkpoint folder),
builds the model's bootstrap checkpoint there, and measures three paths on the CPU:

- **zoo**: ``with model_zoo.load_sync(name) as model: model.predict(image)`` — a lease
  from the real manager each call, with its state writes to the database;
- **direct**: the loader's ``predict`` on the same loaded checkpoint, no manager — the
  same library calls and the same conversion of results to JSON;
- **library** (ultralytics models only): ``YOLO(path).predict(image)`` with the loader's
  arguments, without converting its results — what a caller of the bare library pays.

Paths alternate within each round (their order flips every round) so drift in machine
load hits them alike; the ratio is of the medians over all calls. Goal: zoo ≤ 1.05×
direct.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.support import finish, on_sqlite
from inference.runtime.specs import spec_of

GOAL = 1.05


def _image() -> Any:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8))


def _timed(call: Callable[[], Any], count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return times


def measure(model: str, rounds: int, calls: int) -> dict[str, Any]:
    from django.core.management import call_command

    from inference.engine.loaders import load_model
    from inference.runtime.zoo import ModelZoo
    from models_registry.models import Loader, ModelEntry

    call_command("zoo_bootstrap", "--only", model, verbosity=0, stderr=io.StringIO())
    entry = ModelEntry.objects.get(name=model)
    spec = spec_of(entry)
    image = _image()

    zoo = ModelZoo()
    zoo.configure("cpu", worker="bench")
    direct_model = load_model(spec, "cpu")

    def through_zoo() -> None:
        with zoo.load_sync(model) as lease:
            lease.predict(image)

    def direct() -> None:
        direct_model.predict(image)

    paths: dict[str, Callable[[], None]] = {"zoo": through_zoo, "direct": direct}
    if entry.loader == Loader.ULTRALYTICS:
        from ultralytics import YOLO

        bare = YOLO(entry.path)

        def library() -> None:  # the loader's own arguments, without the JSON conversion
            bare.predict(image, verbose=False, device="cpu", iou=0.7, max_det=100)

        paths["library"] = library

    for call in paths.values():  # warm up: first load, first predictions
        _timed(call, 3)
    samples: dict[str, list[float]] = {name: [] for name in paths}
    order = list(paths)
    for round_index in range(rounds):
        for name in order if round_index % 2 == 0 else reversed(order):
            samples[name].extend(_timed(paths[name], calls))
    zoo.close()

    medians = {name: statistics.median(times) for name, times in samples.items()}
    return {
        "model": model,
        "rounds": rounds,
        "calls_per_round": calls,
        "median_ms": {name: round(value * 1000, 3) for name, value in medians.items()},
        "ratio_zoo_to_direct": round(medians["zoo"] / medians["direct"], 4),
        "ratio_zoo_to_library": (
            round(medians["zoo"] / medians["library"], 4) if "library" in medians else None
        ),
        "goal": GOAL,
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"Manager overhead on {result['model']} (CPU), "
        f"{result['rounds']} rounds × {result['calls_per_round']} calls per path",
        "",
        "| path | median ms/call | ratio to direct |",
        "|---|---:|---:|",
    ]
    direct = result["median_ms"]["direct"]
    for name, value in result["median_ms"].items():
        lines.append(f"| {name} | {value:.2f} | {value / direct:.3f}x |")
    ratio = result["ratio_zoo_to_direct"]
    verdict = "MET" if ratio <= GOAL else "NOT MET"
    lines += ["", f"goal: zoo within {GOAL}x of direct — {verdict} ({ratio:.3f}x)"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="yolo11-license-plate")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--calls", type=int, default=15)
    parser.add_argument("--json", type=Path, help="Also write the figures as JSON here")
    args = parser.parse_args(argv)
    result = on_sqlite(lambda: measure(args.model, args.rounds, args.calls))
    finish(markdown(result), result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
