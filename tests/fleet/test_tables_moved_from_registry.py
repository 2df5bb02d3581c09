"""A database migrated by the code before the fleet app existed migrates forward with
every runtime row intact: devices, model states, the decision log and its tallies, and
the rows of other apps that point at a device. It runs on a scratch database of its own,
in a child process, as an operator's upgrade would."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

from tests.servers import ROOT, child_env


@pytest.fixture
def scratch_database(tmp_path: Path) -> Iterator[str]:
    settings = connection.settings_dict
    if settings["ENGINE"].endswith("sqlite3"):
        yield f"sqlite:///{tmp_path / 'upgrade.sqlite3'}"
        return
    import psycopg

    name = f"{settings['NAME']}_upgrade"
    host, port, user = settings["HOST"] or "127.0.0.1", settings["PORT"] or 5432, settings["USER"]
    admin = f"postgres://{user}@{host}:{port}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgres://{user}@{host}:{port}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.subprocess
@pytest.mark.django_db
def test_runtime_rows_survive_the_move_to_fleet(scratch_database: str) -> None:
    probe = subprocess.run(
        [sys.executable, "-m", "tests.fleet.migration_probe"],
        cwd=ROOT,
        env=child_env(DATABASE_URL=scratch_database),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    rows = json.loads(probe.stdout)
    before, after = rows["before"], rows["after"]

    assert after["device"] == [before["device"], "gpu-a", "cuda:0", 19660]
    assert after["state"] == [before["entry"], before["device"], "loaded", 2, 180, 1]
    assert after["event"] == [before["device"], "yolo11-face", "loaded"]
    assert after["tally"] == 7
    assert after["batch_devices"] == [str(before["device"])]
    assert after["device_batches"] == 1
    assert after["sample_device"] == before["device"]
