"""Images from untrusted callers, read and decoded the same way by the web process and
the workers.

- A file under the media root is opened once, component by component from the root,
  following no symbolic link (``O_NOFOLLOW`` on every step), and only if what was
  opened is a regular file (``fstat`` on the open descriptor, so nothing can be swapped
  in between the check and the read); at most ``limit`` bytes are read, and a FIFO or a
  device never blocks the open.
- Decoding accepts JPEG, PNG and WebP only: Pillow never tries another format's plugin,
  so no external program (Ghostscript for EPS) ever runs on a caller's bytes.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import sys
from pathlib import Path, PurePosixPath
from typing import Any

from PIL import Image

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP")
NOT_ALLOWED = "is not a decodable image (JPEG, PNG or WebP)"


def pillow_open() -> Any:
    """Pillow's own ``Image.open``. Importing ultralytics replaces it with a wrapper that,
    on an image Pillow cannot identify, tries to install and register a HEIF plugin: a
    format outside the allow-list, an install attempt at run time, and (installs being
    off here) a ModuleNotFoundError where Pillow's refusal was due."""
    patches = sys.modules.get("ultralytics.utils.patches")
    return getattr(patches, "_image_open", Image.open)


class ImageRefused(ValueError):
    """The image cannot be taken; the message says why (without the media root)."""


def read_media_file(root: Path, relative: str, limit: int) -> bytes:
    """The bytes of the regular file ``relative`` under ``root``, at most ``limit``."""
    parts = _parts(relative)
    try:
        directory = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:  # no media folder (yet): there is no such file under it
        raise ImageRefused(f"no file {relative} under the media root") from None
    try:
        for part in parts[:-1]:
            inner = _step(directory, part, os.O_DIRECTORY, relative)
            os.close(directory)
            directory = inner
        handle = _step(directory, parts[-1], os.O_NONBLOCK, relative)
    finally:
        os.close(directory)
    info = os.fstat(handle)
    if not stat.S_ISREG(info.st_mode):
        os.close(handle)
        raise ImageRefused(f"{relative} is not a regular file")
    with os.fdopen(handle, "rb") as file:
        if info.st_size > limit:
            raise ImageRefused(f"is {info.st_size} bytes, more than the {limit} allowed")
        data = file.read(limit + 1)
    if len(data) > limit:  # grew since fstat
        raise ImageRefused(f"is more than the {limit} bytes allowed")
    return data


def _parts(relative: str) -> list[str]:
    if "\x00" in relative:
        raise ImageRefused("must not contain NUL characters")
    parts = [part for part in PurePosixPath(relative).parts if part != "."]
    if relative.startswith("/") or not parts or ".." in parts:
        raise ImageRefused("must be relative to the media root")
    return parts


def _step(directory: int, name: str, flags: int, relative: str) -> int:
    """Open ``name`` in ``directory``, never through a link."""
    try:
        return os.open(name, os.O_RDONLY | os.O_NOFOLLOW | flags, dir_fd=directory)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK) or _is_link(directory, name):
            raise ImageRefused(
                f"must stay under the media root ({relative} goes through a symbolic link)"
            ) from None
        if exc.errno == errno.ENOTDIR:
            raise ImageRefused(f"{relative} is not under a folder of the media root") from None
        if exc.errno == errno.ENOENT:
            raise ImageRefused(f"no file {relative} under the media root") from None
        reason = errno.errorcode.get(exc.errno or 0, "error")
        raise ImageRefused(f"{relative} cannot be read ({reason})") from None


def _is_link(directory: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=directory, follow_symlinks=False).st_mode)
    except OSError:
        return False


def image_size(data: bytes, max_pixels: int) -> tuple[int, int]:
    """Width and height of JPEG, PNG or WebP bytes that verify, read from the header
    (nothing decoded); an ImageRefused saying why for anything else."""
    try:
        with pillow_open()(io.BytesIO(data), formats=ALLOWED_FORMATS) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise ImageRefused(f"is {width}x{height}, more pixels than allowed")
            image.verify()
    except ImageRefused:
        raise
    except Image.UnidentifiedImageError:
        raise ImageRefused(NOT_ALLOWED) from None
    except Exception as exc:  # Pillow raises many types for undecodable data
        raise ImageRefused(f"is not a decodable image ({type(exc).__name__})") from None
    return width, height


def decoded_rgb(data: bytes, max_pixels: int) -> Image.Image:
    """JPEG, PNG or WebP bytes decoded to RGB, refused beyond ``max_pixels``."""
    try:
        with pillow_open()(io.BytesIO(data), formats=ALLOWED_FORMATS) as image:
            if image.width * image.height > max_pixels:
                raise ImageRefused(f"is {image.width}x{image.height}, more pixels than allowed")
            image.load()
            return image.convert("RGB")
    except ImageRefused:
        raise
    except Image.UnidentifiedImageError:
        raise ImageRefused(NOT_ALLOWED) from None
    except Exception as exc:
        raise ImageRefused(f"is not a decodable image ({type(exc).__name__})") from None
