"""Where an entry's real weights are published, decided from its registry fields.

- transformers entries whose ``model_id`` is a hub repository id (``owner/name``, as the
  Model Management document's ids are): that repository, at a revision;
- ultralytics entries whose ``model_id`` or weights file names one of the checkpoints
  ultralytics publishes (``yolov8n``, ``yolo11n-seg``, ``yolov8s-worldv2``): that file,
  under the assets URL;
- inference servers and external APIs keep no weights here: skipped;
- anything else (a fine-tune the Model Zoo document names only by a local path): no
  published source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from inference.engine.specs import ModelSpec
from inference.engine.vocabulary import Loader

HUB_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class Kind:
    """What kind of source an entry has."""

    HUB = "hub"
    ASSET = "asset"
    NONE = "none"  # a local loader, but nowhere to download its weights from
    SKIP = "skip"  # no local weights at all (a server or an external API)


@dataclass(frozen=True)
class Source:
    """One entry's source: a hub repository and revision, or an asset URL, or why none."""

    kind: str
    repo_id: str = ""
    revision: str = ""
    url: str = ""
    filename: str = ""
    reason: str = ""

    def describe(self) -> str:
        if self.kind == Kind.HUB:
            return f"{self.repo_id}@{self.revision}"
        if self.kind == Kind.ASSET:
            return self.url
        return self.reason


def published_assets() -> frozenset[str]:
    """The checkpoint files ultralytics publishes (the installed library's own list)."""
    from ultralytics.utils.downloads import GITHUB_ASSETS_NAMES

    return frozenset(name for name in GITHUB_ASSETS_NAMES if name.endswith(".pt"))


def resolve(spec: ModelSpec, *, assets_url: str, revision: str = "main") -> Source:
    """Where ``spec``'s weights come from."""
    if spec.loader == Loader.SERVER:
        return Source(Kind.SKIP, reason="runs on a separate inference server: no local weights")
    if spec.loader == Loader.EXTERNAL:
        return Source(Kind.SKIP, reason="an external API: no local weights")
    if spec.loader == Loader.TRANSFORMERS and HUB_REPO_ID.match(spec.model_id):
        return Source(Kind.HUB, repo_id=spec.model_id, revision=revision)
    if spec.loader == Loader.ULTRALYTICS:
        assets = published_assets()
        candidates = [spec.model_id, PurePosixPath(spec.path).stem if spec.path else ""]
        for stem in candidates:
            if stem and f"{stem}.pt" in assets:
                filename = f"{stem}.pt"
                return Source(
                    Kind.ASSET, url=f"{assets_url.rstrip('/')}/{filename}", filename=filename
                )
        return Source(Kind.NONE, reason="not one of the checkpoints ultralytics publishes")
    return Source(Kind.NONE, reason="no hub repository id")
