"""The scenarios, each on the real manager of one device: every model measured alone,
admission with real bytes, out of memory, and the leak check. Each records its figures
and adds its checks to the run."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.gpu_check import workspace
from bench.gpu_check.probes import Probe, Sampler
from bench.gpu_check.report import Check
from bench.gpu_check.workspace import SUBJECTS

WARM_PREDICTS = 5
# ``torch.cuda.memory_allocated`` back at its baseline: within what the libraries keep
# for themselves through the allocator (cuBLAS workspaces), nothing a model could hide in.
ALLOCATED_SLACK_MB = 16.0


@dataclass
class Run:
    """One run of the check: the zoo on its device, the probe, what was found."""

    zoo: Any
    probe: Probe
    simulate: bool
    image: Any
    checks: list[Check] = field(default_factory=list)
    baseline_allocated_mb: float = 0.0
    baseline_used_mb: float = 0.0

    @property
    def manager(self) -> Any:
        return self.zoo.manager

    def check(self, name: str, passed: bool, detail: str) -> bool:
        self.checks.append(Check(name, bool(passed), detail))
        return bool(passed)

    def baseline(self) -> None:
        self.probe.settle()
        self.baseline_allocated_mb = self.probe.allocated_mb()
        self.baseline_used_mb = self.probe.used_mb()

    def above_baseline(self) -> tuple[float, float]:
        """(allocated, in use) MB over the baseline, now."""
        self.probe.settle()
        return (
            self.probe.allocated_mb() - self.baseline_allocated_mb,
            self.probe.used_mb() - self.baseline_used_mb,
        )

    def use(self, name: str) -> None:
        """Acquire (loading if need be), one predict, release."""
        lease = self.manager.acquire(name)
        try:
            lease.predict(self.image)
        finally:
            lease.release()

    def unload_all(self) -> None:
        for name in list(self.manager.snapshot()):
            self.manager.unload(name, wait_s=10.0)


def _ms(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def warm_up(run: Run) -> dict[str, Any]:
    """The process's first load and predict, on the bootstrap's small model; then the
    baseline every later figure is read against."""
    started = time.perf_counter()
    run.use(workspace.WARMUP)
    run.manager.unload(workspace.WARMUP)
    run.baseline()
    return {"model": workspace.WARMUP, "seconds": round(time.perf_counter() - started, 2)}


def measure_model(run: Run, name: str, checkpoint_mb: float) -> dict[str, Any]:
    """One model from nothing to ready on the device, alone: the registry's estimate,
    the manager's measure, what the device saw, the load and predict times."""
    run.probe.settle()
    allocated, used = run.probe.allocated_mb(), run.probe.used_mb()
    started = time.perf_counter()
    lease = run.manager.acquire(name)
    load_s = time.perf_counter() - started
    try:
        run.probe.settle()
        allocated_delta = run.probe.allocated_mb() - allocated
        used_delta = run.probe.used_mb() - used
        view = run.manager.snapshot()[name]
        first = _ms(lambda: lease.predict(run.image))
        warm = statistics.median(_ms(lambda: lease.predict(run.image)) for _ in range(3))
        estimate = lease.spec.vram_mb
    finally:
        lease.release()
    row = workspace.state_row(run.zoo, name)
    run.manager.unload(name)
    figures = {
        "estimate_mb": estimate,
        "checkpoint_mb": checkpoint_mb,
        "measured_mb": view.measured_mb,
        "counted_mb": view.held_mb,
        "allocated_delta_mb": round(allocated_delta, 1),
        "used_delta_mb": round(used_delta, 1),
        "load_s": round(load_s, 3),
        "first_predict_ms": round(first, 1),
        "warm_predict_ms": round(warm, 1),
        "row": row,
    }
    _check_measure(run, name, figures)
    return figures


def _check_measure(run: Run, name: str, f: dict[str, Any]) -> None:
    """The manager's measure is what the device saw, and the row says so."""
    measured, counted = f["measured_mb"] or 0, f["counted_mb"]
    if run.simulate:  # the ledger holds what the manager counts
        agrees = abs(f["allocated_delta_mb"] - counted) < 1
        seen = f"ledger +{f['allocated_delta_mb']} MB, counted {counted} MB"
    else:  # torch's allocation over the load, to the MB (the measure rounds up)
        agrees = 0 <= measured - f["allocated_delta_mb"] < 2 + 0.01 * measured
        seen = f"torch.cuda allocated +{f['allocated_delta_mb']} MB, measured {measured} MB"
    stored = f["row"]["measured_mb"] == f["measured_mb"] and f["row"]["status"] == "loaded"
    run.check(
        f"{name}: measured size is the device's",
        agrees and stored and measured > 0,
        f"{seen}; {run.probe.scope} +{f['used_delta_mb']} MB; state row {f['row']['status']}, "
        f"{f['row']['measured_mb']} MB; checkpoint {f['checkpoint_mb']} MB",
    )


def counted_sizes(models: dict[str, dict[str, Any]]) -> dict[str, int]:
    """What admission counts each model at: the larger of estimate and measure."""
    return {n: max(f["estimate_mb"], f["measured_mb"] or 0) for n, f in models.items()}


def admission(run: Run, counted: dict[str, int]) -> dict[str, Any]:
    """Two models fit the budget, the third does not: it evicts the least recently used
    of the two, which frees enough, and nothing else; the device, sampled in a thread
    all along, never holds more than the budget over its baseline."""
    big, middle, small = (subject.name for subject in SUBJECTS)
    budget = counted[big] + counted[middle] + counted[small] // 2
    workspace.set_budget(run.manager, budget)
    mark = workspace.event_mark(run.zoo)
    with Sampler(run.probe) as sampler:
        for name in (big, middle, big):  # the middle one is now the least recently used
            run.use(name)
        before_third = workspace.events_since(run.zoo, mark, "evict")
        run.use(small)
        loaded = sorted(run.manager.snapshot())
        held = run.manager.held_mb()
    evicted = workspace.events_since(run.zoo, mark, "evict")
    run.unload_all()
    peak_allocated = sampler.peak_allocated_mb - run.baseline_allocated_mb
    peak_used = sampler.peak_used_mb - run.baseline_used_mb
    figures = {
        "budget_mb": budget,
        "counted_mb": counted,
        "evicted": evicted,
        "loaded_after": loaded,
        "held_after_mb": held,
        "samples": sampler.samples,
        "peak_allocated_over_baseline_mb": round(peak_allocated, 1),
        "peak_used_over_baseline_mb": round(peak_used, 1),
        "sampler_errors": sampler.errors[:3],
    }
    run.check(
        "admission: two fit the budget",
        not before_third,
        f"{big} ({counted[big]} MB) and {middle} ({counted[middle]} MB) loaded in "
        f"{budget} MB; evictions before the third: {[e['model'] for e in before_third]}",
    )
    run.check(
        "admission: the third evicts exactly what it must",
        [e["model"] for e in evicted] == [middle] and loaded == sorted([big, small]),
        f"{small} ({counted[small]} MB) evicted {[e['model'] for e in evicted]} "
        f"(expected [{middle!r}], the least recently used); loaded after: {loaded}",
    )
    within = max(peak_allocated, peak_used) <= budget and held <= budget
    run.check(
        "admission: device memory never exceeds the budget",
        within and sampler.samples > 0 and not sampler.errors,
        f"peak over baseline: {peak_allocated:.1f} MB allocated, {peak_used:.1f} MB "
        f"({run.probe.scope}) in {sampler.samples} samples; budget {budget} MB",
    )
    return figures


def out_of_memory(run: Run, counted: dict[str, int]) -> dict[str, Any]:
    """Memory taken outside the manager leaves half of what the largest model needs:
    its load ends in ``error`` with the reason, frees what it took, and succeeds once
    the memory is back."""
    name = SUBJECTS[0].name
    need = counted[name]
    workspace.set_budget(run.manager, int(run.manager.backend.total_memory_mb * 0.9))
    failure: dict[str, Any] = {"raised": None}
    with run.probe.fill(leave_mb=need // 2) as free_mb:
        try:
            run.use(name)
        except Exception as exc:
            failure = {"raised": type(exc).__name__, "reason": str(exc)[:500]}
            failure["out_of_memory"] = bool(getattr(exc, "out_of_memory", False))
        row = workspace.state_row(run.zoo, name)
        on_books = name in run.manager.snapshot()
        held = run.manager.held_mb()
        leaked, _ = run.above_baseline()
        gc.collect()
        leaked_after_gc, _ = run.above_baseline()
        run.unload_all()  # a load that wrongly succeeded must not stay
    try:
        run.use(name)
        reloaded = workspace.state_row(run.zoo, name)["status"]
    except Exception as exc:
        reloaded = f"{type(exc).__name__}: {exc}"
    run.unload_all()
    _check_oom(run, name, need, free_mb, failure, row, on_books, held, leaked)
    run.check(
        "out of memory: loads once the memory is freed",
        reloaded == "loaded",
        f"{name} after the other process let go: {reloaded}",
    )
    return {
        "model": name,
        "need_mb": need,
        "free_mb_left": round(free_mb, 1),
        **failure,
        "row": row,
        "allocated_over_baseline_after_mb": round(leaked, 1),
        "allocated_over_baseline_after_gc_mb": round(leaked_after_gc, 1),
        "reload": reloaded,
    }


def _check_oom(
    run: Run,
    name: str,
    need: int,
    free_mb: float,
    failure: dict[str, Any],
    row: dict[str, Any],
    on_books: bool,
    held: int,
    leaked: float,
) -> None:
    reported = (
        failure.get("out_of_memory") is True
        and row["status"] == "error"
        and "out of memory" in row["last_error"].lower()
    )
    run.check(
        "out of memory: reported as error with the reason",
        reported,
        f"{name} needs {need} MB, {free_mb:.0f} MB left free: raised {failure['raised']} "
        f"(out_of_memory={failure.get('out_of_memory')}); row {row['status']}: "
        f"{row['last_error'][:200]!r}",
    )
    slack = 0.0 if run.simulate else ALLOCATED_SLACK_MB
    run.check(
        "out of memory: nothing leaked",
        not on_books and held == 0 and leaked <= slack,
        f"on the manager's books: {on_books}, held {held} MB; allocated over baseline "
        f"right after the failure, before any garbage collection: {leaked:.1f} MB "
        f"(allowed {slack:.0f})",
    )


def leak(run: Run) -> dict[str, Any]:
    """Everything unloaded: memory back at the baseline, within the runtime's own."""
    run.unload_all()
    allocated, used = run.above_baseline()
    rows = {s.name: workspace.state_row(run.zoo, s.name)["status"] for s in SUBJECTS}
    slack_allocated = 0.0 if run.simulate else ALLOCATED_SLACK_MB
    slack_used = run.probe.context_mb
    run.check(
        "leak: memory back at the baseline after unloading everything",
        allocated <= slack_allocated
        and used <= slack_used
        and run.manager.held_mb() == 0
        and all(status == "unloaded" for status in rows.values()),
        f"allocated {allocated:+.1f} MB (allowed {slack_allocated:.0f}), in use {used:+.1f} MB "
        f"({run.probe.scope}; allowed the context's {slack_used:.0f}); held "
        f"{run.manager.held_mb()} MB; rows {rows}",
    )
    return {
        "allocated_over_baseline_mb": round(allocated, 1),
        "used_over_baseline_mb": round(used, 1),
        "context_mb": round(run.probe.context_mb, 1),
        "rows": rows,
    }
