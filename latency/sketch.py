"""Logarithmic latency bins: a mergeable sketch with a guaranteed relative accuracy.

A duration ``x`` (ms) falls in bin ``i = ceil(log_gamma(x))``, which holds
``(gamma**(i-1), gamma**i]``. Reporting a bin by ``2 * gamma**i / (gamma + 1)`` is off by
at most ``ALPHA`` of any value in it, so the percentile read off merged bins is within
``ALPHA`` (relative) of the exact percentile of the raw samples. Merging is adding
counts, which is what lets roll-ups of short intervals answer any longer one they tile.

Percentiles follow the nearest-rank definition (numpy's ``method="inverted_cdf"``,
PostgreSQL's ``percentile_disc``): ``pXX`` is the smallest sample with at least XX% of
the samples at or below it.

**Stored form.** A sketch is bytes: ``(bin, count)`` pairs of big-endian 32-bit signed
integers, ascending by bin, only the bins that hold samples. Big-endian because that is
what PostgreSQL's ``int4send`` writes, so SQL can build sketches (``services``'
rebuild from raw samples, the migration from JSON) exactly as Python does; reading
many of them is one ``bytes.join`` and one ``numpy.frombuffer``, never a loop per bin.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

ALPHA = 0.005  # percentiles within 0.5% of exact
GAMMA = (1 + ALPHA) / (1 - ALPHA)
LOG_GAMMA = math.log(GAMMA)
MIN_MS = 1e-3  # one microsecond: shorter durations share the lowest bin
MAX_BIN = 2**31 - 1  # the stored form's limit (reached only by durations past 10**9000 ms)

PAIR = np.dtype(">i4")  # the stored integers
Ints = npt.NDArray[np.int64]


def bin_of(duration_ms: float) -> int:
    """The bin a duration falls in."""
    return min(MAX_BIN, math.ceil(math.log(max(duration_ms, MIN_MS)) / LOG_GAMMA))


def bins_of(durations_ms: npt.NDArray[np.float64]) -> Ints:
    """``bin_of`` for many durations at once."""
    logs = np.log(np.maximum(durations_ms, MIN_MS)) / LOG_GAMMA
    return np.minimum(np.ceil(logs), MAX_BIN).astype(np.int64)


def value_of(bin_index: int) -> float:
    """The value a bin reports: within ``ALPHA`` of everything in it."""
    return 2 * GAMMA**bin_index / (GAMMA + 1)


def rank(fraction_percent: int, count: int) -> int:
    """The 1-based rank of the nearest-rank percentile: ``ceil(count * p / 100)``."""
    return max(1, -(-count * fraction_percent // 100))


def percentile_exact(sorted_values: list[float], percent: int) -> float:
    """The nearest-rank percentile of sorted raw values (what the sketch approximates)."""
    return sorted_values[rank(percent, len(sorted_values)) - 1]


# --- the stored form -------------------------------------------------------------------


def encode(bins: Ints, counts: Ints) -> bytes:
    """A sketch from bins (ascending, distinct) and their counts."""
    pairs = np.empty((len(bins), 2), dtype=PAIR)
    pairs[:, 0] = bins
    pairs[:, 1] = counts
    return pairs.tobytes()


def decode(blob: bytes | memoryview) -> tuple[Ints, Ints]:
    """Bins and counts of a stored sketch."""
    pairs = np.frombuffer(blob, dtype=PAIR).reshape(-1, 2).astype(np.int64)
    return pairs[:, 0], pairs[:, 1]


def as_dict(blob: bytes | memoryview) -> dict[int, int]:
    """``{bin: count}``: a sketch for people (the admin, tests), not for merging."""
    bins, counts = decode(blob)
    return dict(zip(bins.tolist(), counts.tolist(), strict=True))


def merge(*blobs: bytes | memoryview) -> bytes:
    """One sketch holding every sample of the given ones."""
    decoded = [decode(blob) for blob in blobs]
    bins = np.concatenate([b for b, _ in decoded])
    counts = np.concatenate([c for _, c in decoded])
    distinct, where = np.unique(bins, return_inverse=True)
    return encode(distinct, np.bincount(where, weights=counts).astype(np.int64))


def of_durations(durations_ms: Sequence[float]) -> bytes:
    """The sketch of raw durations."""
    distinct, counts = np.unique(bins_of(np.asarray(durations_ms, float)), return_counts=True)
    return encode(distinct, counts)


# --- reading many sketches at once -----------------------------------------------------


def grouped_percentiles(
    groups: Ints, sizes: Ints, pairs: npt.NDArray[np.int32], totals: Ints, percents: Sequence[int]
) -> npt.NDArray[np.float64]:
    """Percentiles of sketches merged by group, all groups at once.

    ``pairs`` are the (bin, count) pairs of many stored sketches one after the other:
    sketch ``i`` has ``sizes[i]`` of them and belongs to group ``groups[i]`` (0..G-1);
    ``totals[g]`` is the number of samples in group ``g`` (every group has some).
    Returns a ``(G, len(percents))`` array of reported values. The pairs are put in
    (group, bin) order — no sort when each group is one sketch and they come in group
    order — and each percentile is found by a binary search of the running count: the
    first pair whose running count reaches the group's rank.
    """
    native = pairs.astype(np.int64)
    bins, counts = native[:, 0], native[:, 1]
    if not bool(np.all(np.diff(groups) > 0)):
        owner = np.repeat(groups, sizes)
        order = np.argsort((owner << 32) | (bins + 2**31), kind="stable")  # sorted runs
        bins, counts = bins[order], counts[order]
    running = np.cumsum(counts)
    before = np.cumsum(totals) - totals  # samples in the groups ahead of each group
    found = np.empty((len(totals), len(percents)))
    for column, percent in enumerate(percents):
        ranks = np.maximum(1, -(-totals * percent // 100))
        index = np.searchsorted(running, before + ranks, side="left")
        found[:, column] = 2 * GAMMA ** bins[index].astype(np.float64) / (GAMMA + 1)
    return found
