"""What the benchmarks share: a Django set-up on a throwaway database, and how each
reports its figures (a Markdown table on stdout, the same figures as JSON on request)."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


def setup_django(database_url: str, **environment: str) -> None:
    """Production settings on ``database_url``, migrated (the catalog installed)."""
    os.environ["DATABASE_URL"] = database_url
    os.environ.update(environment)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zoo_project.settings.base")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django
    from django.core.management import call_command

    from zoo_project.data import prepare

    prepare()
    django.setup()
    call_command("migrate", verbosity=0)


def on_sqlite(measure: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``measure()`` with Django on a throwaway SQLite database and checkpoint folder."""
    with tempfile.TemporaryDirectory(prefix="zoo-bench-") as folder:
        setup_sqlite(Path(folder))
        return measure()


def setup_sqlite(data_dir: Path) -> None:
    """Django on a SQLite file, with data and checkpoints, all in ``data_dir``."""
    setup_django(
        f"sqlite:///{data_dir / 'bench.sqlite3'}",
        ZOO_DATA_DIR=str(data_dir),
        ZOO_CHECKPOINT_DIR=str(data_dir / "checkpoints"),
    )


@contextlib.contextmanager
def fresh_postgres(url: str, *, keep: bool = False) -> Iterator[None]:
    """A new PostgreSQL database at ``url`` with Django set up on it; dropped afterwards
    unless ``keep``."""
    _admin(url, "DROP DATABASE IF EXISTS {name} WITH (FORCE)", "CREATE DATABASE {name}")
    try:
        setup_django(url)
        yield
    finally:
        if not keep:
            from django.db import connections

            connections.close_all()
            _admin(url, "DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextlib.contextmanager
def scratch_postgres(url: str) -> Iterator[None]:
    """A new, empty PostgreSQL database at ``url`` (no Django set up on it: another
    checkout's processes use it), dropped afterwards whatever happens."""
    _admin(url, "DROP DATABASE IF EXISTS {name} WITH (FORCE)", "CREATE DATABASE {name}")
    try:
        yield
    finally:
        _admin(url, "DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _admin(url: str, *statements: str) -> None:
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement.format(name=f'"{name}"'))


def finish(table: str, result: dict[str, Any], json_path: Path | None) -> None:
    """Print the table; write the figures as JSON when asked to."""
    print(table)
    if json_path:
        json_path.write_text(json.dumps(result, indent=2) + "\n")
