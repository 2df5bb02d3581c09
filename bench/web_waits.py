"""Status latency while many requests wait: the p99 of each status endpoint on an idle
server, then with 50 inference requests in flight, each waiting for a load that does not
come, on the same server.

Run from the repository root (needs the local PostgreSQL and ``wrk``)::

    .venv/bin/python -m bench.web_waits [--waiting 50] [--seconds 5] [--json out.json]

It serves gunicorn as ``scripts/run`` does (2 processes of ``WEB_THREADS`` threads) on
its own database, with a live simulated device that no worker serves: an inference is
accepted, routed to it, and waits ``ZOO_INFER_WAIT_S`` for a load that never lands,
which is what a request sees while a slow load runs. The figure is each status
endpoint's p99 under ``wrk --latency`` with the waits in flight over its idle p99
(goal, issue 13: <= 3x, no failed answer). The same scenario on the previous server
model (sync workers, one request per process) is run beside it for comparison: there
the waits take every process and status requests time out.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from bench.api_throughput import ENDPOINTS, collect_static, live_device_with_models, served
from bench.support import finish, fresh_postgres
from bench.wrk import wrk

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/model_zoo_bench_waits"
STATUS = {name: url for name, url in ENDPOINTS.items() if name != "baseline"}
GOAL = 3.0
SERVERS = {
    "threads": {},
    "sync workers (main before)": {"GUNICORN_CMD_ARGS": "--worker-class sync --threads 1"},
}


def _wrk_p99(url: str, seconds: int) -> dict[str, Any]:
    """p99 latency (ms), requests/s and failed answers of ``url`` under 4 connections."""
    run = wrk(url, seconds=seconds, connections=4, latency=True, timeout_s=5)
    return {
        "answered": run.answered,
        "p99_ms": run.p99_ms,
        "requests_per_second": run.requests_per_second,
        "failed": run.failed,
    }


def _token() -> str:
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    user = get_user_model().objects.create_user("bench-waits", is_staff=True)
    return Token.objects.create(user=user).key


def _infer(base: str, token: str, answers: list[int]) -> None:
    from tests.traffic import image_b64

    body = json.dumps({"image": image_b64(64, 48, seed=1)}).encode()
    request = urllib.request.Request(
        f"{base}/api/models/infer?task_type=object_detection", data=body, method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Token {token}"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            answers.append(response.status)
    except urllib.error.HTTPError as error:
        answers.append(error.code)
    except OSError:
        answers.append(0)


def _in_flight() -> int:
    from inference.models import InferenceRequest

    return InferenceRequest.objects.count()


def scenario(
    database_url: str, token: str, waiting: int, seconds: int, env: dict[str, str]
) -> dict[str, Any]:
    wait_s = seconds * len(STATUS) + 20  # the waits outlast the measurement
    with (
        tempfile.TemporaryDirectory(prefix="zoo-bench-waits-") as data,
        served(
            database_url, workers=2, extra={
                "ZOO_DATA_DIR": data, "CELERY_BROKER_URL": "filesystem://",
                "ZOO_INFER_WAIT_S": str(wait_s), **env,
            },
        ) as base,
    ):  # fmt: skip
        for url in STATUS.values():
            _wrk_p99(base + url, 1)
        idle = {name: _wrk_p99(base + url, seconds) for name, url in STATUS.items()}
        before = _in_flight()
        answers: list[int] = []
        threads = [
            threading.Thread(target=_infer, args=(base, token, answers), daemon=True)
            for _ in range(waiting)
        ]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while _in_flight() - before < waiting and time.monotonic() < deadline:
            time.sleep(0.2)
        accepted = _in_flight() - before
        loaded = {name: _wrk_p99(base + url, seconds) for name, url in STATUS.items()}
        still_waiting = waiting - len(answers)
        # The waits end with the document's 503 after ZOO_INFER_WAIT_S; on a server that
        # takes them one per process, the queued rest end with the server.
        done_by = started + wait_s + 10
        for thread in threads:
            thread.join(max(0.0, done_by - time.monotonic()))
    return {
        "accepted": accepted,
        "waiting_during_measurement": still_waiting,
        "answers": {str(code): answers.count(code) for code in sorted(set(answers))},
        "idle": idle,
        "loaded": loaded,
        "ratio": {
            name: round(loaded[name]["p99_ms"] / idle[name]["p99_ms"], 2)
            if loaded[name]["p99_ms"] and idle[name]["p99_ms"] and not loaded[name]["failed"]
            else None
            for name in STATUS
        },
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"Status p99 with {result['waiting']} inference requests waiting (wrk, 4 connections, "
        f"{result['seconds']} s per endpoint), against the same server idle",
        "",
        "| server | endpoint | idle p99 | p99 with waits | ratio | answered | failed | goal |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for server, run in result["servers"].items():
        for name in STATUS:
            idle, loaded, ratio = run["idle"][name], run["loaded"][name], run["ratio"][name]
            verdict = "met" if ratio is not None and ratio <= GOAL else "MISSED"
            lines.append(
                f"| {server} | {name} | {idle['p99_ms']} ms | {loaded['p99_ms']} ms "
                f"| {ratio if ratio is not None else '-'}x | {loaded['answered']} "
                f"| {loaded['failed']} "
                f"| <= {GOAL}x, none failed: {verdict} |"
            )
        lines.append(
            f"| {server} | inferences | accepted {run['accepted']}, still waiting during the "
            f"measurement {run['waiting_during_measurement']}, answers {run['answers']} "
            "| | | | | |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_WAITS_DATABASE_URL", DEFAULT_URL)
    )
    parser.add_argument("--waiting", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--before", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--json", type=Path, help="Also write the figures as JSON here")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is missing: run scripts/bench, which installs it", file=sys.stderr)
        return 2
    servers = SERVERS if args.before else {"threads": {}}
    with fresh_postgres(args.database_url):
        live_device_with_models()
        collect_static()
        token = _token()
        runs = {
            name: scenario(args.database_url, token, args.waiting, args.seconds, env)
            for name, env in servers.items()
        }
    result = {"waiting": args.waiting, "seconds": args.seconds, "servers": runs}
    finish(markdown(result), result, args.json)
    ours = runs["threads"]["ratio"].values()
    return 0 if all(ratio is not None and ratio <= GOAL for ratio in ours) else 1


if __name__ == "__main__":
    sys.exit(main())
