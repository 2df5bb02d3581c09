"""Input meant to hurt: files that change or are not files, formats that run external
programs, too many pixels or parts, deep or unstorable JSON, options a model cannot take.
Each is a 400 or a 413 naming the problem, never a 500, a hang or another file's bytes."""

from __future__ import annotations

import base64
import io
import json
import os

import numpy as np
import pytest
from PIL import Image

from inference.models import EnrichmentBatch, Frame, InferenceRequest

pytestmark = pytest.mark.django_db

BATCHES = "/api/enrichment/batches"
INFER = "/api/models/infer?task_type=object_detection"


def picture(width: int = 64, height: int = 48, fmt: str = "JPEG", seed: int = 0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt)
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


EPS = (
    b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 48\n"
    b"newpath 0 0 moveto 64 48 lineto stroke showpage\n%%EOF\n"
)


def upload(data: bytes, name: str) -> io.BytesIO:
    part = io.BytesIO(data)
    part.name = name
    return part


def test_a_path_frame_is_read_at_submit_so_a_later_swap_changes_nothing(
    staff_api, settings, tmp_path
):
    media, outside = tmp_path / "media", tmp_path / "secret.jpg"
    media.mkdir()
    original = picture(seed=1)
    (media / "cam.jpg").write_bytes(original)
    outside.write_bytes(picture(seed=2))
    settings.ZOO_MEDIA_ROOT = media

    response = staff_api.post(BATCHES, {"frames": [{"path": "cam.jpg"}]}, format="json")
    (media / "cam.jpg").unlink()
    (media / "cam.jpg").symlink_to(outside)  # swapped after the check

    assert response.status_code == 202
    frame = Frame.objects.get(batch_id=response.json()["id"])
    assert bytes(frame.data) == original and frame.path == "cam.jpg"


@pytest.mark.parametrize("kind", ["fifo", "folder", "linked_folder"])
def test_what_is_not_a_regular_file_under_the_media_root_is_refused_at_once(
    staff_api, settings, tmp_path, kind
):
    media = tmp_path / "media"
    (media / "real").mkdir(parents=True)
    (media / "real" / "cam.jpg").write_bytes(picture())
    os.mkfifo(media / "pipe")  # opening it for reading would block without a writer
    (media / "linked").symlink_to(media / "real")  # a link that stays inside still is one
    settings.ZOO_MEDIA_ROOT = media
    path, message = {
        "fifo": ("pipe", "frames[0].path: pipe is not a regular file"),
        "folder": ("real", "frames[0].path: real is not a regular file"),
        "linked_folder": ("linked/cam.jpg", "goes through a symbolic link"),
    }[kind]

    response = staff_api.post(BATCHES, {"frames": [{"path": path}]}, format="json")

    assert response.status_code == 400
    assert message in response.json()["detail"]


def test_a_path_frame_over_the_byte_limit_is_refused(staff_api, settings, tmp_path):
    (tmp_path / "big.jpg").write_bytes(picture(400, 300))
    settings.ZOO_MEDIA_ROOT = tmp_path
    settings.ZOO_MAX_IMAGE_BYTES = 1000

    response = staff_api.post(BATCHES, {"frames": [{"path": "big.jpg"}]}, format="json")

    assert response.status_code == 400
    assert "more than the 1000 allowed" in response.json()["detail"]


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_jpeg_png_and_webp_are_accepted(staff_api, fmt):
    frame = {"image": b64(picture(fmt=fmt))}

    response = staff_api.post(BATCHES, {"frames": [frame]}, format="json")

    assert response.status_code == 202


@pytest.mark.parametrize(("data", "name"), [(EPS, "eps"), (picture(fmt="GIF"), "gif")])
def test_other_formats_are_refused_without_running_any_program(staff_api, data, name):
    batch = staff_api.post(BATCHES, {"frames": [{"image": b64(data)}]}, format="json")
    infer = staff_api.post(INFER, {"image": upload(data, f"x.{name}")}, format="multipart")

    assert batch.status_code == 400
    assert "frames[0].image: is not a decodable image (JPEG, PNG or WebP)" in batch.json()["detail"]
    assert infer.status_code == 400 and "image:" in infer.json()["error"]
    assert not EnrichmentBatch.objects.exists() and not InferenceRequest.objects.exists()


def test_a_batch_over_the_pixels_allowed_per_request_is_refused(staff_api, settings):
    settings.ZOO_MAX_IMAGE_PIXELS = 64 * 48
    settings.ZOO_MAX_REQUEST_PIXELS = 3 * 64 * 48
    frames = [{"image": b64(picture())}] * 4  # each within its own limit

    refused = staff_api.post(BATCHES, {"frames": frames}, format="json")
    accepted = staff_api.post(BATCHES, {"frames": frames[:3]}, format="json")

    assert refused.status_code == 400
    assert refused.json()["detail"] == (
        "frames: 12288 pixels in all, more than the 9216 allowed in one request "
        "(ZOO_MAX_REQUEST_PIXELS)"
    )
    assert accepted.status_code == 202


def test_a_body_over_the_request_limit_is_a_413_before_it_is_read(staff_api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 50_000
    parts = {"batch": json.dumps({"frames": [{"file": "a"}]}), "a": upload(b"x" * 60_000, "a")}

    response = staff_api.post(BATCHES, parts, format="multipart")

    assert response.status_code == 413
    assert response.json() == {"detail": "Request body larger than 50000 bytes"}


def test_a_file_part_over_the_image_limit_is_a_413_naming_it(staff_api, settings):
    settings.ZOO_MAX_IMAGE_BYTES = 20_000
    parts = {
        "batch": json.dumps({"frames": [{"file": "cam"}]}),
        "cam": upload(os.urandom(30_000), "c"),
    }

    batch = staff_api.post(BATCHES, parts, format="multipart")
    infer = staff_api.post(INFER, {"image": upload(os.urandom(30_000), "c")}, format="multipart")

    assert batch.status_code == 413
    assert batch.json() == {
        "detail": "cam: file part larger than 20000 bytes (ZOO_MAX_IMAGE_BYTES)"
    }
    assert infer.status_code == 413 and infer.json()["error"].startswith("image: file part")


def test_too_many_file_parts_or_fields_are_a_413(staff_api, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 3
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    files = {f"f{i}": upload(picture(), f"{i}.jpg") for i in range(4)}
    fields = {f"x{i}": "1" for i in range(8)}
    document = json.dumps({"frames": [{"file": "f0"}]})

    many_files = staff_api.post(BATCHES, {"batch": document, **files}, format="multipart")
    many_fields = staff_api.post(BATCHES, {"batch": document, **fields}, format="multipart")

    assert many_files.status_code == 413
    assert many_files.json() == {"detail": "Request has more than 3 file parts"}
    assert many_fields.status_code == 413
    assert many_fields.json() == {"detail": "Request has more than 5 form fields"}


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.parametrize("levels", [40, 100_000])
def test_deeply_nested_json_is_a_400_naming_it(staff_api, levels):
    body = '{"frames": [{"image": "x", "detections": ' + deep(levels) + "}]}"
    as_body = staff_api.post(BATCHES, body, content_type="application/json")
    as_field = staff_api.post(BATCHES, {"batch": body}, format="multipart")
    as_options = staff_api.post(
        INFER, {"image": upload(picture(), "a.jpg"), "options": deep(levels)}, format="multipart"
    )

    assert as_body.status_code == 400
    assert as_body.json() == {"detail": "request body: JSON nested more than 32 levels deep"}
    assert as_field.status_code == 400
    assert as_field.json() == {"detail": "batch: JSON nested more than 32 levels deep"}
    assert as_options.status_code == 400
    assert as_options.json()["error"] == "options: JSON nested more than 32 levels deep"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ('{"iou": NaN}', "options: not valid JSON (NaN is not a JSON number)"),
        ('{"conf": Infinity}', "options: not valid JSON (Infinity is not a JSON number)"),
        ('{"prompt": "a\\u0000b"}', "options: strings must not contain NUL characters"),
        ('{"iou": "abc"}', "options.iou: A valid number is required."),
        ('{"iou": 2}', "options.iou: Ensure this value is less than or equal to 1.0."),
        ('{"colour": "red"}', "options: unknown field(s): colour"),
        ('{"template": "{0} {1}"}', 'options.template: must hold exactly one "{}"'),
        ('{"tracker": "sort"}', 'options.tracker: "sort" is not a valid choice.'),
    ],
)
def test_options_a_model_cannot_take_are_a_400_naming_them(staff_api, options, message):
    multipart = staff_api.post(
        INFER, {"image": upload(picture(), "a.jpg"), "options": options}, format="multipart"
    )

    assert multipart.status_code == 400
    assert message in multipart.json()["error"]
    assert not InferenceRequest.objects.exists()


def test_nul_characters_in_a_json_body_are_a_400(staff_api):
    body = json.dumps({"image": b64(picture()), "options": {"prompt": "a\x00b"}})

    response = staff_api.post(INFER, body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"] == (
        "request body: strings must not contain NUL characters (\\u0000)"
    )


@pytest.mark.parametrize("position", ["notadate", "2026-13-45T99:00:00", "\x00"])
def test_an_events_cursor_whose_position_is_not_a_time_is_a_400(api, position):
    cursor = base64.b64encode(f"p={position}".encode()).decode()

    response = api.get("/api/system/model-zoo/events", {"cursor": cursor})

    assert response.status_code == 400
    assert response.json() == {"detail": "cursor is not one this API gave out"}


def test_a_path_frame_without_a_media_folder_is_a_400(staff_api, settings, tmp_path):
    settings.ZOO_MEDIA_ROOT = tmp_path / "never-made"

    response = staff_api.post(BATCHES, {"frames": [{"path": "cam.jpg"}]}, format="json")

    assert response.status_code == 400
    assert response.json() == {"detail": "frames[0].path: no file cam.jpg under the media root"}
