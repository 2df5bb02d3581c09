"""The Django admin is the operator's editing UI, behind a staff login."""

from __future__ import annotations

import pytest

from models_registry.models import ModelEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_staff(client, staff_user):
    staff_user.is_superuser = True
    staff_user.save()
    client.force_login(staff_user)
    return client


def test_the_admin_needs_a_staff_login(client):
    response = client.get("/admin/models_registry/modelentry/")

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.parametrize(
    "page",
    [
        "/admin/models_registry/modelentry/",
        "/admin/models_registry/modelentry/?category__exact=detection",
        "/admin/models_registry/modelentry/?enabled__exact=0",
        "/admin/models_registry/modelentry/?status=unloaded",
        "/admin/models_registry/modelentry/?status=loaded",
        "/admin/models_registry/modelentry/?task_options__task__name=object_detection",
        "/admin/models_registry/modelentry/?q=yolo",
        "/admin/models_registry/task/",
        "/admin/models_registry/task/object_detection/change/",
        "/admin/models_registry/inferencesettings/1/change/",
        "/admin/models_registry/triggerrule/",
        "/admin/fleet/device/",
        "/admin/fleet/modelstate/",
        "/admin/fleet/modelevent/",
        "/admin/inference/enrichmentbatch/",
        "/admin/inference/inferencerequest/",
    ],
)
def test_operator_pages_load(admin_client_staff, page):
    assert admin_client_staff.get(page).status_code == 200


def test_searching_models_finds_them_by_name(admin_client_staff):
    response = admin_client_staff.get("/admin/models_registry/modelentry/?q=license")

    assert b"yolo11-license-plate" in response.content
    assert b"vitpose-small" not in response.content


def test_bulk_disable_and_enable(admin_client_staff):
    names = ["yolo11-face", "vitpose-small"]
    ids = [str(pk) for pk in ModelEntry.objects.filter(name__in=names).values_list("pk", flat=True)]

    admin_client_staff.post(
        "/admin/models_registry/modelentry/",
        {"action": "disable_models", "_selected_action": ids},
    )
    disabled = ModelEntry.objects.filter(name__in=names)
    assert not any(e.enabled for e in disabled)
    assert all("Disabled by" in e.disabled_reason for e in disabled)

    admin_client_staff.post(
        "/admin/models_registry/modelentry/",
        {"action": "enable_models", "_selected_action": ids},
    )
    enabled = ModelEntry.objects.filter(name__in=names)
    assert all(e.enabled and e.disabled_reason == "" for e in enabled)
