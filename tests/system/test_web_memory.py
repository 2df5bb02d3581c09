"""A web process's memory under a stream of large requests it refuses: a real gunicorn
server (as scripts/run serves), its worker process's resident memory measured before
and after. Refused bodies must be released, not kept until some later collection."""

from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.request
import uuid

import psutil
import pytest
from rest_framework.authtoken.models import Token

from tests.factories import UserFactory
from tests.servers import web_server

pytestmark = [
    pytest.mark.subprocess,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

MB = 1024 * 1024
LIMIT = 40 * MB  # the server's ZOO_MAX_REQUEST_BYTES here


def server_workers(base: str) -> list[psutil.Process]:
    """gunicorn's worker processes for the server at ``base`` (children of its master)."""
    bind = base.removeprefix("http://")
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if bind in " ".join(process.info["cmdline"] or []):
            found.extend(process.children())
    return found


def post(url: str, token: str, body: bytes, content_type: str) -> int:
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", content_type)
    request.add_header("Authorization", f"Token {token}")
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status
    except urllib.error.HTTPError as error:
        error.read()
        return error.code


def undecodable_batch(size: int) -> bytes:
    """A batch of 64 frames of 100 detections each, whose base64 decodes to bytes that
    are no image: a 400 once the whole document was parsed and its frames decoded."""
    image = base64.b64encode(os.urandom(size // 64 * 3 // 4)).decode()
    detections = [{"label": "person", "bbox": [1, 1, 2, 2], "confidence": 0.5}] * 100
    return json.dumps({"frames": [{"image": image, "detections": detections}] * 64}).encode()


def multipart(part_bytes: int) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    document = json.dumps({"frames": [{"file": "cam"}]})
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="batch"\r\n\r\n{document}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="cam"; filename="c.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + os.urandom(part_bytes)
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def test_refused_large_requests_leave_the_web_process_memory_flat():
    token = Token.objects.create(user=UserFactory(is_staff=True)).key
    batch = undecodable_batch(32 * MB)
    parts, parts_type = multipart(18 * MB)
    environment = {"ZOO_MAX_REQUEST_BYTES": str(LIMIT), "ZOO_MAX_IMAGE_BYTES": str(16 * MB)}
    with web_server(workers=1, WEB_THREADS="4", **environment) as base:
        url = f"{base}/api/enrichment/batches"
        (worker,) = server_workers(base)
        # One of each first: what any first request loads (code, caches) is not growth.
        statuses = {post(url, token, batch, "application/json")}
        statuses.add(post(url, token, parts, parts_type))
        before = worker.memory_info().rss
        for _ in range(10):
            statuses.add(post(url, token, batch, "application/json"))
            statuses.add(post(url, token, parts, parts_type))
        after = worker.memory_info().rss

    # Fifteen refused 60 MB batches held 750 MB more before (each parsed document kept
    # alive by reference cycles until a later full collection); allow two requests' worth.
    assert after - before < 150 * MB, f"grew {(after - before) / MB:.0f} MB"
    assert statuses == {400, 413}  # the part over ZOO_MAX_IMAGE_BYTES refused as it came
