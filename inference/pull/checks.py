"""Checking what was downloaded: sizes, published hashes, and a test load through the
project's real loader on the CPU."""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Iterable
from pathlib import Path

from inference.engine.loaders import LoadError, load_model
from inference.engine.specs import ModelSpec
from inference.pull.errors import PullError
from inference.pull.hub import RemoteFile


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def git_blob_id(path: Path) -> str:
    """The git object id of a file's content (what the hub publishes for non-LFS files)."""
    digest = hashlib.sha1(usedforsecurity=False)
    digest.update(f"blob {path.stat().st_size}\0".encode())
    with path.open("rb") as stream:
        while block := stream.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def file_problem(path: Path, remote: RemoteFile) -> str:
    """What is wrong with a downloaded file against what the hub published ("" if nothing)."""
    if not path.is_file():
        return f"{remote.name}: missing"
    size = path.stat().st_size
    if remote.size is not None and size != remote.size:
        return f"{remote.name}: {size} bytes, the hub says {remote.size}"
    if remote.sha256 and sha256_of(path) != remote.sha256:
        return f"{remote.name}: sha256 differs from the published {remote.sha256[:12]}…"
    if not remote.sha256 and remote.blob_id and git_blob_id(path) != remote.blob_id:
        return f"{remote.name}: git blob id differs from the published {remote.blob_id[:12]}…"
    return ""


def check_files(folder: Path, files: Iterable[RemoteFile]) -> None:
    """Raise ``PullError`` naming every file that fails its check; those files are
    deleted (a corrupt file cannot be resumed), so a re-run downloads them again."""
    problems = []
    for remote in files:
        path = folder / remote.name
        problem = file_problem(path, remote)
        if problem:
            problems.append(problem)
            path.unlink(missing_ok=True)
    if problems:
        raise PullError(
            "verification failed: " + "; ".join(problems) + " (removed; a re-run fetches them)"
        )


def test_load(spec: ModelSpec, path: Path) -> float:
    """Load ``path`` as ``spec``'s kind of model on the CPU and free it; the seconds taken.
    Raises ``PullError`` with the loader's reason if it cannot be loaded."""
    started = time.perf_counter()
    try:
        model = load_model(dataclasses.replace(spec, path=str(path)), "cpu")
    except (LoadError, MemoryError) as exc:
        raise PullError(f"test load failed: {exc}") from exc
    except Exception as exc:
        raise PullError(f"test load failed: {type(exc).__name__}: {exc}") from exc
    try:
        return time.perf_counter() - started
    finally:
        model.close()
