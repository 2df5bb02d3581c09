"""gunicorn settings for the web server (``scripts/run``; tests start it the same way).

Several web processes answer ``/metrics`` in turn, so django-prometheus's request and
database counters are kept in prometheus_client's multiprocess files and summed at
every scrape: whichever process answers, the numbers are the whole server's. (The
model_zoo series come from the database and need none of this: ``zoo_project/metrics.py``.)
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from zoo_project.data import data_dir

_data = data_dir()
# One folder per server (master pid), set before the workers import prometheus_client.
multiproc_dir = os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", str(_data / "prometheus" / f"web-{os.getpid()}")
)

wsgi_app = "zoo_project.wsgi"
timeout = 60
# Threaded workers: a request that waits for a worker (an inference, a load, a select
# that loads) holds one thread, sleeping until the database says its work changed
# (inference.waiting) on the connection it keeps; the other threads go on answering.
# WEB_CONCURRENCY processes × WEB_THREADS threads is how many requests are in flight at
# once (scripts/run: 2 × 32).
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "32"))


def on_starting(server: Any) -> None:
    """Start from empty files: counters of an earlier server must not carry over."""
    shutil.rmtree(multiproc_dir, ignore_errors=True)
    Path(multiproc_dir).mkdir(parents=True, exist_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, multiproc_dir)


def on_exit(server: Any) -> None:
    shutil.rmtree(multiproc_dir, ignore_errors=True)
