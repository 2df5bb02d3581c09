"""How latency is laid out in the database: histogram bucket bounds of the running
totals, roll-up grains and their retention.

The write side (``services``), the read side (``selectors``) and the Prometheus
exposition all depend on these figures, so they live here, below all of them, and this
module imports nothing from the app: no import cycle can run through it.
"""

from __future__ import annotations

import bisect
import math
from datetime import timedelta

# Upper bounds (seconds) of the latency histograms: inferences sit in the low buckets,
# model loads in the high ones. ``LatencyTotal.le_index`` indexes into this tuple, so
# changing it changes the meaning of stored rows.
HISTOGRAM_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
    math.inf,
)  # fmt: skip


def le_index(seconds: float) -> int:
    """The index of the smallest bucket bound at or above a duration."""
    return bisect.bisect_left(HISTOGRAM_BUCKETS, seconds)


# Roll-up interval lengths (seconds), coarsest first; each divides the ones before it.
# A history bucket is answered by tiling it with the coarsest intervals that fit: whole
# hours or 5 minutes in its interior, finer grains toward its edges, seconds at the
# very edge of a bucket whose size no coarser grain divides (13 s, 305 s), so counts
# and sums stay exact at every bucket size. Grains finer than FINE_GRAIN_LIMIT only
# serve the API's one-day window, so they are kept FINE_GRAIN_RETENTION, not the full
# roll-up retention.
GRAINS = (3600, 300, 60, 10, 1)
FINE_GRAIN_LIMIT = 300
FINE_GRAIN_RETENTION = timedelta(days=2)
