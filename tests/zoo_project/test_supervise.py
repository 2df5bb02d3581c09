"""scripts/run's supervision (zoo_project.supervise) with stand-in commands: a worker
that dies is started again, one that keeps dying stops the whole service with a message,
the worker stops with the web server, and a signal stops both."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from tests.servers import ROOT, wait_for
from zoo_project.supervise import Policy, Supervisor

FAST = Policy(max_restarts=2, window_s=60, first_pause_s=0.01, poll_s=0.05)


def script(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def starts_of(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_a_worker_that_keeps_dying_stops_the_service_with_a_message(tmp_path):
    log, said = tmp_path / "worker.log", []
    worker = script(f"open({str(log)!r}, 'a').write('start\\n'); raise SystemExit(3)")
    web_pid = tmp_path / "web"
    web = script(
        f"import os, time; open({str(web_pid)!r}, 'w').write(str(os.getpid())); time.sleep(120)"
    )

    code = Supervisor(worker, web, FAST, say=said.append).run()

    assert code == 1
    assert starts_of(log) == 3  # the first and two restarts
    assert "restart 1 of at most 2" in said[0] and "restart 2 of at most 2" in said[1]
    assert said[-1].startswith("worker exited with code 3 after 2 restarts within 60 s")
    assert "stopping the service" in said[-1]
    assert _gone(int(web_pid.read_text()))  # the web server was stopped with it


def test_a_worker_that_dies_once_is_replaced_and_stops_with_the_web_server(tmp_path):
    log, flag = tmp_path / "worker.log", tmp_path / "second"
    worker = script(
        "import os, time\n"
        f"open({str(log)!r}, 'a').write(f'{{os.getpid()}}\\n')\n"
        f"if len(open({str(log)!r}).read().split()) == 1: raise SystemExit(9)\n"
        f"open({str(flag)!r}, 'w')\n"
        "time.sleep(120)"
    )
    web = script(
        f"import os, time\nwhile not os.path.exists({str(flag)!r}): time.sleep(0.05)\n"
        "raise SystemExit(4)"
    )
    said: list[str] = []

    code = Supervisor(worker, web, FAST, say=said.append).run()

    assert code == 4  # the web server's own exit code
    assert _gone(int(log.read_text().split()[1]))  # the second worker
    assert said[-1] == "web server exited with code 4; stopping the worker"


def _gone(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or " Z " in stat.read_text()  # exited (a zombie until reaped)


def test_a_signal_stops_the_web_server_and_the_worker(tmp_path):
    pids = tmp_path / "pids"
    keep = (
        f"import os, time; open({str(pids)!r}, 'a').write(f'{{os.getpid()}}\\n'); time.sleep(120)"
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "zoo_project.supervise",
         "--worker", f"{sys.executable} -c \"{keep}\"",
         "--web", f"{sys.executable} -c \"{keep}\""],
        cwd=ROOT,
    )  # fmt: skip
    wait_for(lambda: starts_of(pids) == 2, timeout=30, interval=0.05)

    process.send_signal(signal.SIGTERM)

    assert process.wait(timeout=30) == 0
    assert all(_gone(pid) for pid in map(int, pids.read_text().split()))
