"""``scripts/run``'s two processes, kept honest: the web server and one worker. A worker
that dies is started again (after a short pause that doubles each time); one that keeps
dying (``max_restarts`` times within ``window_s``) stops the whole service with a message
that says so, because a web server without a worker queues batches forever and answers
every inference with a 503. When the web server stops, so does the worker; SIGINT and
SIGTERM stop both.

    python -m zoo_project.supervise --worker "CMD ..." --web "CMD ..."
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Policy:
    max_restarts: int = 5
    window_s: float = 300.0
    first_pause_s: float = 1.0
    longest_pause_s: float = 30.0
    poll_s: float = 0.5


@dataclass
class Supervisor:
    worker: list[str]
    web: list[str]
    policy: Policy = field(default_factory=Policy)
    say: Callable[[str], None] = lambda line: print(f"==> {line}", file=sys.stderr, flush=True)
    restarts: list[float] = field(default_factory=list)
    stopping: bool = False

    def run(self) -> int:
        """Serve until the web server ends (its exit code), a signal (0), or a worker
        that keeps dying (1)."""
        worker = self._start(self.worker)
        web = self._start(self.web)
        try:
            while not self.stopping:
                if web.poll() is not None:
                    self.say(f"web server exited with code {web.returncode}; stopping the worker")
                    return web.returncode
                if worker.poll() is not None:
                    restarted = self._replace(worker)
                    if restarted is None:
                        return 1
                    worker = restarted
                time.sleep(self.policy.poll_s)
            return 0
        finally:
            _stop(worker)
            _stop(web)

    def stop(self, *_: Any) -> None:
        self.stopping = True

    def _replace(self, dead: subprocess.Popen) -> subprocess.Popen | None:
        now = time.monotonic()
        self.restarts = [t for t in self.restarts if now - t < self.policy.window_s]
        if len(self.restarts) >= self.policy.max_restarts:
            self.say(
                f"worker exited with code {dead.returncode} after {len(self.restarts)} "
                f"restarts within {self.policy.window_s:.0f} s: stopping the service "
                "(nothing would run its batches or inferences); see the worker's log above"
            )
            return None
        pause = min(
            self.policy.first_pause_s * 2 ** len(self.restarts), self.policy.longest_pause_s
        )
        self.restarts.append(now)
        self.say(
            f"worker exited with code {dead.returncode}; starting a new one in {pause:.0f} s "
            f"(restart {len(self.restarts)} of at most {self.policy.max_restarts} "
            f"within {self.policy.window_s:.0f} s)"
        )
        deadline = time.monotonic() + pause
        while time.monotonic() < deadline and not self.stopping:
            time.sleep(min(self.policy.poll_s, pause))
        return self._start(self.worker)

    @staticmethod
    def _start(command: list[str]) -> subprocess.Popen:
        # Its own process group: stopping it stops what it forked (Celery's pool).
        return subprocess.Popen(command, start_new_session=True)


def _stop(process: subprocess.Popen, grace_s: float = 20.0) -> None:
    if process.poll() is not None:
        return
    _signal_group(process, signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        _signal_group(process, signal.SIGKILL)
        process.wait()


def _signal_group(process: subprocess.Popen, number: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, number)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", required=True, help="the worker's command line")
    parser.add_argument("--web", required=True, help="the web server's command line")
    parser.add_argument("--max-restarts", type=int, default=Policy.max_restarts)
    parser.add_argument("--window", type=float, default=Policy.window_s)
    parser.add_argument("--first-pause", type=float, default=Policy.first_pause_s)
    args = parser.parse_args(argv)
    policy = Policy(args.max_restarts, args.window, args.first_pause)
    supervisor = Supervisor(shlex.split(args.worker), shlex.split(args.web), policy)
    signal.signal(signal.SIGTERM, supervisor.stop)
    signal.signal(signal.SIGINT, supervisor.stop)
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
