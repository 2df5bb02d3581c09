"""No N+1: the status endpoints run as many SQL queries at 18 models as at 150.

(The four status documents are built here afresh each time, since every step changes
the registry; what an unchanged document costs is in ``test_status_snapshots``.)"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from models_registry.models import ModelEntry, Task, TaskOption
from tests.factories import DeviceFactory, ModelEntryFactory, ModelStateFactory

pytestmark = pytest.mark.django_db

ENDPOINTS = [
    ("get", "/api/system/models"),
    ("get", "/api/system/model-zoo/status"),
    ("get", "/api/system/model-zoo/events"),
    ("get", "/api/system/models/yolo11-face"),
    ("get", "/api/models/config"),
    ("get", "/api/models/status"),
    ("post", "/api/models/validate"),
]


def _queries(api, method: str, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert getattr(api, method)(url).status_code == 200
    return len(captured)


def _grow_registry(extra: int) -> None:
    devices = [DeviceFactory(), DeviceFactory()]
    detection = Task.objects.get(name="object_detection")
    for index in range(extra):
        entry = ModelEntryFactory(in_zoo=index % 2 == 0)
        ModelStateFactory(model=entry, device=devices[index % 2])
        TaskOption.objects.create(task=detection, model=entry, position=100 + index)


@pytest.mark.parametrize(("method", "url"), ENDPOINTS)
def test_query_count_does_not_grow_with_the_registry(api, method, url):
    api.get("/api/system/models")  # warm the settings row, as a running server has
    # the 18 zoo models and the task options of the catalog, one of them loaded
    ModelStateFactory(model=ModelEntry.objects.get(name="yolov8n"))
    small = _queries(api, method, url)

    _grow_registry(132)
    large = _queries(api, method, url)

    assert large == small
    assert small <= 9
