"""The import contracts hold on this tree, and they would catch the mistakes they are
for: an upward import, a cross import between fleet and latency, Django in the engine,
and a cycle. Each is planted in a copy of the tree; the real tree is never touched."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = [
    "core", "models_registry", "fleet", "latency", "inference", "api", "dashboard", "zoo_project",
]  # fmt: skip


def _copy_tree(target: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, target / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", target / "pyproject.toml")
    return target


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    program = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(program), "--no-cache"],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _plant(tree: Path, module: str, line: str) -> None:
    path = tree / module
    text = path.read_text()
    marker = "from __future__ import annotations\n"
    path.write_text(text.replace(marker, marker + line + "\n", 1))


def test_the_tree_keeps_every_contract(tmp_path: Path) -> None:
    result = _lint(_copy_tree(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module", "line", "says"),
    [
        (
            "models_registry/selectors.py",
            "import api.urls  # noqa",
            "models_registry is not allowed to import api",
        ),
        (
            "latency/selectors.py",
            "import fleet.models  # noqa",
            "latency is not allowed to import fleet",
        ),
        (
            "inference/engine/devices.py",
            "import django.conf  # noqa",
            "inference.engine is not allowed to import django",
        ),
        ("fleet/hardware.py", "import fleet.selectors  # noqa", "No cycles are allowed in fleet"),
        (
            "inference/tasks.py",
            "import inference.pull  # noqa",
            "inference.tasks is not allowed to import inference.pull",
        ),
        (
            "api/urls.py",
            "import huggingface_hub  # noqa",
            "api is not allowed to import huggingface_hub",
        ),
    ],
    ids=["upward", "fleet-latency", "django-in-engine", "cycle", "pull-in-worker", "hub-in-web"],
)  # fmt: skip
def test_a_planted_violation_breaks_the_build(
    tmp_path: Path, module: str, line: str, says: str
) -> None:
    tree = _copy_tree(tmp_path)
    _plant(tree, module, line)
    result = _lint(tree)
    assert result.returncode != 0
    assert says in " ".join(result.stdout.split())
