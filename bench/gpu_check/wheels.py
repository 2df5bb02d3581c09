"""``python -m bench.gpu_check.wheels``: the packages the GPU machine lacks, pinned to
the versions installed here, one ``name==version`` a line, for ``scripts/gpu-check
--fetch-wheels`` to download as wheels for that machine.

The machine's image has Python 3.12 with torch, transformers, safetensors, numpy,
Pillow, scipy, PyYAML, nvidia-ml-py and their kind (``IMAGE``, from its package list);
the check needs Django and the apps its settings install, and Celery (the project's
package imports its app). What those require is followed through the installed
packages' metadata, leaving out what the image has and what the check never imports
on SQLite (the PostgreSQL driver, the web server, ultralytics and its extras).
"""

from __future__ import annotations

import re
import sys
from importlib.metadata import PackageNotFoundError, distribution

ROOTS = (
    "Django",
    "djangorestframework",
    "drf-spectacular",
    "drf-spectacular-sidecar",
    "django-environ",
    "django-prometheus",
    "whitenoise",
    "celery",
    "redis",
)
# On the GPU machine's image already (its package list), or never imported by the check.
IMAGE = {
    "torch", "torchvision", "transformers", "safetensors", "numpy", "pillow", "scipy",
    "pyyaml", "nvidia-ml-py", "tqdm", "packaging", "filelock", "typing-extensions",
    "prometheus-client", "python-dateutil", "six", "attrs", "click", "tzdata", "jinja2",
    "markupsafe", "requests", "urllib3", "idna", "certifi", "charset-normalizer",
    "psycopg", "psycopg-binary", "gunicorn", "ultralytics", "lap",
}  # fmt: skip


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def needed(roots: tuple[str, ...] = ROOTS) -> dict[str, str]:
    """Every package the roots require, transitively, that the image lacks: name to the
    version installed here (a package not installed here is left out: the caller says)."""
    found: dict[str, str] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if _key(name) in IMAGE or _key(name) in {_key(n) for n in found}:
            continue
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            continue
        found[dist.metadata["Name"]] = dist.version
        for requirement in dist.requires or []:
            if "extra ==" in requirement:
                continue
            if "python_version" in requirement and "<" in requirement.split(";", 1)[1]:
                continue  # a backport for older Pythons than the machine's 3.12
            todo.append(re.split(r"[\s;<>=!~\[(]", requirement, maxsplit=1)[0])
    return found


def main() -> int:
    for name, version in sorted(needed().items(), key=lambda item: item[0].lower()):
        print(f"{name}=={version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
