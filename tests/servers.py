"""Real server processes for tests that need them: the same code path as production."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

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


@contextlib.contextmanager
def local_http(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """``handler`` served by a threaded HTTP server on a free local port (its base URL),
    shut down on exit: the stand-ins for services this machine cannot reach."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_database_url() -> str:
    """A DATABASE_URL for the test database pytest-django made, for child processes."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment for a child on the test database; ``extra`` wins. A
    child given its own ``DATABASE_URL`` and ``SECRET_KEY`` needs nothing of this
    process's Django (which then need not be set up)."""
    env = dict(os.environ)
    env.update({"DJANGO_SETTINGS_MODULE": "zoo_project.settings.base",
                "ALLOWED_HOSTS": "127.0.0.1,localhost"})  # fmt: skip
    if "DATABASE_URL" not in extra:
        env["DATABASE_URL"] = test_database_url()
    if "SECRET_KEY" not in extra:
        env["SECRET_KEY"] = settings.SECRET_KEY
    env.update(extra)
    return env


@contextlib.contextmanager
def web_server(*, workers: int = 1, root: Path = ROOT, **env: str) -> Iterator[str]:
    """gunicorn serving the app on a free loopback port, configured as ``scripts/run``
    does (static files collected first); yields its base URL. ``root``: the source tree
    it serves (another checkout of the project, such as an older commit's worktree, runs
    with this interpreter); this one by default."""
    _collect_static(root, env)
    port = free_port()
    # The server's log goes to a file: a pipe nobody reads fills up and blocks a busy server.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "zoo_project/gunicorn.conf.py",
             "--bind", f"127.0.0.1:{port}", "--workers", str(workers)],
            cwd=root,
            env=child_env(**env),
            stdout=subprocess.DEVNULL,
            stderr=log,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(f"{base}/healthz", process, log)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


_static_collected: set[Path] = set()


def _collect_static(root: Path, env: dict[str, str]) -> None:
    """Production settings serve hashed static files: collect them once per session and
    source tree."""
    if root not in _static_collected:
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
            cwd=root,
            env=child_env(**env),
            check=True,
        )
        _static_collected.add(root)


def _wait_until_up(
    url: str, process: subprocess.Popen, log: IO[bytes], timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"server exited: {log.read().decode()[-2000:]}")
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
def worker_process(
    device: str, *, total_memory_mb: int = 8192, root: Path = ROOT,
    ready: Callable[[], bool] | None = None, **env: str,
) -> Iterator[Any]:  # fmt: skip
    """A real ``zoo_worker`` process (Celery, prefork, concurrency 1) serving ``device``.

    Yields the process once ``ready()`` is true: by default, once its device heartbeats
    in the test database under a new owner. ``root``: the source tree it runs (another
    checkout runs with this interpreter; give it its own ``DATABASE_URL`` and a
    ``ready`` that reads that database); this one by default. Its log is
    ``var/test-worker-<device>[-<root's folder name>].log`` in this tree.
    """
    started = ready or _heartbeats_anew(device)
    name = device.replace(":", "-") + ("" if root == ROOT else f"-{root.name}")
    (ROOT / "var").mkdir(exist_ok=True)
    log = open(ROOT / "var" / f"test-worker-{name}.log", "ab")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "manage.py", "zoo_worker", "--device", device,
         "--total-memory-mb", str(total_memory_mb), "--loglevel", "INFO"],
        cwd=root,
        env=child_env(ZOO_WORKER_HEARTBEAT_INTERVAL_S="1", **env),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while not started():
            if process.poll() is not None:
                raise RuntimeError(f"worker for {device} exited with {process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"worker for {device} did not start within 90 s")
            time.sleep(0.3)
        yield process
    finally:
        stop_process_group(process)
        log.close()


def _heartbeats_anew(device: str) -> Callable[[], bool]:
    """Whether ``device`` heartbeats in the test database under an owner other than the
    one it has now (a new worker, not the last one)."""
    from fleet.models import Device

    previous = Device.objects.filter(name=device).values_list("worker", flat=True).first()
    rows = Device.objects.filter(name=device, heartbeat_at__isnull=False)
    return rows.exclude(worker__in=["", previous or ""]).exists


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
