"""A real Prometheus server (Debian's `prometheus` package, installed by scripts/test) on
loopback, scraping the targets a test names, and a small client to query it."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tests.servers import free_port

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


def prometheus_binary() -> str | None:
    """The prometheus executable, or None where it is not installed."""
    return PROMETHEUS if os.access(PROMETHEUS, os.X_OK) else None


def _get_json(url: str, timeout: float = 10) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.load(response)


class PrometheusServer:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query; the `result` list (vector samples carry `value`: [ts, "str"])."""
        url = f"{self.base_url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
        try:
            body = _get_json(url)
        except urllib.error.HTTPError as exc:  # a bad expression answers 400 with a JSON error
            body = json.loads(exc.read() or b"{}")
        if body.get("status") != "success":
            raise RuntimeError(f"Prometheus query {expr!r} failed: {body}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def wait_for(
        self,
        expr: str,
        predicate: Callable[[list[dict[str, Any]]], bool],
        timeout: float = 60,
    ) -> list[dict[str, Any]]:
        """Polls `expr` until `predicate` holds for its result, which is returned."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(expr)
            if predicate(result):
                return result
            if time.monotonic() >= deadline:
                raise AssertionError(f"after {timeout:g} s, {expr!r} still gives {result!r}")
            time.sleep(0.5)

    def targets_healthy(self) -> bool:
        """Whether every active scrape target was up at its last scrape (False before the
        first scrape, while their health is "unknown")."""
        targets = _get_json(f"{self.base_url}/api/v1/targets")["data"]["activeTargets"]
        return bool(targets) and all(t["health"] == "up" for t in targets)


def _config(targets: list[str], metrics_path: str, scrape_interval_s: float) -> str:
    # JSON is YAML, so no YAML library is needed; Prometheus takes durations like "1s"/"500ms".
    ms = round(scrape_interval_s * 1000)
    interval = f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": [
            {
                "job_name": "model_zoo",
                "metrics_path": metrics_path,
                "scrape_interval": interval,
                "scrape_timeout": interval,
                "static_configs": [{"targets": targets}],
            }
        ],
    }
    return json.dumps(config, indent=2)


@contextlib.contextmanager
def prometheus_server(
    targets: list[str], *, metrics_path: str = "/metrics", scrape_interval_s: float = 1.0
) -> Iterator[PrometheusServer]:
    """Prometheus on a free loopback port scraping `targets` ("127.0.0.1:PORT"), with its
    config and data in a temporary directory removed afterwards. Its first scrape comes about
    5 s after it is ready (target discovery hands over new targets at most every 5 s), so
    poll with `wait_for` rather than querying at once."""
    binary = prometheus_binary()
    if binary is None:
        raise RuntimeError(f"no prometheus executable at {PROMETHEUS}")
    workdir = Path(tempfile.mkdtemp(prefix="prometheus-"))
    config = workdir / "prometheus.yml"
    config.write_text(_config(targets, metrics_path, scrape_interval_s))
    port = free_port()
    stderr_path = workdir / "stderr.log"
    with stderr_path.open("wb") as stderr:
        # A file, not a pipe: nobody reads it while the server runs, and a full pipe would block
        # Prometheus. Its own process group, so the whole group can be signalled.
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
    server = PrometheusServer(f"http://127.0.0.1:{port}")
    try:
        _wait_until_ready(server.base_url, process, stderr_path)
        yield server
    finally:
        _stop(process)
        shutil.rmtree(workdir, ignore_errors=True)


def _stderr_tail(path: Path) -> str:
    return path.read_bytes()[-3000:].decode(errors="replace")


def _wait_until_ready(
    base_url: str, process: subprocess.Popen[bytes], stderr_path: Path, timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"prometheus exited with {process.returncode}:\n{_stderr_tail(stderr_path)}"
            )
        try:
            with urllib.request.urlopen(f"{base_url}/-/ready", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass  # not listening yet, or 503 while the TSDB starts
        time.sleep(0.2)
    raise RuntimeError(f"prometheus not ready after {timeout:g} s:\n{_stderr_tail(stderr_path)}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
