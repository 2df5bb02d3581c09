"""Time limits are the worker's: a message sent by the web side carries none, and the
worker starts Celery with its own ZOO_TASK_SOFT_TIME_LIMIT_S."""

from __future__ import annotations

from typing import Any

from inference.management.commands.zoo_worker import worker_argv
from inference.tasks import enrich_batch
from zoo_project.celery import app


def test_a_sent_task_carries_no_time_limit(monkeypatch, settings) -> None:
    settings.ZOO_TASK_SOFT_TIME_LIMIT_S = 5  # the sender's settings must not travel
    sent: list[Any] = []
    monkeypatch.setattr(
        app.amqp, "send_task_message", lambda producer, name, message, **kw: sent.append(message)
    )

    enrich_batch.apply_async(args=["00000000-0000-0000-0000-000000000000"], queue="zoo.x")

    assert sent and tuple(sent[0].headers["timelimit"]) == (None, None)


def test_the_worker_applies_its_own_limits(settings) -> None:
    settings.ZOO_TASK_SOFT_TIME_LIMIT_S = 120

    argv = worker_argv("zoo.host.cpu", "cpu", "INFO")

    assert argv[argv.index("--soft-time-limit") + 1] == "120"
    assert argv[argv.index("--time-limit") + 1] == "180"
