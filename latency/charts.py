"""The latency chart, drawn on the server as SVG: works without JavaScript, needs no
library, and is the same picture for every browser.

Three series (avg, p50, p95) over the history's buckets; each is drawn as line
segments between consecutive buckets that have data (an empty bucket breaks the
line) and a dot per bucket, so a single bucket still shows. Series differ by colour
*and* dash pattern, and the legend names them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from latency.selectors import History

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 12, 30  # margins for the axes' labels


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    dash: str  # SVG stroke-dasharray; "" for solid
    segments: list[str] = field(default_factory=list)  # "x,y x,y ..." polylines
    dots: list[tuple[float, float]] = field(default_factory=list)


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    series: list[Series]
    y_ticks: list[tuple[float, str]]  # (y position, label)
    x_ticks: list[tuple[float, str, str]]  # (x position, label, text-anchor)
    plot: tuple[int, int, int, int]  # left, top, right, bottom
    empty: bool


def history_chart(history: History) -> Chart:
    """An SVG-ready chart of a history's avg, p50 and p95."""
    snapshots = history.snapshots
    left, top, right, bottom = LEFT, TOP, WIDTH - RIGHT, HEIGHT - BOTTOM
    peak = max((s.stats.p95_ms for s in snapshots if s.stats), default=0.0)
    ceiling = _nice_ceiling(peak * 1.1) if peak else 1.0
    span = max(1, len(snapshots) - 1)

    def x_of(index: int) -> float:
        return round(left + (right - left) * index / span, 1)

    def y_of(ms: float) -> float:
        return round(bottom - (bottom - top) * ms / ceiling, 1)

    series = []
    for key, label, dash in (("p95", "p95", "6 4"), ("p50", "p50", ""), ("avg", "avg", "2 3")):
        segments: list[str] = []
        dots: list[tuple[float, float]] = []
        run: list[str] = []
        for index, snapshot in enumerate(snapshots):
            if snapshot.stats is None:
                if len(run) > 1:
                    segments.append(" ".join(run))
                run = []
                continue
            value = getattr(snapshot.stats, f"{key}_ms")
            point = (x_of(index), y_of(value))
            dots.append(point)
            run.append(f"{point[0]},{point[1]}")
        if len(run) > 1:
            segments.append(" ".join(run))
        series.append(Series(key=key, label=label, dash=dash, segments=segments, dots=dots))

    y_ticks = [(y_of(ceiling * step / 4), _ms(ceiling * step / 4)) for step in range(5)]
    x_ticks = []
    if snapshots:
        last = len(snapshots) - 1
        for index in sorted({0, last // 2, last}):
            anchor = "start" if index == 0 else "end" if index == last else "middle"
            x_ticks.append((x_of(index), snapshots[index].start.strftime("%H:%M"), anchor))
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        series=series,
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        plot=(left, top, right, bottom),
        empty=not history.has_data,
    )


def _nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above ``value`` (> 0)."""
    base = 10.0 ** math.floor(math.log10(value))
    return next(base * step for step in (1, 2, 5, 10) if base * step >= value)


def _ms(value: float) -> str:
    return f"{value:.0f} ms" if value >= 10 or value == 0 else f"{value:.1f} ms"
