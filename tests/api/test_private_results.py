"""Results are private: a batch and an inference belong to the user who submitted them,
and only that user and staff read them; to anyone else they are a 404, exactly like an
id that does not exist, so ids cannot be probed."""

from __future__ import annotations

import base64
import uuid

import pytest

from inference import services
from inference.models import EnrichmentBatch, InferenceRequest, WorkStatus
from inference.services import FrameIn
from tests.factories import UserFactory
from tests.frames import PERSON, jpeg

pytestmark = pytest.mark.django_db


def batch_of(user) -> EnrichmentBatch:
    frames = [FrameIn(width=320, height=240, detections=[PERSON], data=jpeg(320, 240))]
    return services.batch_submit(frames=frames, user=user)


def inference_of(user) -> InferenceRequest:
    return InferenceRequest.objects.create(
        task_type="object_detection", model_name="yolov8n", image=b"", status=WorkStatus.DONE,
        result={"output": {"detections": []}, "device": "sim:0", "cold": False},
        submitted_by=user,
    )  # fmt: skip


def as_user(api, user):
    api.force_authenticate(user)
    return api


def test_a_batch_is_read_by_its_submitter(api):
    owner = UserFactory()
    batch = batch_of(owner)

    response = as_user(api, owner).get(f"/api/enrichment/batches/{batch.pk}")

    assert response.status_code == 200
    assert response.json()["frames"][0]["detections"][0]["label"] == "person"


def test_another_user_or_an_anonymous_caller_gets_the_404_of_an_unknown_batch(api):
    batch = batch_of(UserFactory())
    unknown = uuid.uuid4()

    anonymous = api.get(f"/api/enrichment/batches/{batch.pk}")
    missing = api.get(f"/api/enrichment/batches/{unknown}")
    other = as_user(api, UserFactory()).get(f"/api/enrichment/batches/{batch.pk}")

    assert (anonymous.status_code, other.status_code, missing.status_code) == (404, 404, 404)
    assert anonymous.json() == {"detail": f"Batch {batch.pk} not found"}
    assert other.json() == anonymous.json()
    assert missing.json() == {"detail": f"Batch {unknown} not found"}


def test_staff_read_every_batch(staff_api):
    batch = batch_of(UserFactory())

    assert staff_api.get(f"/api/enrichment/batches/{batch.pk}").status_code == 200


def test_a_batch_submitted_through_the_api_belongs_to_its_submitter(staff_api, staff_user):
    body = {"frames": [{"image": base64.b64encode(jpeg(320, 240)).decode()}]}

    created = staff_api.post("/api/enrichment/batches", body, format="json").json()

    assert EnrichmentBatch.objects.get(pk=created["id"]).submitted_by == staff_user


def test_an_inference_is_read_by_its_submitter_and_staff_only(api, staff_api):
    owner = UserFactory()
    inference = inference_of(owner)
    url = f"/api/models/infer/{inference.pk}"

    mine = as_user(api, owner).get(url)
    staff = staff_api.get(url)
    other = as_user(api, UserFactory()).get(url)
    api.force_authenticate(None)
    anonymous = api.get(url)

    assert (mine.status_code, staff.status_code) == (200, 200)
    assert mine.json()["result"] == {"detections": []}
    assert (other.status_code, anonymous.status_code) == (404, 404)
    assert other.json() == anonymous.json()
    assert other.json()["error"] == f"Inference {inference.pk} not found"


def test_work_from_before_owners_were_kept_is_read_by_staff_only(api, staff_api):
    batch = batch_of(None)
    inference = inference_of(None)
    reader = as_user(api, UserFactory())

    assert reader.get(f"/api/enrichment/batches/{batch.pk}").status_code == 404
    assert reader.get(f"/api/models/infer/{inference.pk}").status_code == 404
    assert staff_api.get(f"/api/enrichment/batches/{batch.pk}").status_code == 200
    assert staff_api.get(f"/api/models/infer/{inference.pk}").status_code == 200


def test_a_deactivated_owner_reads_nothing(api):
    owner = UserFactory()
    batch = batch_of(owner)
    owner.is_active = False
    owner.save()

    assert as_user(api, owner).get(f"/api/enrichment/batches/{batch.pk}").status_code == 404
