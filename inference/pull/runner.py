"""One entry's pull, all or nothing: resolve, download into staging, check, move into
place. The entry's registry row is the command's to update, and only on success."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inference.engine.specs import ModelSpec
from inference.pull import assets, checks, hub
from inference.pull.assets import ProgressFactory
from inference.pull.errors import PullError
from inference.pull.sources import Kind, Source, resolve

MARKER = ".zoo-pull.json"
STAGING = ".staging"
MB = 1024 * 1024


class Status:
    PULLED = "pulled"
    CURRENT = "up to date"  # pulled before from the same source: pointed at it again
    PLANNED = "would pull"  # --dry-run
    SKIPPED = "skipped"  # no local weights (a server, an external API)
    NO_SOURCE = "no published source"
    FAILED = "failed"


@dataclass(frozen=True)
class Outcome:
    """One entry's result; ``path`` is where the entry should point (pulled or current)."""

    name: str
    status: str
    path: str = ""
    detail: str = ""

    @property
    def changes_path(self) -> bool:
        return self.status in (Status.PULLED, Status.CURRENT) and bool(self.path)


@dataclass(frozen=True)
class PullOptions:
    dest: Path
    assets_url: str
    endpoint: str | None = None
    revision: str = "main"
    dry_run: bool = False
    retries: int = 3
    progress: ProgressFactory | None = None  # for plain HTTP downloads


def pull(spec: ModelSpec, options: PullOptions) -> Outcome:
    """Pull ``spec``'s real weights; never raises for a failure of this entry's own."""
    source = resolve(spec, assets_url=options.assets_url, revision=options.revision)
    if source.kind == Kind.SKIP:
        return Outcome(spec.name, Status.SKIPPED, detail=source.reason)
    if source.kind == Kind.NONE:
        return Outcome(spec.name, Status.NO_SOURCE, detail=source.reason)
    try:
        if source.kind == Kind.HUB:
            return _pull_repo(spec, source, options)
        return _pull_asset(spec, source, options)
    except PullError as exc:
        return Outcome(spec.name, Status.FAILED, detail=str(exc))
    except Exception as exc:  # the hub client's and the file system's errors alike
        failure = f"{source.describe()}: {type(exc).__name__}: {exc}"
        return Outcome(spec.name, Status.FAILED, detail=failure)


def _pull_repo(spec: ModelSpec, source: Source, options: PullOptions) -> Outcome:
    snap = hub.snapshot(source, endpoint=options.endpoint)
    final = options.dest / spec.name
    where = f"{snap.repo_id}@{snap.commit[:12]}"
    record = {"source": "hub", "repo_id": snap.repo_id, "revision": source.revision}
    record["commit"] = snap.commit
    if _pulled_before(final, record):
        return Outcome(spec.name, Status.CURRENT, str(final), f"{where} is already there")
    summary = f"{len(snap.files)} files, {snap.total_bytes / MB:.1f} MB from {where}"
    if options.dry_run:
        return Outcome(spec.name, Status.PLANNED, str(final), summary)
    staging = options.dest / STAGING / spec.name
    _check_room(options.dest, snap.total_bytes)
    hub.fetch(snap, staging, endpoint=options.endpoint)
    checks.check_files(staging, snap.files)
    seconds = checks.test_load(spec, staging)
    files = [{"name": f.name, "size": f.size, "sha256": f.sha256} for f in snap.files]
    _write_marker(staging, {**record, "files": files})
    _promote(staging, final)
    hashed = sum(1 for f in snap.files if f.sha256 or f.blob_id)
    verified = f"sizes and {hashed} hashes checked, test load {seconds:.1f} s"
    return Outcome(spec.name, Status.PULLED, str(final), f"{summary}; {verified}")


def _pull_asset(spec: ModelSpec, source: Source, options: PullOptions) -> Outcome:
    final = options.dest / spec.name
    record = {"source": "asset", "url": source.url}
    if _pulled_before(final, record) and (final / source.filename).is_file():
        return Outcome(spec.name, Status.CURRENT, str(final / source.filename), source.url)
    if options.dry_run:
        return Outcome(spec.name, Status.PLANNED, str(final / source.filename), source.url)
    staging = options.dest / STAGING / spec.name
    file = staging / source.filename
    size = assets.fetch(source.url, file, retries=options.retries, progress=options.progress)
    seconds = checks.test_load(spec, file)
    files = [{"name": source.filename, "size": size, "sha256": checks.sha256_of(file)}]
    _write_marker(staging, {**record, "files": files})
    _promote(staging, final)
    detail = f"{size / MB:.1f} MB from {source.url}; size checked, test load {seconds:.1f} s"
    return Outcome(spec.name, Status.PULLED, str(final / source.filename), detail)


def _pulled_before(final: Path, record: dict[str, Any]) -> bool:
    """Whether ``final`` holds a complete earlier pull from the same source."""
    try:
        marker = json.loads((final / MARKER).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(marker, dict) and all(marker.get(k) == v for k, v in record.items())


def _check_room(dest: Path, needed: int) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(dest).free
    if needed > free:
        raise PullError(f"needs {needed / MB:.0f} MB, {dest} has {free / MB:.0f} MB free")


def _write_marker(folder: Path, record: dict[str, Any]) -> None:
    record = {**record, "pulled_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (folder / MARKER).write_text(json.dumps(record, indent=2) + "\n")


def _promote(staging: Path, final: Path) -> None:
    """Move a checked staging folder into place (a rename on the same file system); an
    earlier pull there is replaced and removed."""
    shutil.rmtree(hub.download_state_dir(staging).parent, ignore_errors=True)
    final.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.replaced-{uuid.uuid4().hex[:8]}")
        final.rename(old)
    staging.rename(final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
