"""The status read model: an unchanged status document costs one read of the status
version, and every write (a bulk update and a raw statement included) or a device going
stale is seen by the very next request."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.db import close_old_connections, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from fleet.models import Device, ModelState
from models_registry.models import InferenceSettings, ModelEntry
from tests.factories import DeviceFactory, ModelStateFactory

pytestmark = pytest.mark.django_db

DOCUMENTS = [
    "/api/system/models",
    "/api/system/model-zoo/status",
    "/api/models/config",
    "/api/models/status",
]


def _zoo_status(api, name: str) -> str:
    body = api.get("/api/system/model-zoo/status").json()
    return next(row["status"] for row in body["models"] if row["name"] == name)


@pytest.mark.parametrize("url", DOCUMENTS)
def test_an_unchanged_document_costs_only_the_version_read(api, url):
    first = api.get(url)
    with CaptureQueriesContext(connection) as captured:
        again = api.get(url)

    statements = [query["sql"] for query in captured.captured_queries]
    # In a test's transaction the read also runs this transaction's pending triggers.
    assert statements and all(
        "fleet_statusversion" in sql or "SET CONSTRAINTS" in sql for sql in statements
    ), statements
    assert again.status_code == 200
    assert again["Content-Type"] == "application/json"
    first_body, again_body = first.json(), again.json()
    first_body.pop("timestamp", None), again_body.pop("timestamp", None)
    assert again_body == first_body


def test_a_bulk_update_is_seen_by_the_next_request(api):
    assert _zoo_status(api, "yolo11-face") == "unloaded"
    ModelEntry.objects.filter(name="yolo11-face").update(enabled=False)  # no signals
    assert _zoo_status(api, "yolo11-face") == "disabled"


def test_a_raw_statement_is_seen_by_the_next_request(api):
    before = api.get("/api/models/config").json()["inference"]["warmup_on_startup"]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {InferenceSettings._meta.db_table} SET warmup_on_startup = %s",
            [not before],
        )
    assert api.get("/api/models/config").json()["inference"]["warmup_on_startup"] is not before


def test_a_worker_state_write_is_seen_by_the_next_request(api):
    state = ModelStateFactory(model=ModelEntry.objects.get(name="yolo11-face"))
    assert _zoo_status(api, "yolo11-face") == "loaded"
    ModelState.objects.filter(pk=state.pk).update(status="unloaded")
    assert _zoo_status(api, "yolo11-face") == "unloaded"


def test_a_device_going_stale_unloads_its_models_without_any_write(api, settings):
    settings.ZOO_WORKER_HEARTBEAT_TIMEOUT_S = 30
    device = DeviceFactory(heartbeat_at=timezone.now())
    ModelStateFactory(model=ModelEntry.objects.get(name="yolo11-face"), device=device)
    assert _zoo_status(api, "yolo11-face") == "loaded"

    later = timezone.now() + timedelta(seconds=31)
    with mock.patch("django.utils.timezone.now", return_value=later):
        assert _zoo_status(api, "yolo11-face") == "unloaded"
    assert Device.objects.get(pk=device.pk).heartbeat_at < later  # nothing was written


def test_the_compact_status_timestamp_is_the_time_of_each_answer(api):
    first = api.get("/api/system/model-zoo/status").json()["timestamp"]
    later = timezone.now() + timedelta(minutes=5)
    with mock.patch("django.utils.timezone.now", return_value=later):
        again = api.get("/api/system/model-zoo/status").json()["timestamp"]
    assert again != first
    assert again.startswith(later.strftime("%Y-%m-%dT%H:%M"))


def test_other_renderers_are_served_from_the_same_document(api):
    compact = api.get("/api/models/status").json()
    indented = api.get("/api/models/status", HTTP_ACCEPT="application/json; indent=2")
    assert indented.content.startswith(b"{\n  ")
    again = indented.json()
    assert again.pop("timestamp") and compact.pop("timestamp")  # the time of each answer
    assert again == compact
    page = api.get("/api/models/status", HTTP_ACCEPT="text/html")
    assert page.status_code == 200
    assert b"total_vram_available_gb" in page.content


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_the_version_read_is_the_connection_check_and_survives_a_dropped_connection(api):
    import psycopg
    from django.conf import settings

    assert api.get("/api/models/status").status_code == 200
    assert connection.settings_dict["CONN_HEALTH_CHECKS"] and connection.connection is not None
    # The test client skips what a server does at each request's start: it is done here.
    checks = []
    real = connection.is_usable
    with mock.patch.object(connection, "is_usable", lambda: checks.append(1) or real()):
        close_old_connections()
        assert api.get("/api/models/status").status_code == 200
    assert checks == []  # no SELECT 1 before the version read

    # The database drops the connection (as a restart does): the next answer still comes.
    pid = connection.connection.info.backend_pid
    db = settings.DATABASES["default"]
    with psycopg.connect(
        dbname=db["NAME"], user=db["USER"], host=db["HOST"], port=db["PORT"], autocommit=True
    ) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    close_old_connections()
    response = api.get("/api/models/status")
    assert response.status_code == 200, response.content
    assert connection.connection.info.backend_pid != pid
