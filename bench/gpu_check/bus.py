"""A load against the bus it crosses, on a GPU: the largest model's load through the
manager (checkpoint in the page cache) against a pinned host → device copy of the same
bytes in the same run; then the idea beyond every anchor, a swap that costs a copy and
not a disk read: the checkpoint prefetched into pinned host memory while another model
serves, and the model made ready on the device from that copy.

Figures only: nothing here is a pass or a fail, except that the prefetch must not have
left device memory behind (the leak check after it sees that). Nothing of it means
anything on the simulated device, which has no bus: simulate mode skips it, saying so.
"""

from __future__ import annotations

import json
import statistics
import struct
import threading
import time
from pathlib import Path
from typing import Any

from bench.gpu_check.scenarios import Run
from bench.gpu_check.workspace import SUBJECTS

ROUNDS = 3
SAFETENSORS_DTYPES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "I64": "int64"}


def skipped() -> dict[str, Any]:
    return {
        "skipped": "the simulated device has no bus: a load there copies nothing "
        "(ZOO_SIM_LOAD_MB_PER_S is a setting, not a measurement); run scripts/gpu-check "
        "on a GPU for these figures"
    }


def measure(run: Run, checkpoints: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The figures above, the largest model's checkpoint against the bus."""
    import torch

    name, other = SUBJECTS[0].name, SUBJECTS[1].name
    files = [Path(path) for path in checkpoints[name]["files"]]
    size = sum(path.stat().st_size for path in files)
    mb = size / 2**20
    loads = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        run.use(name)  # load and one predict: ready, and proven so
        loads.append(time.perf_counter() - started)
        run.manager.unload(name)
    pinned = torch.empty(size, dtype=torch.uint8, pin_memory=True)
    _read_into(files, pinned)
    device = torch.empty(size, dtype=torch.uint8, device=run.probe.device)  # type: ignore[attr-defined]
    copies = [_copy(pinned, device) for _ in range(ROUNDS)]
    del device, pinned
    copy_s, load_s = statistics.median(copies), statistics.median(loads)
    figures: dict[str, Any] = {
        "model": name,
        "checkpoint_mb": round(mb, 1),
        "pinned_copy_s": round(copy_s, 4),
        "pinned_copy_mb_per_s": round(mb / copy_s, 1),
        "load_s (page cache → ready, one predict)": round(load_s, 3),
        "load_mb_per_s": round(mb / load_s, 1),
        "ratio_copy_to_load": round(copy_s / load_s, 3),
    }
    figures |= _prefetch_beside(run, other, files, size, Path(checkpoints[name]["path"]))
    if "swap_s" in figures:
        figures["ratio_copy_to_swap"] = round(copy_s / figures["swap_s"], 3)
    torch.cuda.empty_cache()
    return figures


def _read_into(files: list[Path], pinned: Any) -> None:
    """The files' bytes, one after the other, into the pinned buffer."""
    view = memoryview(pinned.numpy())
    done = 0
    for path in files:
        with open(path, "rb", buffering=0) as file:
            while read := file.readinto(view[done : done + (16 << 20)]):
                done += read


def _copy(pinned: Any, device: Any) -> float:
    import torch

    torch.cuda.synchronize()
    started = time.perf_counter()
    device.copy_(pinned, non_blocking=True)
    torch.cuda.synchronize()
    return time.perf_counter() - started


def _prefetch_beside(
    run: Run, other: str, files: list[Path], size: int, folder: Path
) -> dict[str, Any]:
    """Prefetch the checkpoint into pinned memory while ``other`` serves predicts in a
    thread (its latency alone and meanwhile), then make the model ready from it."""
    import torch

    lease = run.manager.acquire(other)
    try:
        alone = [_predict_ms(lease, run.image) for _ in range(5)]
        during: list[float] = []
        stop = threading.Event()

        def serve() -> None:
            while not stop.is_set():
                during.append(_predict_ms(lease, run.image))

        started = time.perf_counter()
        pinned = torch.empty(size, dtype=torch.uint8, pin_memory=True)  # a kept staging buffer
        pin_s = time.perf_counter() - started
        server = threading.Thread(target=serve, daemon=True)
        server.start()
        started = time.perf_counter()
        _read_into(files, pinned)
        prefetch_s = time.perf_counter() - started
        stop.set()
        server.join()
    finally:
        lease.release()
    run.manager.unload(other)
    figures = {
        "pinned_buffer_allocation_s (once, kept by a prefetcher)": round(pin_s, 3),
        "prefetch_into_pinned_s (beside serving)": round(prefetch_s, 3),
        f"{other} predict ms alone / during prefetch (median)": [
            round(statistics.median(alone), 1),
            round(statistics.median(during), 1) if during else None,
        ],
    }
    try:
        figures["swap_s"] = round(_swap_in(pinned, folder, run), 4)
    except Exception as exc:  # a figure missing is said, never invented
        figures["swap_error"] = f"{type(exc).__name__}: {exc}"
    return figures


def _predict_ms(lease: Any, image: Any) -> float:
    started = time.perf_counter()
    lease.predict(image)
    return (time.perf_counter() - started) * 1000


def _swap_in(pinned: Any, folder: Path, run: Run) -> float:
    """Seconds from a pinned copy of a one-file safetensors checkpoint to the model on
    the device, its first forward pass done: one copy over the bus, the tensors taken
    as views of it, the model built around them (transformers renames the checkpoint's
    keys and takes the tensors as they are, initialising nothing)."""
    import torch
    import transformers
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    device = run.probe.device  # type: ignore[attr-defined]
    config = transformers.AutoConfig.from_pretrained(folder, local_files_only=True)
    model_class = getattr(transformers, config.architectures[0])
    header_size = struct.unpack("<Q", pinned[:8].numpy().tobytes())[0]
    header = json.loads(pinned[8 : 8 + header_size].numpy().tobytes())
    header.pop("__metadata__", None)
    start = 8 + header_size
    pixels = torch.zeros(1, 3, 224, 224, device=device)
    torch.cuda.synchronize()
    started = time.perf_counter()
    on_device = pinned.to(device, non_blocking=True)
    tensors = {
        key: on_device[start + entry["data_offsets"][0] : start + entry["data_offsets"][1]]
        .view(getattr(torch, SAFETENSORS_DTYPES[entry["dtype"]]))
        .view(entry["shape"])
        for key, entry in header.items()
    }
    model = model_class.from_pretrained(None, config=config, state_dict=tensors).to(device)
    with torch.inference_mode():
        model.eval()(pixel_values=pixels)
    torch.cuda.synchronize()
    elapsed = time.perf_counter() - started
    del model, tensors, on_device, pixels
    torch.cuda.empty_cache()
    return elapsed
