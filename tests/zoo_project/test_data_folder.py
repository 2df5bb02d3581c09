"""The data folder is made by the entry points, not by the settings: importing the
settings writes nothing, and processes that start together share one secret key."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from tests.servers import ROOT

PREPARE = (
    "from zoo_project.data import prepare, secret_key_file as f; prepare(); print(f().read_text())"
)
SETUP = "import django; django.setup(); from django.conf import settings; settings.DATA_DIR"


def _env(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "CELERY_BROKER_URL")}
    env["DJANGO_SETTINGS_MODULE"] = "zoo_project.settings.base"
    return env | {"ZOO_DATA_DIR": str(folder)}


def test_importing_the_settings_creates_no_folder_and_writes_no_file(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    subprocess.run([sys.executable, "-c", SETUP], cwd=ROOT, env=_env(folder), check=True)
    assert not folder.exists()


def test_processes_starting_together_share_one_private_secret_key(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    starts = [
        subprocess.Popen(
            [sys.executable, "-c", PREPARE],
            cwd=ROOT,
            env=_env(folder),
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    keys = {start.communicate(timeout=60)[0] for start in starts}

    assert len(keys) == 1 and len(keys.pop()) > 40
    key_file = folder / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert sorted(p.name for p in folder.iterdir()) == ["broker", "secret_key"]  # no leftovers
    assert sorted(p.name for p in (folder / "broker").iterdir()) == [
        "control", "processed", "queue",
    ]  # fmt: skip
