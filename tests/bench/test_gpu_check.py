"""``scripts/gpu-check``: its simulated mode runs the whole script on the CPU, as the
GPU run would (the manager, its state rows, the scenarios, the report), so that the
script a GPU machine gets is one that works; a failed check fails the run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bench.gpu_check import report
from tests.servers import ROOT

EXPECTED = [
    "vehicle-segment-classification: measured size is the device's",
    "clip-vit-l: measured size is the device's",
    "weather-classification: measured size is the device's",
    "admission: two fit the budget",
    "admission: the third evicts exactly what it must",
    "admission: device memory never exceeds the budget",
    "out of memory: reported as error with the reason",
    "out of memory: nothing leaked",
    "out of memory: loads once the memory is freed",
    "leak: memory back at the baseline after unloading everything",
]


@pytest.mark.subprocess
@pytest.mark.timeout(300)
def test_the_simulated_check_passes_every_check_and_reports_outside_docs(tmp_path):
    docs = ROOT / "docs" / "gpu-results.md"
    docs_before = docs.read_bytes() if docs.exists() else None
    done = subprocess.run(
        [str(ROOT / "scripts" / "gpu-check"), "--simulate", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=280,
        env={**os.environ, "PYTHON": sys.executable},
    )  # fmt: skip

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads((tmp_path / "gpu-results.json").read_text())
    assert result["simulate"] is True
    assert [check["name"] for check in result["checks"]] == EXPECTED
    assert all(check["passed"] for check in result["checks"]), result["checks"]
    assert result["admission"]["evicted"][0]["model"] == "clip-vit-l"
    assert result["oom"]["row"]["status"] == "error"
    assert "Out of memory while loading" in result["oom"]["row"]["last_error"]
    assert result["bus"]["skipped"].startswith("the simulated device has no bus")
    assert {name: f["estimate_mb"] for name, f in result["models"].items()} == {
        "vehicle-segment-classification": 1500,
        "clip-vit-l": 800,
        "weather-classification": 200,
    }
    text = (tmp_path / "gpu-results.md").read_text()
    assert text.startswith("# GPU check (simulated device)")
    assert "**10 of 10 checks passed.**" in text and text in done.stdout
    assert "gpu-check: all checks passed" in done.stderr
    # The committed results are the GPU's: a simulated run never writes them.
    assert (docs.read_bytes() if docs.exists() else None) == docs_before


@pytest.mark.subprocess
def test_without_a_gpu_it_refuses_and_points_to_the_simulated_mode():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the real check would run")
    done = subprocess.run(
        [sys.executable, "-m", "bench.gpu_check"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    assert done.returncode == 2
    assert "cannot check cuda:0: torch sees no CUDA device here" in done.stderr
    assert "scripts/gpu-check --simulate" in done.stderr


def test_one_failed_check_fails_the_run_and_is_marked_in_the_report():
    checks = [
        report.Check("leak: memory back at the baseline", False, "allocated +812.0 MB"),
        report.Check("admission: two fit the budget", True, "fits"),
    ]
    result = {
        "simulate": False,
        "seconds": 1.0,
        "machine": report.machine(),
        "device": {"name": "GPU", "total_mb": 1, "scope": "process"},
        "checks": report.as_json(checks),
    }

    assert report.exit_code(checks) == 1
    assert report.exit_code(checks[1:]) == 0
    assert report.exit_code([]) == 1  # nothing checked is no pass
    text = report.markdown(result)
    assert "**1 of 2 checks passed.**" in text
    assert "| leak: memory back at the baseline | **FAIL** | allocated +812.0 MB |" in text
    assert checks[0].line == "FAIL  leak: memory back at the baseline: allocated +812.0 MB"
