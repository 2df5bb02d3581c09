"""The database and the broker restarted under traffic: the service recovers by itself
and no batch is lost. These restart the machine's own PostgreSQL and Redis, so they run
only on request (``scripts/reliability``), never in the ordinary suite."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token

from inference.models import EnrichmentBatch
from tests.factories import UserFactory
from tests.servers import http, wait_for, web_server, worker_process
from tests.traffic import assert_complete, batch_document

pytestmark = [pytest.mark.subprocess, pytest.mark.disruptive, pytest.mark.timeout(600)]

# Work whose wake-up message died with the broker waits in the database, where the
# worker's scheduler finds it within a second (ZOO_SCHEDULER_POLL_S).
QUICK = {"ZOO_SCHEDULER_POLL_S": "1"}


def restart_postgres() -> None:
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart", "-m", "fast"],
        check=True,
    )


def restart_redis() -> None:
    subprocess.run(["redis-cli", "shutdown", "nosave"], check=False)
    time.sleep(1)
    Path("/var/log/redis").mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379",
         "--save", "", "--appendonly", "no", "--dir", "/var/lib/redis",
         "--logfile", "/var/log/redis/ci.log"],
        check=True,
    )  # fmt: skip
    wait_for(lambda: subprocess.run(["redis-cli", "ping"], capture_output=True).returncode == 0)


def post_batch(base: str, token: str) -> str:
    """Submit over HTTP, as a client would, retrying while the service recovers."""
    deadline = time.monotonic() + 60
    while True:
        try:
            status, body = http("POST", f"{base}/api/enrichment/batches", token, batch_document())
            if status == 202:
                return str(body["id"])
        except OSError:
            status, body = 0, None
        if time.monotonic() > deadline:
            raise AssertionError(f"the service did not recover: {status} {body}")
        time.sleep(1)


def all_answered(base: str, token: str, ids: list[str]) -> bool:
    statuses = [http("GET", f"{base}/api/enrichment/batches/{i}", token)[1]["status"] for i in ids]
    return all(status in ("done", "failed") for status in statuses)


def staff_token() -> str:
    return Token.objects.create(user=UserFactory(is_staff=True)).key


def test_postgres_restarted_under_traffic(real_models):
    token = staff_token()
    with worker_process("sim:96", **QUICK), web_server() as base:
        ids = [post_batch(base, token) for _ in range(2)]
        restart_postgres()
        connection.close()  # this test's own connection died with the server
        ids += [post_batch(base, token) for _ in range(2)]
        wait_for(lambda: all_answered(base, token, ids), timeout=300)
    connection.close()
    for batch_id in ids:
        assert_complete(batch_id)


@pytest.mark.skipif(
    not os.environ.get("CELERY_BROKER_URL", "").startswith("redis://"),
    reason="the broker restart needs CELERY_BROKER_URL on the local Redis",
)
def test_the_broker_restarted_under_traffic(real_models):
    token = staff_token()
    with worker_process("sim:97", **QUICK), web_server() as base:
        ids = [post_batch(base, token) for _ in range(2)]
        restart_redis()  # Redis here keeps nothing on disk: queued messages are gone
        ids += [post_batch(base, token) for _ in range(2)]
        wait_for(lambda: all_answered(base, token, ids), timeout=300)
    for batch_id in ids:
        assert_complete(batch_id)
    assert EnrichmentBatch.objects.filter(pk__in=ids, status="done").count() == 4
