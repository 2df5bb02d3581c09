"""Deciding and building: one folder per entry, built under a temporary name and renamed
into place when done, with a marker written last."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from inference.bootstrap.common import MARKER, _seeded
from inference.bootstrap.targets import Target, builder_for


class Action:
    """What the bootstrap did with one entry."""

    BUILT = "built"
    REUSED = "reused"  # a complete earlier build was there: pointed at it
    CURRENT = "up to date"  # already points at its built checkpoint
    REAL = "real weights kept"  # its path exists outside the checkpoint folder
    UNSUPPORTED = "not buildable"  # no local loader, or no builder for its kind


@dataclass(frozen=True)
class Outcome:
    """One entry's result: the action, the path it should point at, the build time."""

    name: str
    action: str
    path: str = ""
    seconds: float = 0.0

    @property
    def changes_path(self) -> bool:
        return self.action in (Action.BUILT, Action.REUSED)


def checkpoint_dir() -> Path:
    return Path(settings.ZOO_CHECKPOINT_DIR)


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def _completed(folder: Path) -> Path | None:
    """The entry path of a complete earlier build in ``folder``, if there is one."""
    marker = folder / MARKER
    if not marker.is_file():
        return None
    try:
        relative = json.loads(marker.read_text())["entry"]
    except (ValueError, KeyError, TypeError):
        return None
    path = (folder / relative).resolve()
    return path if path.exists() else None


def decide(target: Target, root: Path, *, force: bool = False) -> Outcome | None:
    """What to do with ``target`` without building anything: an outcome, or ``None`` when
    it must be built."""
    if builder_for(target) is None:
        return Outcome(target.name, Action.UNSUPPORTED)
    current = Path(target.path) if target.path else None
    if current is not None and current.exists():
        if not _inside(current, root):
            return Outcome(target.name, Action.REAL, str(current))
        if not force:
            return Outcome(target.name, Action.CURRENT, str(current))
    if not force:
        done = _completed(root / target.name)
        if done is not None:
            return Outcome(target.name, Action.REUSED, str(done))
    return None


def build(target: Target, root: Path | None = None) -> Outcome:
    """Build ``target``'s checkpoint into ``root`` (default: ``ZOO_CHECKPOINT_DIR``),
    replacing an earlier build, and return where the entry should point."""
    builder = builder_for(target)
    if builder is None:
        return Outcome(target.name, Action.UNSUPPORTED)
    root = Path(root or checkpoint_dir())
    root.mkdir(parents=True, exist_ok=True)
    final = root / target.name
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=root))
    try:
        with _seeded(_seed(target.name)):
            relative = builder(work)
        seconds = time.perf_counter() - started
        marker = {"name": target.name, "entry": relative, "seconds": round(seconds, 3)}
        (work / MARKER).write_text(json.dumps(marker) + "\n")
        if final.exists():
            shutil.rmtree(final)
        work.rename(final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return Outcome(target.name, Action.BUILT, str((final / relative).resolve()), seconds)


def _seed(name: str) -> int:
    # Stable across runs and processes (unlike hash()).
    return sum((index + 1) * ord(char) for index, char in enumerate(name)) % (2**31)


def bootstrap(
    targets: Iterable[Target],
    root: Path | None = None,
    *,
    force: bool = False,
    progress: Any = None,
) -> list[Outcome]:
    """Build what is missing among ``targets``; the outcome of every one, in order.

    ``progress`` is an optional callable(total) returning a tqdm-like bar.
    """
    root = Path(root or checkpoint_dir())
    targets = list(targets)
    outcomes: dict[str, Outcome] = {}
    todo: list[Target] = []
    for target in targets:
        decided = decide(target, root, force=force)
        if decided is None:
            todo.append(target)
        else:
            outcomes[target.name] = decided
    bar = progress(len(todo)) if progress and todo else None
    try:
        for target in todo:
            if bar is not None:
                bar.set_postfix_str(target.name)
            outcomes[target.name] = build(target, root)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return [outcomes[target.name] for target in targets]
