"""The one benchmark command: runs the benchmarks asked for in their own processes and
writes one table of ratios, with the machine it ran on."""

from __future__ import annotations

import json

from bench.__main__ import main


def test_it_writes_the_table_and_the_figures_with_the_machine(tmp_path, capsys):
    assert main(["--only", "swaps", "--out", str(tmp_path)]) == 0

    table = (tmp_path / "results.md").read_text()
    assert "| swaps: lru vs offline optimum | 3348.0 loads per 1,000 batches |" in table
    assert "1.001x | ≤ 1.2x |" in table
    figures = json.loads((tmp_path / "results.json").read_text())
    assert figures["benchmarks"]["swaps"]["goal"]["met"] is True
    assert figures["machine"]["cores"] and figures["machine"]["packages"]["django"]
    assert table in capsys.readouterr().out


def test_an_unknown_benchmark_is_refused(tmp_path, capsys):
    import pytest

    with pytest.raises(SystemExit):
        main(["--only", "nope", "--out", str(tmp_path)])
    assert "unknown benchmark(s): nope" in capsys.readouterr().err
