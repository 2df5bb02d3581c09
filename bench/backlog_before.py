"""The backlog benchmark's ``main-before`` row (``bench.backlog``): the same backlog
drained by an older commit's own server and worker, in the same run as today's paths.

The commit (``--before``, default ``DEFAULT_REV``: main when issue 12 was filed, one
Celery message per batch, each batch loading and evicting its own models) is checked
out with ``git worktree add --detach`` into a temporary folder and run from there with
this interpreter and its installed packages (``check_imports`` makes sure the tree's
own packages are the ones imported). It gets everything of its own: a scratch
PostgreSQL database (this run's ``--database-url`` + ``_before``), migrated by its
``manage.py``; a data folder beside the tree with the checkpoints its ``zoo_bootstrap``
builds (today's are not reused: an older bootstrap may write other files, and building
them takes about 20 s); its own Redis database (``--before-redis-db``); its gunicorn
(``tests.servers.web_server``, as its ``scripts/run`` started it) and ONE ``zoo_worker``
(``tests.servers.worker_process``) on the same simulated device, pool and settings
(warm-up off). The batches and the task inferences are posted over HTTP exactly as for
today's paths (``bench.backlog_common.drive``).

Its figures come from its own database in plain SQL, so that today's models need not
match its tables: loads and evictions from its decision log, waits from its batches,
predict time from its results, and, for "in items", the time its worker spent in batch
messages (each batch's ``started_at`` → ``finished_at``; it has no work items).

Everything is undone on the way out, on success, failure or Ctrl-C: the processes are
stopped, the database dropped, the queue emptied, the worktree removed (``git worktree
remove --force``, then ``prune``) and the folder deleted.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.backlog_common import (
    DEVICE,
    DEVICE_TOTAL_MB,
    INFER_EVERY_S,
    INFER_TASK,
    PathRun,
    drive,
    empty_queue,
    path_run,
    servers,
)
from bench.backlog_report import infer_figures
from bench.support import scratch_postgres

ROOT = Path(__file__).resolve().parent.parent
BEFORE = "main-before"  # the row's name
DEFAULT_REV = "519a77a"  # main when issue 12 was filed: one message per batch

# Run by the older tree's ``manage.py shell``: warm-up off, a staff token, the settings the
# row ran with, and its device's queue (whose module moved over time). Prints one JSON line.
PREPARE = """
import json, socket
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from models_registry.models import InferenceSettings, Task
try:
    from inference.selectors import queue_for
except ImportError:
    from inference.worker import queue_for
InferenceSettings.objects.filter(pk=1).update(warmup_on_startup=False)
s = InferenceSettings.load()
user = get_user_model().objects.create_user("bench-backlog", is_staff=True)
m = Task.objects.select_related("selected").get(name=%(task)r).selected
print(json.dumps({
    "token": Token.objects.create(user=user).key,
    "zoo_pool_mb": s.zoo_vram_budget_mb, "eviction_policy": s.eviction_policy,
    "device_budget_mb": int(%(total)d * s.offload_threshold),
    "task_model": m and {"name": m.name, "vram_mb": m.vram_mb, "in_zoo": m.in_zoo},
    "queue": queue_for(socket.gethostname(), %(device)r),
}))
"""


@dataclass(frozen=True)
class Before:
    """Where the older commit runs: its worktree, its data folder, database and broker."""

    rev: str
    commit: str
    tree: Path
    data: Path
    database_url: str
    broker: str
    secret: str

    def env(self) -> dict[str, str]:
        """The environment its processes get on top of this one's."""
        return {
            "DATABASE_URL": self.database_url,
            "CELERY_BROKER_URL": self.broker,
            "SECRET_KEY": self.secret,
            "ZOO_DATA_DIR": str(self.data),
            "ZOO_CHECKPOINT_DIR": str(self.data / "checkpoints"),
            "PYTHONPATH": str(self.tree),  # its packages, never this checkout's
            "LOG_LEVEL": "WARNING",
        }


def resolve(rev: str) -> str:
    """The full commit ``rev`` names in this repository; a ValueError when it names none."""
    found = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    if found.returncode != 0:
        raise ValueError(f"{rev!r} names no commit of {ROOT} (--before none skips the row)")
    return found.stdout.strip()


@contextlib.contextmanager
def worktree(rev: str) -> Iterator[tuple[Path, str]]:
    """``rev`` checked out (detached) in a new temporary folder: (the tree, the commit).
    The worktree and its folder are removed afterwards, whatever happens."""
    commit = resolve(rev)
    folder = Path(tempfile.mkdtemp(prefix="zoo-before-"))
    tree = folder / f"zoo-{commit[:7]}"
    try:
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(tree), commit],
            cwd=ROOT, check=True, capture_output=True, text=True,
        )  # fmt: skip
        yield tree, commit
    finally:
        remove = ["git", "worktree", "remove", "--force", str(tree)]
        subprocess.run(remove, cwd=ROOT, capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
        subprocess.run(["git", "worktree", "prune"], cwd=ROOT, capture_output=True)


def manage(before: Before, *args: str) -> str:
    """``manage.py <args>`` of the older tree, in its environment: its standard output."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=before.tree,
        env=servers().child_env(**before.env()), capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        tail = (done.stdout[-1500:] + done.stderr[-3000:]).strip()
        raise RuntimeError(f"{before.commit[:7]}: manage.py {' '.join(args)} failed:\n{tail}")
    return done.stdout


def check_imports(before: Before) -> None:
    """The older tree's packages import with today's installed packages, from the tree."""
    probe = "import inference, models_registry, zoo_project; print(inference.__file__)"
    found = manage(before, "shell", "-c", probe).strip().splitlines()[-1]
    if not Path(found).resolve().is_relative_to(before.tree.resolve()):
        raise RuntimeError(f"{before.commit[:7]}'s worker would import {found}, not its own")


def measure_before(
    rev: str, documents: Sequence[dict[str, Any]], *, database_url: str, redis_db: int,
    timeout_s: float, inferences: int = 0,
) -> tuple[PathRun, dict[str, Any]]:  # fmt: skip
    """Drain ``documents`` (the posted batches) on commit ``rev``'s server and worker, with
    ``inferences`` task inferences meanwhile: its figures, and its set-up."""
    url, broker = f"{database_url}_before", f"redis://127.0.0.1:6379/{redis_db}"
    with worktree(rev) as (tree, commit), scratch_postgres(url):
        before = Before(rev, commit, tree, tree.parent / "data", url, broker, secrets.token_hex(32))
        check_imports(before)
        manage(before, "migrate", "--noinput")
        manage(before, "zoo_bootstrap", "--verbosity", "0")
        setup = _prepare(before)
        token, queue = setup.pop("token"), setup["queue"]
        empty_queue(broker, queue)
        try:
            env = before.env()
            with (
                servers().web_server(workers=1, root=tree, **env) as base,
                servers().worker_process(
                    DEVICE, total_memory_mb=DEVICE_TOTAL_MB, root=tree, ready=_heartbeats(url),
                    **env,
                ) as worker,
            ):  # fmt: skip
                drove = drive(
                    base, token, documents, worker=worker,
                    finished=lambda ids: _finished(url, ids), timeout_s=timeout_s,
                    inferences=inferences, task_model=setup["task_model"]["name"],
                )  # fmt: skip
                run = _figures(url, drove.ids, drove.submit_seconds, empty_queue(broker, queue))
                if inferences:
                    run.infer = infer_figures(drove.answers, drove.finished, setup["task_model"])
        finally:
            empty_queue(broker, queue)  # what the stopped worker gave back
        return run, setup | {"rev": rev, "commit": commit, "redis_db": redis_db}


def _prepare(before: Before) -> dict[str, Any]:
    script = PREPARE % {"task": INFER_TASK, "total": DEVICE_TOTAL_MB, "device": DEVICE}
    setup: dict[str, Any] = json.loads(manage(before, "shell", "-c", script).splitlines()[-1])
    model = setup["task_model"]
    if model is None or model["in_zoo"]:
        raise RuntimeError(f"{before.commit[:7]}: {INFER_TASK}'s model {model} is a zoo model")
    model.update(task=INFER_TASK, every_s=INFER_EVERY_S)
    return setup


# --- its database, in plain SQL ---------------------------------------------------------------


def _query(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql, args).fetchall()


def _table(url: str, *names: str) -> str:
    """The first of ``names`` that is a table there (models moved between apps)."""
    for name in names:
        if _query(url, "SELECT to_regclass(%s) IS NOT NULL", name)[0][0]:
            return name
    raise RuntimeError(f"none of the tables {', '.join(names)}")


def _heartbeats(url: str) -> Callable[[], bool]:
    """Whether the device heartbeats under an owner in that database."""
    sql = "SELECT count(*) FROM {} WHERE name = %s AND heartbeat_at IS NOT NULL AND worker <> ''"

    def ready() -> bool:
        devices = _table(url, "fleet_device", "models_registry_device")
        return bool(_query(url, sql.format(devices), DEVICE)[0][0])

    return ready


def _finished(url: str, ids: Sequence[uuid.UUID]) -> int:
    sql = "SELECT count(*) FROM inference_enrichmentbatch WHERE id = ANY(%s) AND status = ANY(%s)"
    return int(_query(url, sql, list(ids), ["done", "failed"])[0][0])


def _figures(url: str, ids: Sequence[uuid.UUID], submit_seconds: float, left: int) -> PathRun:
    batches = _query(
        url, "SELECT status, created_at, finished_at, started_at FROM inference_enrichmentbatch "
        "WHERE id = ANY(%s)", list(ids),
    )  # fmt: skip
    first = min(created for _, created, _, _ in batches)
    devices = _table(url, "fleet_device", "models_registry_device")
    events = _table(url, "fleet_modelevent", "models_registry_modelevent")
    zoo_events = _query(
        url, f"SELECT e.kind, m.name, e.duration_s FROM {events} e "
        f"JOIN {devices} d ON d.id = e.device_id JOIN models_registry_modelentry m "
        "ON m.id = e.model_id WHERE d.name = %s AND m.in_zoo AND e.created_at >= %s "
        "ORDER BY e.created_at, e.id", DEVICE, first,
    )  # fmt: skip
    results = _query(
        url, "SELECT model_name, duration_s, error FROM inference_enrichmentresult "
        "WHERE batch_id = ANY(%s)", list(ids),
    )  # fmt: skip
    return path_run(
        BEFORE,
        batches=[(status, created, end) for status, created, end, _ in batches],
        loaded=[(name, duration) for kind, name, duration in zoo_events if kind == "load"],
        evictions=sum(1 for kind, _, _ in zoo_events if kind == "evict"),
        results=[(name, duration, error) for name, duration, error in results],
        spans=[(start, end) for _, _, end, start in batches],
        left=left,
        submit_seconds=submit_seconds,
    )
