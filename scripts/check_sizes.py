"""Fails when production code outgrows what one person holds in their head: a module
over 500 lines, or a function over 60 (decorators and nested functions included),
outside migrations and tests. Usage: python scripts/check_sizes.py [PATH ...]"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60
PACKAGES = [
    "core", "models_registry", "fleet", "latency", "inference", "api", "dashboard", "zoo_project",
    "bench",
]  # fmt: skip


def production_files(roots: list[str]) -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", *roots],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    names = [name for name in listed if name.endswith(".py") and "/migrations/" not in name]
    return [Path(name) for name in names if Path(name).exists()]


def problems(path: Path) -> list[str]:
    text = path.read_text()
    found = []
    lines = text.count("\n")
    if lines > MAX_MODULE_LINES:
        found.append(f"{path}: {lines} lines (at most {MAX_MODULE_LINES})")
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            length = (node.end_lineno or node.lineno) - start + 1
            if length > MAX_FUNCTION_LINES:
                found.append(
                    f"{path}:{node.lineno}: {node.name} is {length} lines "
                    f"(at most {MAX_FUNCTION_LINES})"
                )
    return found


def main(argv: list[str]) -> int:
    found = [p for path in production_files(argv or PACKAGES) for p in problems(path)]
    print("\n".join(found) or "sizes ok")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
