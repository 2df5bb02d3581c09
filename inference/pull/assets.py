"""Plain HTTP downloads of published files (ultralytics' YOLO checkpoints), resumable.

A file is written to ``<file>.part`` and renamed when every byte the server announced
has arrived. A download that breaks off is resumed with a ``Range`` request: within the
run, up to ``retries`` times, and in a later run from the ``.part`` file left behind.
"""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from contextlib import nullcontext
from http.client import HTTPException
from pathlib import Path
from typing import Any

from inference.pull.errors import PullError

CHUNK = 1024 * 1024
TIMEOUT_S = 60
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")

ProgressFactory = Callable[..., Any]  # tqdm-like: (total=, initial=, desc=) -> bar


class _Incomplete(Exception):
    pass


def fetch(
    url: str,
    target: Path,
    *,
    retries: int = 3,
    progress: ProgressFactory | None = None,
    backoff_s: float = 1.0,
) -> int:
    """Download ``url`` to ``target`` (resuming ``target``.part); the file's size."""
    if target.is_file():
        return target.stat().st_size  # complete in an earlier run
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    failures = 0
    while True:
        try:
            _attempt(url, part, progress)
            part.rename(target)
            return target.stat().st_size
        except (OSError, HTTPException, _Incomplete) as exc:
            if isinstance(exc, urllib.error.HTTPError) and exc.code != 416 and exc.code < 500:
                raise PullError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
            if isinstance(exc, urllib.error.HTTPError) and exc.code == 416:
                part.unlink(missing_ok=True)  # the part is no prefix of the file: start over
            failures += 1
            have = part.stat().st_size if part.exists() else 0
            if failures > retries:
                kept = f"; {have} bytes kept, a re-run resumes from there" if have else ""
                raise PullError(f"{url}: {type(exc).__name__}: {exc}{kept}") from exc
            time.sleep(backoff_s * failures)


def _attempt(url: str, part: Path, progress: ProgressFactory | None) -> None:
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "model-zoo-zoo_pull", "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        total = _total(response, have)
        if have and response.status != 206:
            have = 0  # the server ignored the range: the whole file comes again
        mode = "ab" if have else "wb"
        name = part.name.removesuffix(".part")
        bar = progress(total=total, initial=have, desc=name) if progress else None
        with part.open(mode) as out, bar if bar is not None else nullcontext():
            while chunk := response.read(CHUNK):
                out.write(chunk)
                if bar is not None:
                    bar.update(len(chunk))
    size = part.stat().st_size
    if total is not None and size != total:
        raise _Incomplete(f"{size} of {total} bytes")


def _total(response: Any, have: int) -> int | None:
    """The file's full size, from Content-Range (a resumed download) or Content-Length."""
    if response.status == 206:
        match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", ""))
        if match is None or int(match.group(1)) != have:
            raise _Incomplete(f"unexpected Content-Range {response.headers.get('Content-Range')}")
        return None if match.group(3) == "*" else int(match.group(3))
    length = response.headers.get("Content-Length")
    return int(length) if length is not None else None
