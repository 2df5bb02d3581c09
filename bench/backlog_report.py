"""The backlog benchmark's figures and report (``bench.backlog``), in plain Python over
what it measured: percentiles, the task inferences' figures, each path's ratios to the
first path's checked against the issue's goals, and the Markdown tables."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

# figure → (≤ or ≥, bound): the goals for a path's ratio to the baseline
GOALS: dict[str, tuple[str, float]] = {
    "loads": ("≤", 0.2), "batches_per_minute": ("≥", 4.0), "max": ("≤", 0.5)
}  # fmt: skip
LABEL = {"loads": "loads", "batches_per_minute": "batches/min", "max": "wait max"}
INFER_GOAL = 2.0  # response p95 ≤ this × predict p95


def busy_seconds(spans: Sequence[tuple[Any, Any]]) -> float:
    """Seconds covered by the union of (start, end) spans: items served together overlap."""
    total, reach = 0.0, None
    for start, end in sorted(spans):
        if reach is None or start > reach:
            total += (end - start).total_seconds()
            reach = end
        elif end > reach:
            total += (end - reach).total_seconds()
            reach = end
    return total


def nearest_rank(values: Sequence[float], percent: float) -> float:
    """The smallest value with at least ``percent``% of ``values`` at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]


def infer_figures(
    answers: Sequence[tuple], finished: float, model: dict[str, Any]
) -> dict[str, Any]:
    """The inferences' figures: wall time and reported predict time (``inference_time``)
    of the 200 answers received before the backlog was drained, and every other answer."""
    during = [
        (wall, body) for status, wall, body, at in answers if status == 200 and at <= finished
    ]
    walls = [wall for wall, _ in during]
    predicts = [float(body["inference_time"]) for _, body in during]
    statuses = Counter(str(status) for status, *_ in answers)
    figures: dict[str, Any] = {
        "task": model["task"], "model": model["name"], "sent": len(answers),
        "during_backlog": len(during),
        "non_200": len(answers) - statuses["200"], "statuses": dict(statuses),
        "cold": sum(bool(body.get("cold")) for _, body in during),
        "response_s": percentiles(walls, (50, 95), digits=3, maximum=True),
        "predict_s": percentiles(predicts, (50, 95), digits=3, maximum=True),
        "goal": INFER_GOAL,
    }  # fmt: skip
    p95, predict95 = figures["response_s"].get("p95"), figures["predict_s"].get("p95")
    figures["ratio_p95"] = round(p95 / predict95, 2) if p95 and predict95 else None
    ratio = figures["ratio_p95"]
    figures["met"] = ratio is not None and ratio <= INFER_GOAL and figures["non_200"] == 0
    return figures


def percentiles(
    values: Sequence[float], ranks: Sequence[int], *, digits: int, maximum: bool = False
) -> dict[str, float]:
    """Nearest-rank percentiles of ``values`` (and their maximum); empty when none."""
    if not values:
        return {}
    found = {f"p{rank}": round(nearest_rank(values, rank), digits) for rank in ranks}
    return found | ({"max": round(max(values), digits)} if maximum else {})


RATIO_FIGURES = ("loads", "evictions", "batches_per_minute", "p50", "p95", "max")

Ratios = dict[str, dict[str, dict[str, float | None]]]  # baseline → later path → figure


def ratios(runs: dict[str, dict[str, Any]]) -> Ratios:
    """Each path's figures over each earlier path's (the runs in the order measured: the
    oldest code first); nothing when one path ran."""

    def figures(run: dict[str, Any]) -> list[float]:
        return [float(run["wait_s"].get(key, run.get(key))) for key in RATIO_FIGURES]

    names = list(runs)
    return {
        base: {
            name: {
                key: round(value / first, 3) if first else None
                for key, value, first in zip(
                    RATIO_FIGURES, figures(runs[name]), figures(runs[base]), strict=True
                )
            }
            for name in names[index + 1 :]
        }
        for index, base in enumerate(names[:-1])
    }


def goals(table: Ratios) -> dict[str, dict[str, dict[str, Any]]]:
    """The last path's ratios to each earlier one against ``GOALS``: baseline → figure →
    the ratio, the goal, whether met. The last path is the code the goals are set for."""

    def met(ratio: float | None, sign: str, bound: float) -> bool:
        return ratio is not None and (ratio <= bound if sign == "≤" else ratio >= bound)

    verdicts = {}
    for base, later in table.items():
        figures = list(later.values())[-1]
        verdicts[base] = {
            key: {
                "ratio": figures[key],
                "goal": f"{sign} {bound}x",
                "met": met(figures[key], sign, bound),
            }
            for key, (sign, bound) in GOALS.items()
        }
    return verdicts


def markdown(result: dict[str, Any]) -> str:
    m, mx, s = result["machine"], result["mix"], result["setup"]
    with_ = mx["batches_with"]
    lines = [
        f"Backlog: {result['batches']} enrichment batches ({mx['frames']} frames, "
        f"{mx['detections']} detections), generated from seed {result['seed']} (not replayed): "
        f"person in {with_['person']}, vehicle in {with_['vehicle']}, animal in "
        f"{with_['animal']}, no detection in {mx['batches_without_detections']}, "
        f"{mx['busy_batches']} busy (many detections).",
        f"Posted at once over HTTP to gunicorn; one zoo_worker on "
        f"{s['device']} (zoo pool {s['zoo_pool_mb']:,} MB of a {s['device_budget_mb']:,} MB "
        f"budget, policy {s['eviction_policy']}) running the bootstrap checkpoints on the CPU; "
        f"PostgreSQL, Redis db {s['redis_db']}. Paths: the worker's ZOO_WORK_ORDER, "
        f"per-message = arrival, model-major = model (ZOO_MAX_WAIT_S {s['max_wait_s']:g} s).",
        *_before_caption(result.get("before")),
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, commit {m['commit']}.",
        "",
        "| path | done | loads | evictions | models used | load time | predict time | in items "
        "| batches/min | wait p50 | wait p95 | wait max | total | left queued |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, run in result["paths"].items():
        w = run["wait_s"]
        lines.append(
            f"| {name} | {run['done']}/{run['submitted']} | {run['loads']} | {run['evictions']} "
            f"| {run['models_used']} | {run['load_seconds']} s | {run['predict_seconds']} s "
            f"| {run['item_seconds']} s | {run['batches_per_minute']} "
            f"| {w['p50']} s | {w['p95']} s | {w['max']} s | {run['span_seconds']} s "
            f"| {run['messages_left']} |"
        )
    lines += _ratio_lines(result["ratios"], list(result["paths"])[-1])
    lines += _infer_lines(result["paths"], s)
    lines += _shortfall_lines(result["paths"])
    lines += [
        "",
        "Wait: from a batch's POST (created_at) to done (finished_at), nearest-rank, over the "
        "batches done; every batch is queued at once, so the wait is mostly the backlog ahead "
        "of it. Total: first batch created to last batch done. Load time: the loads' "
        "durations; predict time: the results'; in items: the time the worker spent serving "
        "batch items, loads and predicts included (items served together counted once"
        + ("; main-before, which has no items: in batch messages" if result.get("before") else "")
        + "). Left queued: messages still in the device's queue then (they only wake the "
        "scheduler: about 0"
        + ("; main-before's are its sweeper's re-sent copies" if result.get("before") else "")
        + ").",
    ]
    return "\n".join(lines)


def _before_caption(before: dict[str, Any] | None) -> list[str]:
    if not before:
        return []
    commit, rev = before["commit"][:7], before["rev"]
    return [
        f"main-before = commit {commit}{'' if commit == rev else f' ({rev})'}, the worker and "
        "server of main before the scheduler (one Celery message per batch), run in the same "
        "way from a git worktree of it with the same packages, on its own database, Redis db "
        f"{before['redis_db']} and bootstrap checkpoints (zoo pool {before['zoo_pool_mb']:,} "
        f"MB of {before['device_budget_mb']:,} MB, policy {before['eviction_policy']})."
    ]


def _ratio_lines(table: Ratios, last: str) -> list[str]:
    lines = []
    for base, later in table.items():
        lines += [
            "",
            f"| ratio to {base} | loads | evictions | batches/min | wait p50 | wait p95 "
            "| wait max |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for name, figures in later.items():
            cells = " | ".join(
                "–" if figures[k] is None else f"{figures[k]}x" for k in RATIO_FIGURES
            )
            lines.append(f"| {name} | {cells} |")
        targets = [f"{GOALS[k][0]} {GOALS[k][1]}x" if k in GOALS else "" for k in RATIO_FIGURES]
        lines.append(f"| goal for {last} | {' | '.join(targets)} |")
    for base, verdicts in goals(table).items():
        said = "; ".join(
            f"{LABEL[key]} {v['ratio']}x {v['goal']}: {'met' if v['met'] else 'MISSED'}"
            for key, v in verdicts.items()
        )
        lines.append(f"\n{last} against the goals, to {base}: {said}.")
    return lines


def _infer_lines(runs: dict[str, dict[str, Any]], setup: dict[str, Any]) -> list[str]:
    probed = {name: run["infer"] for name, run in runs.items() if run.get("infer")}
    if not probed:
        return []
    model = setup["task_model"]
    lines = [
        "",
        f"Task inference during the backlog: `POST /api/models/infer?task_type={model['task']}` "
        f"(640×480 JPEG) on {model['name']} ({model['vram_mb']:,} MB, loaded before the "
        f"backlog, outside the zoo pool), one call every {model['every_s']} s; response = wall "
        "time of the call, predict = the `inference_time` it reports; over the 200 answers "
        "received while batches were unfinished.",
        "",
        "| path | sent | 200 during backlog | non-200 | cold | response p50 | response p95 "
        "| predict p50 | predict p95 | response p95 / predict p95 | goal |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, f in probed.items():
        r, pr = f["response_s"], f["predict_s"]
        ratio = "–" if f["ratio_p95"] is None else f"{f['ratio_p95']}x"
        verdict = f"≤ {f['goal']}x, no non-200: {'met' if f['met'] else 'MISSED'}"
        lines.append(
            f"| {name} | {f['sent']} | {f['during_backlog']} | {f['non_200']} | {f['cold']} "
            f"| {r.get('p50', '–')} s | {r.get('p95', '–')} s | {pr.get('p50', '–')} s "
            f"| {pr.get('p95', '–')} s | {ratio} | {verdict} |"
        )
    return lines


def _shortfall_lines(runs: dict[str, dict[str, Any]]) -> list[str]:
    return [
        f"\n{name}: {run['failed']} failed, {run['unfinished']} unfinished when it stopped."
        for name, run in runs.items()
        if run["failed"] or run["unfinished"]
    ]
