"""Overrides for the test suite: fast hashing, a file-backed SQLite test database.

Everything else is the base settings, so the tests exercise what production runs.
"""

from __future__ import annotations

from zoo_project.settings.base import *  # noqa: F403
from zoo_project.settings.base import DATA_DIR, DATABASES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# A fixed key, handed to the server and worker processes the tests start (tests.servers).
SECRET_KEY = "test-only key: not a secret"

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file, not memory: tests that start server processes must see the same data.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test_db.sqlite3")}

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
