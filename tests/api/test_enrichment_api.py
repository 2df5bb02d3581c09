"""POST /api/enrichment/batches and GET /api/enrichment/batches/{id}: accepted at once,
bad batches refused with a 400 that names the frame, detection and problem."""

from __future__ import annotations

import base64
import io
import json

import pytest

from inference.models import Detection, EnrichmentBatch, Frame
from tests.frames import PERSON, jpeg

pytestmark = pytest.mark.django_db

URL = "/api/enrichment/batches"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_a_batch_is_accepted_with_202_and_its_id(staff_api):
    response = staff_api.post(
        URL, {"frames": [{"image": b64(jpeg()), "detections": [PERSON]}]}, format="json"
    )

    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued"
    assert body["frames"] == 1
    assert body["url"] == f"/api/enrichment/batches/{body['id']}"
    frame = Frame.objects.get(batch_id=body["id"])
    assert (frame.width, frame.height) == (640, 480)
    assert Detection.objects.get(frame=frame).label == "person"


def test_a_queued_batch_reads_back_with_its_detections_and_no_results_yet(staff_api):
    created = staff_api.post(
        URL, {"frames": [{"image": b64(jpeg()), "detections": [PERSON]}]}, format="json"
    ).json()

    body = staff_api.get(created["url"]).json()

    assert body["status"] == "queued"
    assert body["frames"][0]["detections"][0] == {
        "index": 0, "label": "person", "bbox": [10.0, 10.0, 110.0, 200.0], "confidence": 0.9,
        "results": {},
    }  # fmt: skip
    assert body["frames"][0]["results"] == {}


def test_a_multipart_upload_works_like_base64(staff_api):
    document = {"frames": [{"file": "cam1", "detections": [PERSON]}]}
    upload = io.BytesIO(jpeg())
    upload.name = "cam1.jpg"

    response = staff_api.post(
        URL, {"batch": json.dumps(document), "cam1": upload}, format="multipart"
    )

    assert response.status_code == 202


def test_a_path_under_the_media_root_is_accepted(staff_api, settings, tmp_path):
    settings.ZOO_MEDIA_ROOT = tmp_path
    (tmp_path / "cam").mkdir()
    (tmp_path / "cam" / "1.jpg").write_bytes(jpeg(320, 240))

    response = staff_api.post(
        URL, {"frames": [{"path": "cam/1.jpg", "detections": []}]}, format="json"
    )

    assert response.status_code == 202
    assert Frame.objects.get().path == "cam/1.jpg"


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ({"path": "/etc/passwd"}, "frames[0].path: must be relative to the media root"),
        ({"path": "../../etc/passwd"}, "frames[0].path: must be relative to the media root"),
        ({"path": "missing.jpg"}, "frames[0].path: no file missing.jpg under the media root"),
        ({"image": "not base64!"}, "frames[0].image: is not valid base64"),
        ({"image": b64(b"hello")}, "frames[0].image: is not a decodable image"),
        ({}, "frames[0]: give exactly one of image, path or file"),
        (
            {"image": b64(jpeg()), "detections": [PERSON | {"bbox": [600, 10, 700, 100]}]},
            "frames[0].detections[0].bbox: outside the 640x480 image",
        ),
        (
            {"image": b64(jpeg()), "detections": [PERSON | {"bbox": [50, 10, 20, 100]}]},
            "frames[0].detections[0].bbox: must be [x1, y1, x2, y2] with x1 < x2, y1 < y2",
        ),
        (
            {"image": b64(jpeg()), "detections": [PERSON | {"bbox": [1, 2, 3]}]},
            "frames[0].detections[0].bbox:",
        ),
        (
            {"image": b64(jpeg()), "detections": [PERSON | {"label": {"name": "x"}}]},
            "frames[0].detections[0].label:",
        ),
        (
            {"image": b64(jpeg()), "detections": [PERSON | {"confidence": 1.5}]},
            "frames[0].detections[0].confidence:",
        ),
        (
            {"image": b64(jpeg()), "detections": [PERSON | {"colour": "red"}]},
            "frames[0].detections[0]: unknown field(s): colour",
        ),
        ({"file": "nothing-uploaded"}, "frames[0].file: no uploaded file part named"),
    ],
)
def test_bad_batches_are_a_400_naming_the_problem(staff_api, settings, tmp_path, frame, message):
    settings.ZOO_MEDIA_ROOT = tmp_path

    response = staff_api.post(URL, {"frames": [frame]}, format="json")

    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert not EnrichmentBatch.objects.exists()


def test_a_symlink_out_of_the_media_root_is_refused(staff_api, settings, tmp_path):
    media = tmp_path / "media"
    media.mkdir()
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(jpeg())
    (media / "link.jpg").symlink_to(secret)
    settings.ZOO_MEDIA_ROOT = media

    response = staff_api.post(URL, {"frames": [{"path": "link.jpg"}]}, format="json")

    assert response.status_code == 400
    assert "must stay under the media root" in response.json()["detail"]


def test_oversize_images_and_batches_are_refused(staff_api, settings):
    settings.ZOO_MAX_IMAGE_BYTES = 1000
    big = staff_api.post(URL, {"frames": [{"image": b64(jpeg())}]}, format="json")
    settings.ZOO_MAX_IMAGE_BYTES = 10**7
    settings.ZOO_MAX_FRAMES_PER_BATCH = 2
    many = staff_api.post(URL, {"frames": [{"image": b64(jpeg(32, 32))}] * 3}, format="json")
    empty = staff_api.post(URL, {"frames": []}, format="json")

    assert big.status_code == 400 and "more than the 1000 allowed" in big.json()["detail"]
    assert many.status_code == 400 and "at most 2 frames" in many.json()["detail"]
    assert empty.status_code == 400 and "at least one frame" in empty.json()["detail"]


def test_anonymous_and_non_staff_callers_cannot_submit(api):
    from tests.factories import UserFactory

    anonymous = api.post(URL, {"frames": []}, format="json")
    api.force_authenticate(UserFactory())
    plain_user = api.post(URL, {"frames": []}, format="json")

    assert anonymous.status_code == 401
    assert plain_user.status_code == 403
    assert set(plain_user.json()) == {"detail"}


def test_an_unknown_batch_is_a_404(api):
    response = api.get(f"{URL}/8b0c8f2e-0000-4000-8000-000000000000")

    assert response.status_code == 404
    assert "not found" in response.json()["detail"]


def test_a_malformed_multipart_document_is_a_400(staff_api):
    response = staff_api.post(URL, {"batch": "{nope"}, format="multipart")

    assert response.status_code == 400
    assert response.json()["detail"].startswith("batch: not valid JSON")


def test_a_request_body_over_the_limit_is_a_json_413(staff_api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000

    response = staff_api.post(URL, {"frames": [{"image": b64(jpeg())}]}, format="json")

    assert response.status_code == 413
    assert response.json() == {"detail": "Request body larger than 10000 bytes"}
