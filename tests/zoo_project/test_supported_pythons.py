"""scripts/run and scripts/test accept the Pythons that Django 5.2 and the pinned torch
both support and that the code runs on (3.11 to 3.13), and refuse others with a message
that says which."""

from __future__ import annotations

import glob
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def supported(python: str) -> bool:
    check = f'source scripts/lib/venv.sh && supported "{python}"'
    return subprocess.run(["bash", "-c", check], cwd=ROOT).returncode == 0


def test_the_python_running_the_tests_is_supported():
    assert supported(sys.executable)


@pytest.mark.parametrize(
    ("version", "accepted"), [("3.10", False), ("3.11", True), ("3.12", True), ("3.13", True)]
)
def test_each_installed_python_is_judged_by_its_version(version, accepted):
    found = glob.glob(f"/root/.pyenv/versions/{version}.*/bin/python") + glob.glob(
        f"/usr/bin/python{version}"
    )
    if not found:
        pytest.skip(f"no Python {version} on this machine")
    assert supported(found[0]) is accepted


def test_an_unsupported_python_is_refused_with_the_versions_to_use(tmp_path):
    old = tmp_path / "python"
    old.write_text("#!/bin/sh\nexit 1\n")  # answers like a Python outside the range
    old.chmod(0o755)
    run = subprocess.run(
        ["bash", "-c", f"source {ROOT}/scripts/lib/venv.sh && ensure_venv dev"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHON": str(old)},
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1
    assert "needs Python 3.11, 3.12 or 3.13" in run.stderr
    assert not (tmp_path / ".venv").exists()
