"""The verdicts and the report: each check's name, outcome and reason; the machine and
versions; every figure as measured, in Markdown and JSON."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("django", "torch", "transformers", "safetensors", "nvidia-ml-py", "celery")


@dataclass(frozen=True)
class Check:
    """One check: what it proves, whether it held, and the figures that say so."""

    name: str
    passed: bool
    detail: str

    @property
    def line(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'}  {self.name}: {self.detail}"


def exit_code(checks: list[Check]) -> int:
    """0 when every check held (and there was at least one), else 1."""
    return 0 if checks and all(check.passed for check in checks) else 1


def machine() -> dict[str, Any]:
    """Where and with what the figures were measured (the commit where git is there)."""
    packages: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = None
    commit = os.environ.get("ZOO_COMMIT", "")
    if not commit and shutil.which("git") and (ROOT / ".git").exists():
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit or None,
        "host": platform.node(),
        "cores": os.cpu_count(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": packages,
    }


def write(result: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """``gpu-results.md`` and ``gpu-results.json`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    text, figures = out / "gpu-results.md", out / "gpu-results.json"
    text.write_text(markdown(result))
    figures.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return text, figures


def as_json(checks: list[Check]) -> list[dict[str, Any]]:
    return [asdict(check) for check in checks]


def markdown(result: dict[str, Any]) -> str:
    passed = sum(1 for check in result["checks"] if check["passed"])
    heading = "GPU check (simulated device)" if result["simulate"] else "GPU check"
    lines = [
        f"# {heading}",
        "",
        _where(result),
        "",
        f"**{passed} of {len(result['checks'])} checks passed.**",
        "",
        *_checks(result["checks"]),
        *_models(result),
        *_section("Admission with real bytes", result.get("admission")),
        *_section("Out of memory", result.get("oom")),
        *_section("Leak check", result.get("leak")),
        *_section("Load speed against the bus", result.get("bus")),
    ]
    return "\n".join(lines) + "\n"


def _where(result: dict[str, Any]) -> str:
    m, device = result["machine"], result["device"]
    gpu = f"{device.get('name')} ({device.get('total_mb')} MB"
    if "driver" in device:
        gpu += f", driver {device['driver']}, CUDA {device['cuda_runtime']}"
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v)
    command = "scripts/gpu-check" + (" --simulate" if result["simulate"] else "")
    return (
        f"`{command}` on {m['when']}, commit {m['commit'] or 'unknown'}: {gpu}), "
        f"{m['cores']} cores, Python {m['python']}, {packages}. Device memory read as: "
        f"{device['scope']}. Took {result['seconds']} s."
    )


def _checks(checks: list[dict[str, Any]]) -> list[str]:
    rows = ["| check | result | figures |", "|---|---|---|"]
    for check in checks:
        verdict = "pass" if check["passed"] else "**FAIL**"
        rows.append(f"| {check['name']} | {verdict} | {_cell(check['detail'])} |")
    return [*rows, ""]


def _models(result: dict[str, Any]) -> list[str]:
    rows = [
        "## Models",
        "",
        "| model | estimate MB | checkpoint MB | measured MB | allocated Δ MB | "
        "device Δ MB | load s | first predict ms | warm predict ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, f in result.get("models", {}).items():
        rows.append(
            f"| {name} | {f['estimate_mb']} | {f['checkpoint_mb']} | {f['measured_mb']} | "
            f"{f['allocated_delta_mb']} | {f['used_delta_mb']} | {f['load_s']} | "
            f"{f['first_predict_ms']} | {f['warm_predict_ms']} |"
        )
    return [*rows, ""]


def _section(title: str, figures: dict[str, Any] | None) -> list[str]:
    if figures is None:
        return [f"## {title}", "", "not reached", ""]
    rows = [f"## {title}", "", "| figure | value |", "|---|---|"]
    rows += [f"| {key} | {_cell(value)} |" for key, value in figures.items()]
    return [*rows, ""]


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text.replace("|", "\\|").replace("\n", " ")
