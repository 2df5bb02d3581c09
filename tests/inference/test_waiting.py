"""Web-side waits (inference.waiting): on PostgreSQL the database wakes a waiting thread
when work changes, instead of the thread polling."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from inference import waiting
from inference.models import InferenceRequest, WorkStatus
from inference.selectors import inference_finished

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

SLEEP_S = 2.0


def _request() -> InferenceRequest:
    return InferenceRequest.objects.create(
        task_type="object_detection", model_name="yolov8n", image=b"jpeg"
    )


def _waiter(request_id, timeout_s: float, seen: dict) -> threading.Thread:
    def read():
        seen["reads"] += 1
        return inference_finished(request_id)

    def run():
        try:
            seen["answer"] = waiting.wait_for(read, timeout_s)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_a_wait_is_woken_by_the_commit_not_by_polling():
    waiting.listener.register()  # starts the process's listener
    assert waiting.listener.listening.wait(10)
    request = _request()
    seen = {"reads": 0}
    thread = _waiter(request.pk, timeout_s=30, seen=seen)
    time.sleep(SLEEP_S)  # polling at 10-100 ms would read about twenty times by now
    InferenceRequest.objects.filter(pk=request.pk).update(status=WorkStatus.DONE)
    thread.join(30)

    assert seen["answer"] is not None and seen["answer"].pk == request.pk
    # The first read and the one the commit woke (polling at 10-100 ms: about twenty).
    assert seen["reads"] <= SLEEP_S / waiting.SAFETY_S + 2, seen


def test_a_wait_gives_up_with_none_after_its_timeout():
    request = _request()
    seen = {"reads": 0}
    _waiter(request.pk, timeout_s=0.3, seen=seen).join(10)
    assert seen["answer"] is None
    assert seen["reads"] >= 2
