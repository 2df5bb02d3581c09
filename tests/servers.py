"""Real server processes for tests that need them: the same code path as production."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def needs_program(present: bool, what: str) -> pytest.MarkDecorator:
    """Skip a test whose program is missing, except in CI: its set-up installs the program
    (scripts/test), so there a missing one is a failure, not a skip."""
    return pytest.mark.skipif(
        not present and not in_ci(),
        reason=f"no {what} (scripts/test installs it from Debian's packages when it can)",
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_database_url() -> str:
    """A DATABASE_URL for the test database pytest-django made, for child processes."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "zoo_project.settings.base",
            "DATABASE_URL": test_database_url(),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECRET_KEY": settings.SECRET_KEY,
        }
    )
    env.update(extra)
    return env


@contextlib.contextmanager
def web_server(*, workers: int = 1, **env: str) -> Iterator[str]:
    """gunicorn serving the app on a free loopback port, configured as ``scripts/run``
    does (static files collected first); yields its base URL."""
    _collect_static()
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "zoo_project/gunicorn.conf.py",
         "--bind", f"127.0.0.1:{port}", "--workers", str(workers)],
        cwd=ROOT,
        env=child_env(**env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(f"{base}/healthz", process)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


_static_collected = False


def _collect_static() -> None:
    """Production settings serve hashed static files: collect them once per session."""
    global _static_collected
    if not _static_collected:
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
            cwd=ROOT,
            env=child_env(),
            check=True,
        )
        _static_collected = True


def _wait_until_up(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {process.stderr.read().decode()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):  # a slow first answer too
            time.sleep(0.2)
    raise RuntimeError(f"server did not answer {url} within {timeout}s")


def http(
    method: str, url: str, token: str | None = None, body: dict[str, Any] | None = None
) -> tuple[int, Any]:
    """A request with the standard library: status and decoded JSON body."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, method=method, data=data)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Token {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@contextlib.contextmanager
def worker_process(device: str, *, total_memory_mb: int = 8192, **env: str) -> Iterator[Any]:
    """A real ``zoo_worker`` process (Celery, prefork, concurrency 1) serving ``device``.

    Yields the process; waits until its device heartbeats in the test database.
    """
    from fleet.models import Device

    previous = Device.objects.filter(name=device).values_list("worker", flat=True).first()
    log = open(ROOT / "var" / f"test-worker-{device.replace(':', '-')}.log", "ab")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "manage.py", "zoo_worker", "--device", device,
         "--total-memory-mb", str(total_memory_mb), "--loglevel", "INFO"],
        cwd=ROOT,
        env=child_env(ZOO_WORKER_HEARTBEAT_INTERVAL_S="1", **env),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while (
            not Device.objects.filter(name=device, heartbeat_at__isnull=False)
            .exclude(worker__in=["", previous or ""])  # a new owner, not the last one
            .exists()
        ):
            if process.poll() is not None:
                raise RuntimeError(f"worker for {device} exited with {process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"worker for {device} did not start within 90 s")
            time.sleep(0.3)
        yield process
    finally:
        stop_process_group(process)
        log.close()


def stop_process_group(process: subprocess.Popen, *, kill: bool = False) -> None:
    """Stop a process and the children it forked (a Celery worker's pool)."""
    import signal

    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL if kill else signal.SIGTERM)
        except ProcessLookupError:
            return
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wait_for(predicate: Any, timeout: float = 120, interval: float = 0.3) -> Any:
    """Poll until ``predicate()`` is truthy; its value, or an AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"gave up waiting after {timeout} s")
