"""``python -m bench.gpu_check [--simulate] [--device cuda:0] [--out DIR]``: see the
package's docstring. Prints each check as it is decided and the report at the end;
exits 0 when every check held, 1 when one failed, 2 when it could not run at all."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.gpu_check import bus, report, scenarios, workspace
from bench.gpu_check.probes import CudaProbe, Probe, SimulatedProbe
from bench.gpu_check.report import ROOT
from bench.gpu_check.workspace import SUBJECTS, say

DEADLINE_S = 360  # on a GPU: the whole check, set-up included, in under 6 minutes


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/gpu-check", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument(
        "--simulate",
        action="store_true",
        help="the simulated device on the CPU, small checkpoints (writes under var/)",
    )
    parser.add_argument("--device", default="cuda:0", help="the GPU to check (cuda:N)")
    parser.add_argument(
        "--out",
        type=Path,
        help="where gpu-results.md and .json go (default: docs/ on a GPU, "
        "var/gpu-check-simulate/ with --simulate)",
    )
    parser.add_argument(
        "--data-dir", type=Path, help="parent of the throwaway data folder (default: /tmp)"
    )
    return parser.parse_args(argv)


def _no_gpu(device: str) -> str | None:
    """Why ``device`` cannot be checked here, or None."""
    try:
        import torch
    except ImportError as exc:
        return f"torch is not importable ({exc})"
    if not torch.cuda.is_available():
        return "torch sees no CUDA device here"
    index = torch.device(device).index or 0
    if index >= torch.cuda.device_count():
        return f"no {device}: torch sees {torch.cuda.device_count()} device(s)"
    return None


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    if not args.simulate and (why := _no_gpu(args.device)):
        print(f"gpu-check: cannot check {args.device}: {why}. On a machine without a "
              "GPU, run scripts/gpu-check --simulate.", file=sys.stderr)  # fmt: skip
        return 2
    default = ROOT / ("var/gpu-check-simulate" if args.simulate else "docs")
    out = args.out or default
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="zoo-gpu-check-", dir=args.data_dir) as folder:
        result = _check(Path(folder), args.simulate, args.device)
    result["seconds"] = round(time.perf_counter() - started, 1)
    checks = [report.Check(**check) for check in result["checks"]]
    if not args.simulate:
        checks.append(
            report.Check(
                "the whole check in under 6 minutes",
                result["seconds"] < DEADLINE_S,
                f"{result['seconds']} s, set-up included (limit {DEADLINE_S} s)",
            )
        )
        print(checks[-1].line, flush=True)
        result["checks"] = report.as_json(checks)
    text, figures = report.write(result, out)
    print(report.markdown(result))
    verdict = report.exit_code(checks)
    failed = [check.name for check in checks if not check.passed]
    print(f"gpu-check: {'all checks passed' if verdict == 0 else 'FAILED: ' + '; '.join(failed)}"
          f" ({text}, {figures})", file=sys.stderr)  # fmt: skip
    return verdict


def _check(folder: Path, simulate: bool, device: str) -> dict[str, Any]:
    """Every scenario, in order, on one zoo; the result, whatever failed on the way."""
    checkpoints = workspace.prepare(folder, simulate=simulate)
    zoo = workspace.start_zoo(device, simulate=simulate)
    probe: Probe = (
        SimulatedProbe(zoo.manager.backend) if simulate else CudaProbe(zoo.manager.backend.name)
    )
    run = scenarios.Run(zoo, probe, simulate, workspace.image())
    result: dict[str, Any] = {"simulate": simulate, "checkpoints": checkpoints}
    try:
        _scenarios(run, checkpoints, result)
    except Exception as exc:  # a scenario that cannot finish is a failed check, said why
        run.check("the check ran to the end", False, f"{type(exc).__name__}: {exc}")
        say(f"stopped: {type(exc).__name__}: {exc}")
    finally:
        zoo.close()
    return result | {
        "machine": report.machine(),
        "device": probe.describe(),
        "checks": report.as_json(run.checks),
    }


def _scenarios(run: scenarios.Run, checkpoints: dict[str, Any], result: dict[str, Any]) -> None:
    printed = 0

    def step(title: str) -> None:
        nonlocal printed
        for check in run.checks[printed:]:
            print(check.line, flush=True)
        printed = len(run.checks)
        if title:
            say(title)

    step(f"warming up on {run.manager.backend.name}")
    result["warm_up"] = scenarios.warm_up(run)
    result["models"] = {}
    for subject in SUBJECTS:
        step(f"measuring {subject.name}")
        disk_mb = checkpoints[subject.name]["disk_mb"]
        result["models"][subject.name] = scenarios.measure_model(run, subject.name, disk_mb)
    counted = scenarios.counted_sizes(result["models"])
    step("admission with real bytes")
    result["admission"] = scenarios.admission(run, counted)
    step("out of memory")
    result["oom"] = scenarios.out_of_memory(run, counted)
    step("load speed against the bus")
    if run.simulate:
        result["bus"] = bus.skipped()
        say(f"bus: skipped: {result['bus']['skipped']}")
    else:
        result["bus"] = bus.measure(run, checkpoints)
    step("leak check")
    result["leak"] = scenarios.leak(run)
    step("")


if __name__ == "__main__":
    sys.exit(main())
