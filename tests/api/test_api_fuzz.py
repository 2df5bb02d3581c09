"""Schemathesis against our own OpenAPI schema (/api/schema/): every operation, called
anonymously and as staff with generated and malformed input. No 5xx that the schema
does not document, every 4xx a JSON body, every response as the schema says."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import positive_data_acceptance

pytestmark = pytest.mark.django_db


def _load_schema() -> Any:
    """Our schema as drf-spectacular generates it, run against the WSGI app in-process."""
    from django.core.wsgi import get_wsgi_application
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    document = SchemaGenerator().get_schema(request=None, public=True)
    loaded = schemathesis.openapi.from_dict(json.loads(OpenApiJsonRenderer().render(document)))
    loaded.app = get_wsgi_application()
    return loaded


schema = _load_schema()


@pytest.fixture(autouse=True)
def _keep_the_test_transaction() -> Iterator[None]:
    """Like Django's test client: requests must not close the test's connection."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def staff_token(db: Any) -> str:
    from rest_framework.authtoken.models import Token

    from tests.factories import UserFactory

    return Token.objects.create(user=UserFactory(is_staff=True)).key


def documented(case: Any, status: int) -> bool:
    responses = case.operation.definition.raw.get("responses", {})
    return str(status) in responses


def content_type(response: Any) -> str:
    for name, value in response.headers.items():
        if name.lower() == "content-type":
            return value[0] if isinstance(value, list) else value
    return ""


def call_and_check(case: Any, headers: dict[str, str] | None = None) -> None:
    response = case.call(headers=headers)
    status = response.status_code
    # A 5xx only where the documents promise one (503 no worker, 500 out of memory).
    assert status < 500 or documented(case, status), f"{status}: {response.text[:300]}"
    if status >= 400:
        assert content_type(response).startswith("application/json"), response.text
        body = json.loads(response.text)
        assert isinstance(body, dict) and ({"detail", "error"} & set(body)), body
    # Replaced by the 5xx rule above; and schema-valid input may still be refused with a
    # 400 the schema cannot express (an image that does not decode, a forged cursor).
    case.validate_response(response, excluded_checks=[not_a_server_error, positive_data_acceptance])


SETTINGS = settings(
    max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)


@schema.parametrize()
@SETTINGS
def test_every_operation_anonymously(case: Any) -> None:
    call_and_check(case)


@schema.parametrize()
@SETTINGS
def test_every_operation_as_staff(case: Any, staff_token: str) -> None:
    call_and_check(case, {"Authorization": f"Token {staff_token}"})


# --- Multipart bodies over every write operation, as staff ---------------------------
# Schemathesis sends the schema's shapes; these are the forms a client really posts
# (a batch document in `batch` with its file parts, an `image` part with `options`),
# built from generated JSON, text and bytes: valid images, other formats, junk, NULs,
# deep nesting, NaN. Every answer is a documented status with a JSON error body.

WRITES = [
    "/api/enrichment/batches",
    "/api/models/infer?task_type=object_detection",
    "/api/models/infer?task_type=video_summarization",
    "/api/models/select?task_type=object_detection&model_name=yolov8n",
    "/api/models/validate",
    "/api/system/models/yolo11-face/load",
    "/api/system/models/yolo11-face/unload",
]


def _image(fmt: str) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (16, 12), (200, 10, 10)).save(buffer, format=fmt)
    return buffer.getvalue()


def _multipart_forms() -> Any:
    from hypothesis import strategies as st

    leaves = st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20)
    values = st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=12,
    )
    frame = st.fixed_dictionaries(
        {},
        optional={
            "file": st.sampled_from(["a", "b", "missing"]),
            "path": st.text(max_size=30),
            "image": st.text(max_size=30),
            "detections": values,
        },
    )
    document = st.one_of(
        st.builds(lambda frames: json.dumps({"frames": frames}), st.lists(frame, max_size=3)),
        values.map(lambda v: json.dumps(v, allow_nan=True)),
        st.integers(1, 5000).map(lambda n: "[" * n + "]" * n),
        st.text(max_size=50),
    )
    content = st.sampled_from(
        [_image("JPEG"), _image("PNG"), _image("WEBP"), _image("GIF"), b"%!PS-Adobe-3.0 EPSF"]
    ) | st.binary(max_size=200)
    return st.fixed_dictionaries(
        {},
        optional={"batch": document, "options": document, "a": content, "b": content,
                  "image": content, "extra": st.text(max_size=20)},
    )  # fmt: skip


@pytest.mark.parametrize("url", WRITES)
def test_multipart_bodies_over_every_write_operation_as_staff(url: str, staff_token: str) -> None:
    from hypothesis import given
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {staff_token}")

    @given(form=_multipart_forms())
    @SETTINGS
    def post(form: dict[str, Any]) -> None:
        import io

        body: dict[str, Any] = {}
        for name, value in form.items():
            if isinstance(value, bytes):
                part = io.BytesIO(value)
                part.name = f"{name}.bin"
                body[name] = part
            else:
                body[name] = value
        response = client.post(url, body, format="multipart")
        # 503: no worker is running here (documented on the operations that wait for one).
        assert response.status_code < 500 or response.status_code == 503, response.content
        assert response["Content-Type"].startswith("application/json"), response.content
        if response.status_code >= 400:
            assert {"detail", "error"} & set(response.json()), response.content

    post()
