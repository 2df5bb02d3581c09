"""Shared fixtures. In CI (CI=true) the suite refuses to run on anything but a reachable
PostgreSQL, so a green run always means the production database was exercised."""

from __future__ import annotations

import os

import pytest
from django.conf import settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import DeviceFactory, UserFactory


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_configure(config: pytest.Config) -> None:
    if not _in_ci():
        return
    database = settings.DATABASES["default"]
    if "postgresql" not in database["ENGINE"]:
        pytest.exit(
            f"CI must test against PostgreSQL; DATABASE_URL gives {database['ENGINE']}",
            returncode=3,
        )
    import psycopg

    try:
        psycopg.connect(
            host=database.get("HOST") or None,
            port=database.get("PORT") or None,
            user=database.get("USER") or None,
            password=database.get("PASSWORD") or None,
            dbname="postgres",
            connect_timeout=5,
        ).close()
    except psycopg.OperationalError as exc:
        pytest.exit(f"CI cannot reach PostgreSQL at {database.get('HOST')}: {exc}", returncode=3)


@pytest.fixture
def api() -> APIClient:
    """An anonymous client."""
    return APIClient()


@pytest.fixture
def staff_user(db):
    return UserFactory(is_staff=True)


@pytest.fixture
def staff_api(staff_user) -> APIClient:
    """A client authenticated by a staff user's DRF token."""
    client = APIClient()
    token = Token.objects.create(user=staff_user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def live_device(db):
    """A device whose worker heartbeated just now."""
    return DeviceFactory()
