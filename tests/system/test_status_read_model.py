"""For real: a two-process web server keeps its status documents between requests, and a
change committed by another process is in the very next answer, whichever process
serves it."""

from __future__ import annotations

import pytest
from django.utils import timezone

from fleet.models import ModelState
from models_registry.models import ModelEntry
from tests.factories import DeviceFactory, ModelStateFactory
from tests.servers import http, web_server

pytestmark = [
    pytest.mark.subprocess,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

ROUNDS = 8


def _zoo_row(base: str, name: str) -> dict:
    status, body = http("GET", f"{base}/api/system/model-zoo/status")
    assert status == 200
    return next(row for row in body["models"] if row["name"] == name)


def test_a_committed_change_is_in_the_next_answer_of_every_web_process():
    device = DeviceFactory(heartbeat_at=timezone.now() + timezone.timedelta(hours=1))
    entry = ModelEntry.objects.get(name="yolo11-face")
    state = ModelStateFactory(model=entry, device=device, status="unloaded")
    with web_server(workers=2) as base:
        for round_ in range(ROUNDS):
            # Both processes answer (and keep the document) before each change.
            for _ in range(4):
                _zoo_row(base, entry.name)
            loaded = round_ % 2 == 0
            ModelState.objects.filter(pk=state.pk).update(status="loaded" if loaded else "unloaded")
            for _ in range(4):
                assert _zoo_row(base, entry.name)["status"] == (
                    "loaded" if loaded else "unloaded"
                ), f"round {round_}"

            ModelEntry.objects.filter(pk=entry.pk).update(display_name=f"Face {round_}")
            status, body = http("GET", f"{base}/api/system/models")
            assert status == 200
            row = next(row for row in body["models"] if row["name"] == entry.name)
            assert row["display_name"] == f"Face {round_}"


def test_under_concurrent_load_a_committed_change_is_in_the_next_answer():
    """Many threads reading at once share version reads; none that asks after a commit
    is answered from a read begun before it."""
    import threading

    device = DeviceFactory(heartbeat_at=timezone.now() + timezone.timedelta(hours=1))
    entry = ModelEntry.objects.get(name="yolo11-face")
    state = ModelStateFactory(model=entry, device=device, status="unloaded")
    stop = threading.Event()
    answered: list[int] = []

    def hammer(base: str) -> None:
        while not stop.is_set():
            answered.append(http("GET", f"{base}/api/system/model-zoo/status")[0])

    with web_server(workers=2) as base:
        load = [threading.Thread(target=hammer, args=(base,), daemon=True) for _ in range(12)]
        for thread in load:
            thread.start()
        try:
            for round_ in range(ROUNDS * 4):
                loaded = round_ % 2 == 0
                ModelState.objects.filter(pk=state.pk).update(
                    status="loaded" if loaded else "unloaded"
                )
                assert _zoo_row(base, entry.name)["status"] == (
                    "loaded" if loaded else "unloaded"
                ), f"round {round_}"
        finally:
            stop.set()
            for thread in load:
                thread.join(10)
    assert answered and set(answered) == {200}
