"""Loading a large checkpoint through the zoo against reading its bytes from the page
cache: how close a model load comes to the machine's physical limit.

Run from the repository root::

    .venv/bin/python -m bench.load_throughput [--mb 600] [--rounds 5] [--json out.json]

It works in a throwaway data folder (its own SQLite database), builds a ViT image
classifier of at least ``--mb`` megabytes of float32 weights
(``inference.bootstrap.build_large_checkpoint``: safetensors, random, offline), points
``violence-detection`` (a ViT classifier) at it and measures, alternately:

- **zoo**: ``model_zoo.load_sync(name)`` on the CPU, from nothing to a loaded model
  (transformers ``from_pretrained``, the manager's admission, measurement and state
  writes), then an unload;
- **raw**: reading the same files into memory (``Path.read_bytes``) after a first read
  has put them in the page cache: what any loader pays at the least.

The ratio is zoo / raw of the medians; throughput is checkpoint bytes over time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.support import finish, setup_sqlite

MODEL = "violence-detection"  # a transformers ViT classifier in the catalog


def _raw_read(folder: Path) -> int:
    return sum(len(path.read_bytes()) for path in sorted(folder.iterdir()))


def measure(folder: Path, megabytes: int, rounds: int) -> dict[str, Any]:
    from inference.bootstrap import build_large_checkpoint
    from inference.runtime.zoo import ModelZoo
    from models_registry import services

    checkpoint = build_large_checkpoint(folder / "big-vit", min_mb=megabytes)
    size = sum(path.stat().st_size for path in checkpoint.iterdir())
    services.model_set_path(name=MODEL, path=str(checkpoint))
    zoo = ModelZoo()
    zoo.configure("cpu", worker="bench")

    def through_zoo() -> None:
        with zoo.load_sync(MODEL):
            pass
        zoo.manager.unload(MODEL)

    _raw_read(checkpoint)  # into the page cache
    through_zoo()  # first load: imports, caches
    times: dict[str, list[float]] = {"zoo": [], "raw": []}
    for round_ in range(rounds):
        order = ["zoo", "raw"] if round_ % 2 == 0 else ["raw", "zoo"]
        for name in order:
            started = time.perf_counter()
            through_zoo() if name == "zoo" else _raw_read(checkpoint)
            times[name].append(time.perf_counter() - started)
    zoo.close()
    zoo_s, raw_s = statistics.median(times["zoo"]), statistics.median(times["raw"])
    mb = size / 1024 / 1024
    return {
        "model": MODEL,
        "checkpoint_mb": round(mb, 1),
        "rounds": rounds,
        "zoo_load_s": round(zoo_s, 3),
        "raw_read_s": round(raw_s, 4),
        "zoo_mb_per_s": round(mb / zoo_s, 1),
        "raw_mb_per_s": round(mb / raw_s, 1),
        "ratio_zoo_to_raw": round(zoo_s / raw_s, 2),
    }


def markdown(result: dict[str, Any]) -> str:
    return "\n".join(
        [
            f"Load throughput: {result['checkpoint_mb']} MB checkpoint ({result['model']} "
            f"architecture), median of {result['rounds']} rounds",
            "",
            "| path | seconds | MB/s |",
            "|---|---:|---:|",
            f"| zoo load (from_pretrained + manager) | {result['zoo_load_s']} | "
            f"{result['zoo_mb_per_s']} |",
            f"| raw read from page cache | {result['raw_read_s']} | {result['raw_mb_per_s']} |",
            "",
            f"zoo / raw: {result['ratio_zoo_to_raw']}x",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=600, help="checkpoint size (at least 500)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path, help="Also write the figures as JSON here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="zoo-bench-") as folder:
        setup_sqlite(Path(folder))
        result = measure(Path(folder), args.mb, args.rounds)
    finish(markdown(result), result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
