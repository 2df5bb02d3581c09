"""Loading a large checkpoint through the zoo until the model can serve, against copying
the same bytes out of the page cache: how close a load comes to the machine's limit.

Run from the repository root::

    .venv/bin/python -m bench.load_throughput [--mb 600] [--rounds 5] [--json out.json]

It works in a throwaway data folder (its own SQLite database), builds a ViT image
classifier of at least ``--mb`` megabytes of float32 weights
(``inference.bootstrap.build_large_checkpoint``: safetensors, random, offline), points
``violence-detection`` (a ViT classifier) at it and measures, alternately, with the
files in the page cache:

- **ready**: ``model_zoo.manager.acquire(name)`` on the CPU, from nothing to a model
  that can serve: transformers ``from_pretrained``, every weight page mapped into the
  process (``loaders.residency``: the first ``predict`` faults nothing in), the
  manager's admission, measurement and state writes. The share of weight pages present
  when the load returns is checked and reported. The unload that follows is timed on
  its own row, not in the load;
- **copy**: the same files read, 16 MB per ``readinto``, after a first read put them in
  the page cache, two ways: into one reused 16 MB buffer (``dd bs=16M``) and into one
  preallocated buffer of the checkpoint's size (every byte lands in its own place in
  memory). Both buffers are touched beforehand, so neither copy pays a page fault; the
  faster of the two is the limit, what a load that copies its bytes pays at the least;
- **predict**: the first ``predict`` after each load and the one after it, on one
  224 x 224 image, and the page faults the first one takes (``getrusage``): a handful
  when the load left no weight to fault in. The times are a check, not a goal: on a busy
  2-core machine two predicts differ by noise.

The zoo's load copies nothing on the CPU: it maps the pages the page cache holds into
the process, which is why it can beat the copy. The goal is copy / ready ≥ 0.5, a load
within twice the fastest copy of its bytes. Then, where the process can drop its own
checkpoint from the page cache (``posix_fadvise(DONTNEED)``, checked with ``mincore``),
the same whole-buffer read and the same load from the disk: **cold read** and **cold
ready**. Times are medians; MB/s is checkpoint bytes over time. Exits 1 when the goal
is missed.
"""

from __future__ import annotations

import argparse
import ctypes
import mmap
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.support import finish, setup_sqlite

MODEL = "violence-detection"  # a transformers ViT classifier in the catalog
CHUNK = 16 * 1024 * 1024
IMAGE_SIZE = 224
GOAL = 0.5  # copy time / ready time


def _copy(files: list[Path], buffer: memoryview) -> int:
    """Read every file, ``CHUNK`` bytes a call, into ``buffer``: one after the other
    where it holds them all, else each chunk over the last (``dd``)."""
    done = 0
    reuse = len(buffer) <= CHUNK
    for path in files:
        with open(path, "rb", buffering=0) as file:
            while read := file.readinto(buffer[:CHUNK] if reuse else buffer[done : done + CHUNK]):
                done += read
    return done


def _drop_from_cache(files: list[Path]) -> float:
    """Ask the kernel to forget these files' cached pages (only theirs); the share of
    their pages still cached afterwards (1.0 where that cannot be done or checked)."""
    if not hasattr(os, "posix_fadvise"):
        return 1.0
    for path in files:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fdatasync(fd)  # dirty pages would stay
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    return _cached_share(files)


def _cached_share(files: list[Path]) -> float:
    """The share of the files' pages in the page cache (``mincore`` on a fresh mapping,
    which reads nothing); 1.0 where that cannot be asked."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                              ctypes.c_int, ctypes.c_long]  # fmt: skip
        libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    except (OSError, AttributeError):
        return 1.0
    cached = total = 0
    for path in files:
        size = path.stat().st_size
        if not size:
            continue
        pages = -(-size // mmap.PAGESIZE)
        flags = (ctypes.c_ubyte * pages)()
        fd = os.open(path, os.O_RDONLY)
        try:
            address = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
            if address in (None, ctypes.c_void_p(-1).value):
                return 1.0
            try:
                if libc.mincore(address, size, flags) != 0:
                    return 1.0
            finally:
                libc.munmap(address, size)
        finally:
            os.close(fd)
        cached += sum(flag & 1 for flag in flags)
        total += pages
    return cached / total if total else 1.0


def _page_faults() -> int:
    """Page faults this process has taken so far, minor and major."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_minflt + usage.ru_majflt


class Paths:
    """The timed paths, on one zoo and one checkpoint; what each run saw, kept."""

    def __init__(self, zoo: Any, files: list[Path]):
        self.zoo = zoo
        self.files = files
        size = sum(path.stat().st_size for path in files)
        # Allocated and touched once, here: the copies pay no page faults.
        self.buffers = {
            "copy_dd": memoryview(bytearray(CHUNK)),
            "copy_whole": memoryview(bytearray(size)),
        }
        self.image = np.zeros((IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
        self.shares: list[float] = []  # of weight pages mapped when a load returned
        self.predicts: dict[str, list[float]] = {"first_predict": [], "second_predict": []}
        self.faults: list[int] = []  # page faults taken by the first predict after a load

    def ready(self, *, predict: bool = False) -> float:
        """Seconds from nothing to a lease on the loaded model."""
        from inference.engine.loaders.residency import resident_share

        started = time.perf_counter()
        lease = self.zoo.manager.acquire(MODEL)
        elapsed = time.perf_counter() - started
        share = resident_share(lease.model.modules())
        if share is not None:
            self.shares.append(share)
        for name in self.predicts if predict else ():
            faults = _page_faults()
            started = time.perf_counter()
            lease.predict(self.image)
            self.predicts[name].append(time.perf_counter() - started)
            if name == "first_predict":
                self.faults.append(_page_faults() - faults)
        lease.release()
        return elapsed

    def unload(self) -> float:
        started = time.perf_counter()
        self.zoo.manager.unload(MODEL)
        return time.perf_counter() - started

    def copy(self, name: str) -> float:
        started = time.perf_counter()
        _copy(self.files, self.buffers[name])
        return time.perf_counter() - started


def measure(folder: Path, megabytes: int, rounds: int) -> dict[str, Any]:
    from inference.bootstrap import build_large_checkpoint
    from inference.runtime.zoo import ModelZoo
    from models_registry import services

    checkpoint = build_large_checkpoint(folder / "big-vit", min_mb=megabytes)
    files = sorted(checkpoint.iterdir())
    services.model_set_path(name=MODEL, path=str(checkpoint))
    zoo = ModelZoo()
    zoo.configure("cpu", worker="bench")
    paths = Paths(zoo, files)
    paths.copy("copy_whole")  # into the page cache
    paths.ready(predict=True)  # first load: imports, caches, the first predict ever
    paths.unload()
    paths.predicts = {name: [] for name in paths.predicts}
    times: dict[str, list[float]] = {"ready": [], "unload": [], "copy_dd": [], "copy_whole": []}
    order = ["ready", "copy_dd", "copy_whole"]
    for round_ in range(rounds):
        for name in order if round_ % 2 == 0 else order[::-1]:
            times[name].append(paths.ready(predict=True) if name == "ready" else paths.copy(name))
            if name == "ready":
                times["unload"].append(paths.unload())
    cold_paths = {"cold_read": lambda: paths.copy("copy_whole"), "cold_ready": paths.ready}
    cold = _cold(files, cold_paths, paths.unload, rounds)
    paths.copy("copy_whole")  # leave the files cached, as found
    zoo.close()
    size = sum(path.stat().st_size for path in files)
    figures = _figures({**times, **paths.predicts, **cold}, size, rounds, paths.shares)
    weight_pages = -(-size // mmap.PAGESIZE)
    return figures | {
        "first_predict_page_faults": int(statistics.median(paths.faults)),
        "checkpoint_pages": weight_pages,
    }


def _figures(
    measured: dict[str, list[float]], size: int, rounds: int, shares: list[float]
) -> dict[str, Any]:
    mb = size / 1024 / 1024
    seconds = {name: statistics.median(values) for name, values in measured.items()}
    seconds["copy"] = min(seconds["copy_dd"], seconds["copy_whole"])
    ratio = seconds["copy"] / seconds["ready"]
    return {
        "model": MODEL,
        "checkpoint_mb": round(mb, 1),
        "rounds": rounds,
        "seconds": {name: round(value, 4) for name, value in seconds.items()},
        "mb_per_s": {
            name: round(mb / value, 1)
            for name, value in seconds.items()
            if name in ("ready", "copy", "copy_dd", "copy_whole", "cold_read", "cold_ready")
        },
        "resident_share_at_ready": round(min(shares), 4) if shares else None,
        "ratio_copy_to_ready": round(ratio, 3),
        "ratio_first_to_second_predict": round(
            seconds["first_predict"] / seconds["second_predict"], 3
        ),
        "goal": {"ratio_copy_to_ready": GOAL, "met": ratio >= GOAL},
        "cold": "cold_ready" in seconds,
    }


def _cold(
    files: list[Path],
    paths: dict[str, Callable[[], float]],
    unload: Callable[[], float],
    rounds: int,
) -> dict[str, list[float]]:
    """Each path timed from the disk, the files dropped from the page cache before each
    run; nothing where they could not be dropped (mapped elsewhere, or no fadvise)."""
    times: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(rounds):
        for name, path in paths.items():
            if _drop_from_cache(files) > 0.01:
                return {}
            times[name].append(path())
            if name == "cold_ready":
                unload()
    return times


def markdown(result: dict[str, Any]) -> str:
    s, rate = result["seconds"], result["mb_per_s"]
    share = result["resident_share_at_ready"]
    resident = "not checked" if share is None else f"{share:.1%} of weight pages mapped"
    rows = [
        ("ready to serve: zoo load, weights resident (page cache warm)", "ready"),
        ("copy from the page cache, 16 MB reads into one reused 16 MB buffer (dd)", "copy_dd"),
        ("copy from the page cache, 16 MB reads into a checkpoint-sized buffer", "copy_whole"),
        ("unload (timed apart from the load)", "unload"),
        ("first predict after the load (224 x 224)", "first_predict"),
        ("second predict", "second_predict"),
    ]
    if result["cold"]:
        rows += [
            ("cold read: the same files from disk, dropped from the page cache", "cold_read"),
            ("cold ready to serve: zoo load from disk, weights resident", "cold_ready"),
        ]
    verdict = "MET" if result["goal"]["met"] else "NOT MET"
    return "\n".join(
        [
            f"Load throughput: {result['checkpoint_mb']} MB checkpoint ({result['model']} "
            f"architecture), median of {result['rounds']} rounds",
            "",
            "| path | seconds | MB/s |",
            "|---|---:|---:|",
            *(f"| {label} | {s[key]} | {rate.get(key, '')} |" for label, key in rows),
            "",
            f"at ready: {resident}"
            + ("" if result["cold"] else "; cold rows skipped (the page cache kept the files)"),
            f"first predict after a load: {result['first_predict_page_faults']:,} page faults "
            f"(the checkpoint spans {result['checkpoint_pages']:,} pages); first / second "
            f"predict time: {result['ratio_first_to_second_predict']}x",
            f"copy (the faster, {result['seconds']['copy']} s) / ready: "
            f"{result['ratio_copy_to_ready']}x "
            f"(goal ≥ {result['goal']['ratio_copy_to_ready']}x) — {verdict}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--mb", type=int, default=600, help="checkpoint size in MB (built at least this big)"
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path, help="Also write the figures as JSON here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="zoo-bench-") as folder:
        setup_sqlite(Path(folder))
        result = measure(Path(folder), args.mb, args.rounds)
    finish(markdown(result), result, args.json)
    return 0 if result["goal"]["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
