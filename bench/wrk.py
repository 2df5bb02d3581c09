"""``wrk``, the loopback load generator of the web benchmarks, and what its report says."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class WrkRun:
    answered: int  # requests completed, whatever their status
    requests_per_second: float
    p99_ms: float | None  # with ``latency`` only, and only if something was answered
    failed: int  # non-2xx/3xx answers and timeouts; 1 if nothing was answered at all
    report: str


def wrk(
    url: str, *, seconds: int, connections: int, threads: int = 1, latency: bool = False,
    timeout_s: float | None = None,
) -> WrkRun:  # fmt: skip
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", url]
    if latency:
        command.append("--latency")
    if timeout_s is not None:
        command += ["--timeout", f"{timeout_s}s"]
    report = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    answered = re.search(r"(\d+) requests in", report)
    count = int(answered.group(1)) if answered else 0
    rps = re.search(r"Requests/sec:\s+([\d.]+)", report)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", report) if latency else None
    errors = (
        re.search(r"Non-2xx or 3xx responses: (\d+)", report),
        re.search(r"timeout (\d+)", report),
    )
    return WrkRun(
        answered=count,
        requests_per_second=float(rps.group(1)) if rps else 0.0,
        p99_ms=round(float(p99.group(1)) * _UNITS[p99.group(2)], 2) if p99 and count else None,
        failed=sum(int(found.group(1)) for found in errors if found) or (0 if count else 1),
        report=report,
    )
