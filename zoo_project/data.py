"""The data folder (``ZOO_DATA_DIR``, ``./var`` by default) and what must be in it
before any process of the service starts: the folder itself, the file-system broker's
folders when that broker is in use, and the secret key when none is configured.

Settings only read (they create no folders and write no files); the entry points
(``manage.py``, the WSGI application, the test suite) call ``prepare()`` first.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
BROKER_FOLDERS = ("queue", "processed", "control")


def read_env() -> None:
    """A local ``.env`` file, if any; the process environment always wins over it."""
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)


def data_dir() -> Path:
    return Path(os.environ.get("ZOO_DATA_DIR") or BASE_DIR / "var").resolve()


def secret_key_file() -> Path:
    return data_dir() / "secret_key"


def prepare() -> None:
    """Create what the settings expect to find; safe when several processes start at once."""
    read_env()
    folder = data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    if os.environ.get("CELERY_BROKER_URL", "filesystem://").startswith("filesystem://"):
        for sub in BROKER_FOLDERS:
            (folder / "broker" / sub).mkdir(parents=True, exist_ok=True)
    if not os.environ.get("SECRET_KEY"):
        _create_secret_key(secret_key_file())


def _create_secret_key(path: Path) -> None:
    """Write a new key to a private temporary file, then publish it with a hard link,
    which fails if the key exists: of processes starting together, one key wins and
    every process reads that one (never a half-written file)."""
    if path.exists():
        return
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".secret_key.")
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        os.unlink(temporary)
