"""Logarithmic latency bins: a mergeable sketch with a guaranteed relative accuracy.

A duration ``x`` (ms) falls in bin ``i = ceil(log_gamma(x))``, which holds
``(gamma**(i-1), gamma**i]``. Reporting a bin by ``2 * gamma**i / (gamma + 1)`` is off by
at most ``ALPHA`` of any value in it, so the percentile read off merged bins is within
``ALPHA`` (relative) of the exact percentile of the raw samples. Merging is adding
counts, which is what lets SQL roll intervals up into any multiple of their length.

Percentiles follow the nearest-rank definition (numpy's ``method="inverted_cdf"``,
PostgreSQL's ``percentile_disc``): ``pXX`` is the smallest sample with at least XX% of
the samples at or below it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

ALPHA = 0.005  # percentiles within 0.5% of exact
GAMMA = (1 + ALPHA) / (1 - ALPHA)
LOG_GAMMA = math.log(GAMMA)
MIN_MS = 1e-3  # one microsecond: shorter durations share the lowest bin


def bin_of(duration_ms: float) -> int:
    """The bin a duration falls in."""
    return math.ceil(math.log(max(duration_ms, MIN_MS)) / LOG_GAMMA)


def value_of(bin_index: int) -> float:
    """The value a bin reports: within ``ALPHA`` of everything in it."""
    return 2 * GAMMA**bin_index / (GAMMA + 1)


def rank(fraction_percent: int, count: int) -> int:
    """The 1-based rank of the nearest-rank percentile: ``ceil(count * p / 100)``."""
    return max(1, -(-count * fraction_percent // 100))


def percentile_exact(sorted_values: list[float], percent: int) -> float:
    """The nearest-rank percentile of sorted raw values (what the sketch approximates)."""
    return sorted_values[rank(percent, len(sorted_values)) - 1]


def percentiles(bins: dict[int, int], count: int, percents: Sequence[int]) -> list[float]:
    """Nearest-rank percentiles of a sketch (``{bin: samples}`` holding ``count``)."""
    wanted = [rank(percent, count) for percent in percents]
    found: list[float] = []
    seen = 0
    for index in sorted(bins):
        seen += bins[index]
        while len(found) < len(wanted) and seen >= wanted[len(found)]:
            found.append(value_of(index))
        if len(found) == len(wanted):
            break
    return found
