"""The load benchmark (``python -m bench.load_throughput``) on a small checkpoint, run as
the benchmark command runs it: its figures say what they measure (the load until the
model can serve, with every weight page mapped; the unload apart; the copy it is
compared with) and the summary table reads them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench.__main__ import ROWS
from tests.servers import ROOT


@pytest.mark.subprocess
@pytest.mark.timeout(600)
def test_a_small_run_reports_a_resident_load_against_the_copy_of_its_bytes(tmp_path):
    out = tmp_path / "load.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.load_throughput", "--mb", "1", "--rounds", "1",
         "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=540,
    )  # fmt: skip

    figures = json.loads(out.read_text())
    # Exit 1 means the goal was missed: on 50 MB the load's fixed costs dominate.
    assert done.returncode == (0 if figures["goal"]["met"] else 1), done.stderr[-4000:]
    seconds = figures["seconds"]
    for name in ("ready", "unload", "copy", "copy_dd", "copy_whole", "first_predict"):
        assert seconds[name] > 0, name
    assert seconds["copy"] == min(seconds["copy_dd"], seconds["copy_whole"])
    assert figures["ratio_copy_to_ready"] == pytest.approx(
        seconds["copy"] / seconds["ready"], rel=0.01, abs=0.002
    )
    if sys.platform.startswith("linux"):
        assert figures["resident_share_at_ready"] == 1.0
    assert figures["first_predict_page_faults"] >= 0 and figures["checkpoint_pages"] > 0
    verdict = "— MET" if figures["goal"]["met"] else "— NOT MET"
    assert "| ready to serve: zoo load" in done.stdout and verdict in done.stdout
    rows = ROWS["load"](figures)
    assert rows[0][0].startswith(f"load {figures['checkpoint_mb']} MB checkpoint until ready")
    assert rows[1][0].startswith("unload")
