"""A bounded soak (scripts/reliability, ``-m soak``; not in the default test command):
1,000 seeded, mixed requests against a real gunicorn server and a real worker, from a
staff user, a plain user and anonymous callers: valid batches and inferences, invalid
and oversized bodies, deep JSON, and reads of the staff user's batches and inferences
by the others. No 5xx; nobody else ever reads the staff user's work; the web processes'
memory grows by less than 100 MB; the database's growth is what retention keeps (image
bytes released as batches finish, every row gone once pruned)."""

from __future__ import annotations

import base64
import contextlib
import http.client
import io
import json
import os
import random
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import psutil
import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from PIL import Image
from rest_framework.authtoken.models import Token

from inference.models import EnrichmentBatch, Frame, InferenceRequest, WorkStatus
from models_registry.models import ModelEntry
from tests.factories import UserFactory
from tests.servers import wait_for, web_server, worker_process

pytestmark = [pytest.mark.subprocess, pytest.mark.soak]

REQUESTS = 1000
MB = 1024 * 1024
LIMIT = 2 * MB  # the server's ZOO_MAX_REQUEST_BYTES here


def jpeg(width: int, height: int, seed: int) -> str:
    pixels = random.Random(seed).randbytes(width * height * 3)
    buffer = io.BytesIO()
    Image.frombytes("RGB", (width, height), pixels).save(buffer, format="JPEG")
    return base64.b64encode(buffer.getvalue()).decode()


def call(base: str, method: str, path: str, token: str | None, body: bytes | None = None,
         content_type: str = "application/json") -> tuple[int, bytes]:  # fmt: skip
    """Status and body; 0 when the server closed the connection before answering (it
    may refuse a body past the limit with a 413 and close before the client has sent
    it all, as servers do; a client still sending then sees a reset)."""
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=120)
    headers = {"Authorization": f"Token {token}"} if token else {}
    if body is not None:
        headers["Content-Type"] = content_type
    # On a reset, what the server answered may still be there to read.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        connection.request(method, path, body=body, headers=headers)
    try:
        response = connection.getresponse()
        return response.status, response.read()
    except (ConnectionError, http.client.HTTPException):
        return 0, b""
    finally:
        connection.close()


JSON = "application/json"
BATCHES = "/api/enrichment/batches"
INFER = "/api/models/infer?task_type=object_detection"
READS = ["/api/system/models", "/api/models/status", "/api/system/model-zoo/events"]


def oversized_part() -> tuple[bytes, str]:
    """A multipart batch whose file part is larger than ZOO_MAX_IMAGE_BYTES."""
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="batch"\r\n\r\n'
        '{"frames": [{"file": "a"}]}\r\n'
        f"--{boundary}\r\nContent-Disposition: form-data; "
        'name="a"; filename="a"\r\n\r\n'
    )
    body = head.encode() + os.urandom(LIMIT // 2) + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


class Traffic:
    """The request mix; ``owned`` collects the staff user's batch and inference paths."""

    KINDS = [
        *("valid", "valid", "infer", "invalid", "eps", "oversized", "part", "deep"),
        *("anonymous_write", "plain_write", "others_read", "anonymous_read", "status"),
    ]

    def __init__(self, staff: str, plain: str) -> None:
        self.staff, self.plain = staff, plain
        self.owned: list[str] = []
        person = {"label": "person", "bbox": [2, 2, 40, 60], "confidence": 0.9}
        valid = {"frames": [{"image": jpeg(64, 64, 1), "detections": [person]}]}
        eps = base64.b64encode(b"%!PS-Adobe-3.0 EPSF-3.0\nshowpage\n").decode()
        bad = {"frames": [{"image": "not base64!", "detections": [{"bbox": [1]}]}]}
        infer = {"image": jpeg(32, 32, 2), "options": {"conf": 0.3}}
        self.bodies: dict[str, tuple[bytes, str]] = {
            "valid": (json.dumps(valid).encode(), JSON),
            "infer": (json.dumps(infer).encode(), JSON),
            "invalid": (json.dumps(bad).encode(), JSON),
            "eps": (json.dumps({"frames": [{"image": eps}]}).encode(), JSON),
            "oversized": (b"{" + b" " * (LIMIT + 10) + b"}", JSON),
            "part": oversized_part(),
            "deep": (b"[" * 50_000 + b"]" * 50_000, JSON),
        }

    def request(self, rng: random.Random) -> tuple[str, str, str, str | None, bytes | None, str]:
        """(kind, method, path, token, body, content type)."""
        kind = rng.choice(self.KINDS)
        if kind in self.bodies:
            body, content_type = self.bodies[kind]
            return (
                kind,
                "POST",
                INFER if kind == "infer" else BATCHES,
                self.staff,
                body,
                content_type,
            )
        if kind.endswith("_write"):
            token = None if kind == "anonymous_write" else self.plain
            return kind, "POST", BATCHES, token, self.bodies["valid"][0], JSON
        if kind == "status":
            return kind, "GET", rng.choice(READS), None, None, ""
        target = rng.choice(self.owned) if self.owned else f"{BATCHES}/{uuid.uuid4()}"
        return kind, "GET", target, self.plain if kind == "others_read" else None, None, ""


EXPECTED = {
    "valid": {202}, "infer": {200}, "invalid": {400}, "eps": {400}, "oversized": {413, 0},
    "part": {413, 0}, "deep": {400}, "anonymous_write": {401}, "plain_write": {403},
    "others_read": {404}, "anonymous_read": {404}, "status": {200},
}  # fmt: skip


def web_rss(base: str) -> int:
    bind = base.removeprefix("http://")
    total = 0
    for process in psutil.process_iter(["cmdline"]):
        if bind in " ".join(process.info["cmdline"] or []):
            total += sum(child.memory_info().rss for child in process.children())
    return total


def database_bytes() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database())")
        return cursor.fetchone()[0]


def image_bytes_held() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(sum(octet_length(data)), 0) FROM inference_frame")
        return cursor.fetchone()[0]


@pytest.mark.timeout(1200)
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_thousand_mixed_requests(settings):
    if connection.vendor != "postgresql":
        pytest.skip("measures the database's size with PostgreSQL's functions")
    staff = Token.objects.create(user=UserFactory(is_staff=True)).key
    plain = Token.objects.create(user=UserFactory()).key
    traffic, rng = Traffic(staff, plain), random.Random(14)
    # Inferences run YOLOv8n built from ultralytics' own yaml (random weights, no file);
    # the batches' models have no weights here, so their results are reasons, and the
    # batches finish all the same.
    ModelEntry.objects.filter(name="yolov8n").update(path="yolov8n.yaml")
    server_env = {"ZOO_MAX_REQUEST_BYTES": str(LIMIT), "ZOO_MAX_IMAGE_BYTES": str(LIMIT // 4)}
    # Errors only: web_server keeps the server's stderr in a pipe that nobody reads
    # until it exits, and a warning per refused request would fill it.
    server_env["LOG_LEVEL"] = "ERROR"
    seen: Counter[tuple[str, int]] = Counter()
    leaks: list[str] = []
    before_db = database_bytes()
    with (
        worker_process("sim:41", total_memory_mb=16384),
        web_server(workers=2, **server_env) as base,
    ):

        def one(_: int) -> None:
            kind, method, path, token, body, ctype = traffic.request(rng)
            status, answer = call(base, method, path, token, body, ctype)
            seen[(kind, status)] += 1
            if kind in ("valid", "infer") and status in (200, 202):
                found = json.loads(answer)
                traffic.owned.append(found.get("url") or f"/api/models/infer/{found['request_id']}")
            if kind in ("others_read", "anonymous_read") and status == 200:
                leaks.append(path)

        select = "/api/models/select?task_type=object_detection&model_name=yolov8n"
        assert call(base, "POST", select, staff)[0] == 200
        for _ in range(20):  # warm-up: every kind once or so, before the first measure
            one(0)
        rss_before = web_rss(base)
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(one, range(REQUESTS - 20)))
        rss_after = web_rss(base)
        batches = EnrichmentBatch.objects.all()
        wait_for(
            lambda: not batches.exclude(status__in=[WorkStatus.DONE, WorkStatus.FAILED]).exists(),
            timeout=600,
        )
    grown_db = database_bytes() - before_db

    unexpected = {key: n for key, n in seen.items() if key[1] not in EXPECTED[key[0]]}
    print(
        f"\nsoak: {sorted(seen.items())}\nweb RSS {rss_before / MB:.0f} -> "
        f"{rss_after / MB:.0f} MB; database +{grown_db / MB:.1f} MB for "
        f"{batches.count()} batches, {InferenceRequest.objects.count()} inferences"
    )
    assert not [key for key in seen if key[1] >= 500], seen
    assert not unexpected, unexpected
    assert not leaks
    assert rss_after - rss_before < 100 * MB
    assert image_bytes_held() == 0  # released as each batch finished; results kept
    assert grown_db < 64 * MB  # ~150 batches of 64x64 frames: rows and indexes, no images
    # Past their retention, every finished batch and inference goes.
    old = timezone.now() - timedelta(days=settings.ZOO_BATCH_RETENTION_DAYS + 1)
    batches.update(finished_at=old)
    InferenceRequest.objects.update(finished_at=old)
    call_command("zoo_prune", stdout=io.StringIO())
    assert not EnrichmentBatch.objects.exists() and not Frame.objects.exists()
    assert not InferenceRequest.objects.exists()
