"""A load ends when the model can serve: every weight resident, no first-touch stalls.

transformers reads safetensors checkpoints by mapping the file: after
``from_pretrained`` on the CPU the parameters point into a private mapping of the file
of which about 1% is in the process's page tables, so the first ``predict`` pays a page
fault for every stretch of weights it reads (the issue measured 0.37-0.60 s for a 628 MB
checkpoint; less where the page cache holds the file in large folios). A load that
returns then is quick only because it has left work for the first call.

``make_resident`` maps every page of every CPU parameter and buffer into the process
before the load returns. On Linux 5.14+ that is one ``madvise(MADV_POPULATE_READ)`` per
run of adjacent tensors: the kernel maps what the page cache holds and reads the rest
from disk, with no copy and no trap per page (2-3 ms for a warm 340 MB checkpoint).
Elsewhere, or where the kernel refuses, it reads one byte of every page, which faults
the same pages in. Tensors already in the process's own memory cost a walk of their
pages; tensors on an accelerator were made resident by the copy to the device.

Why map rather than copy: a copy into the process's own memory pays a fault and a
zeroing per page on top of the copy (``param.data.clone()`` took 0.04-0.14 s for 340 MB
on the 2-core development machine, against 2-3 ms here) and holds a second copy of the
weights beside the page cache's. The pages stay the page cache's, shared
by every worker that maps the checkpoint. What that leaves, as before this module: the
kernel may reclaim them under memory pressure, like any file page (the next read then
faults again), and a checkpoint rewritten in place while loaded changes under the model
(truncated, its pages raise SIGBUS when read).
"""

from __future__ import annotations

import ctypes
import functools
import logging
import mmap
import sys
from collections.abc import Iterable
from typing import Any

logger = logging.getLogger(__name__)

PAGE = mmap.PAGESIZE
MADV_POPULATE_READ = getattr(mmap, "MADV_POPULATE_READ", 22)  # Linux 5.14+


def make_resident(modules: Iterable[Any]) -> int:
    """Fault in every page of the CPU parameters and buffers of ``modules``; the bytes of
    tensor storage covered (each storage once)."""
    ranges = _cpu_storage_ranges(modules)
    populate = _madvise()
    for start, end in _page_runs(ranges):
        if populate is None or populate(start, end - start, MADV_POPULATE_READ) != 0:
            populate = None  # not this kernel: read a byte a page from here on
            _touch(start, end)
    return sum(end - start for start, end in ranges)


def _cpu_storage_ranges(modules: Iterable[Any]) -> list[tuple[int, int]]:
    """``(first byte, end)`` of each distinct CPU storage behind the modules' tensors."""
    found: dict[int, int] = {}
    for module in modules:
        for tensor in [*module.parameters(), *module.buffers()]:
            if tensor.device.type != "cpu":
                continue
            storage = tensor.untyped_storage()
            start, size = storage.data_ptr(), storage.nbytes()
            if start and size:
                found[start] = max(found.get(start, 0), size)
    return [(start, start + size) for start, size in found.items()]


def _page_runs(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The ranges widened to whole pages, with overlapping or touching ones merged: one
    call per run, and never a page outside some tensor's pages (so never a hole)."""
    runs: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        first, last = start - start % PAGE, -(-end // PAGE) * PAGE
        if runs and first <= runs[-1][1]:
            runs[-1] = (runs[-1][0], max(runs[-1][1], last))
        else:
            runs.append((first, last))
    return runs


@functools.cache
def _madvise() -> Any:
    """libc's ``madvise``, or None where there is none to use."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        madvise = libc.madvise
    except (OSError, AttributeError):
        return None
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    madvise.restype = ctypes.c_int
    return madvise


def _touch(start: int, end: int) -> None:
    """Read one byte of every page in ``[start, end)`` (whole pages of live tensors)."""
    import torch

    pages = (end - start) // PAGE
    view = (ctypes.c_ubyte * (pages * PAGE)).from_address(start)
    bytes_ = torch.frombuffer(view, dtype=torch.uint8)
    # A strided reduction reads the first byte of each page: every page is faulted in.
    int(bytes_[::PAGE].sum())
    logger.debug("faulted in %d pages by reading them", pages)


def resident_share(modules: Iterable[Any]) -> float | None:
    """The share of the pages of the modules' CPU tensors that are mapped in this
    process's page tables: 1.0 when a ``predict`` can read every weight without a page
    fault. None where ``/proc/self/pagemap`` cannot be read (not Linux)."""
    present = total = 0
    try:
        with open("/proc/self/pagemap", "rb") as pagemap:
            for start, end in _page_runs(_cpu_storage_ranges(modules)):
                pagemap.seek(start // PAGE * 8)
                entries = memoryview(pagemap.read((end - start) // PAGE * 8)).cast("Q")
                total += len(entries)
                present += sum(entry >> 63 for entry in entries)  # bit 63: page present
    except OSError:
        return None
    return present / total if total else 1.0
