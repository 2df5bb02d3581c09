"""How a worker reads a batch's frames: the bytes stored at submit for every model (never
the file again), only JPEG, PNG or WebP, a frame stored by path alone opened without
following links, and no more pixels held decoded than a request may carry."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image

from inference import run, services
from inference.models import EnrichmentResult, Frame
from inference.run.frames import FrameImages
from inference.services import FrameIn
from tests.fakes import simulated_zoo

pytestmark = pytest.mark.subprocess

PERSON = {"label": "person", "bbox": [1, 1, 30, 40], "confidence": 0.9}


def picture(width: int, height: int, fmt: str = "JPEG") -> bytes:
    pixels = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture
def zoo(django_db_serialized_rollback, transactional_db):
    instance = simulated_zoo("sim:23")
    yield instance
    instance.close()


def results(batch_id) -> dict[str, dict]:
    rows = EnrichmentResult.objects.filter(batch_id=batch_id)
    return {row.model_name: {"output": row.output, "error": row.error} for row in rows}


def test_every_model_reads_the_bytes_stored_at_submit_not_the_file(zoo, settings, tmp_path):
    settings.ZOO_MEDIA_ROOT = tmp_path
    (tmp_path / "cam.jpg").write_bytes(picture(32, 24))  # what the file holds now
    frame = FrameIn(64, 48, [PERSON], data=picture(64, 48), path="cam.jpg")  # what was checked
    batch = services.batch_submit(frames=[frame])

    run.batch_run(batch_id=batch.pk, zoo=zoo)

    found = results(batch.pk)
    assert len(found) >= 2
    assert all(not r["error"] for r in found.values()), found
    whole_frame = [r["output"] for r in found.values() if r["output"].get("size") == [64, 48]]
    assert whole_frame and not [r for r in found.values() if r["output"].get("size") == [32, 24]]


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_a_frame_stored_by_path_alone_is_opened_without_following_links(
    zoo, settings, tmp_path, kind
):
    media = tmp_path / "media"
    media.mkdir()
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(picture(64, 48))
    if kind == "symlink":
        (media / "cam.jpg").symlink_to(secret)
    else:
        os.mkfifo(media / "cam.jpg")  # opened for reading, it would block the worker
    settings.ZOO_MEDIA_ROOT = media
    batch = services.batch_submit(frames=[FrameIn(64, 48, [PERSON], path="cam.jpg")])

    run.batch_run(batch_id=batch.pk, zoo=zoo)

    found = results(batch.pk)
    assert found and all(r["output"] is None for r in found.values())
    reason = "goes through a symbolic link" if kind == "symlink" else "is not a regular file"
    assert all(reason in r["error"] for r in found.values()), found


def test_an_eps_frame_is_never_decoded_on_the_worker(zoo):
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 48\nshowpage\n"
    batch = services.batch_submit(frames=[FrameIn(64, 48, [PERSON], data=eps)])

    run.batch_run(batch_id=batch.pk, zoo=zoo)

    found = results(batch.pk)
    assert found and all(
        "is not a decodable image (JPEG, PNG or WebP)" in r["error"] for r in found.values()
    )


def test_decoded_frames_held_at_once_stay_within_the_pixel_budget(zoo):
    batch = services.batch_submit(
        frames=[FrameIn(100, 100, [], data=picture(100, 100, "PNG")) for _ in range(5)]
    )
    frames = list(Frame.objects.filter(batch=batch).order_by("index"))
    images = FrameImages(budget_pixels=25_000)  # room for two frames of 10,000 pixels

    for frame in frames + frames[-2:]:
        images.of(frame)
        assert images.pixels <= 25_000

    assert images.decodes == 5  # the last two were still held
    images.of(frames[0])
    assert images.decodes == 6  # the first had been let go
