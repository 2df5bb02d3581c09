"""Shared fixtures. In CI (CI=true) the suite refuses to run on anything but a reachable
PostgreSQL, so a green run always means the production database was exercised."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from fleet.snapshots import snapshots
from tests.factories import DeviceFactory, UserFactory
from tests.servers import in_ci
from zoo_project.data import prepare

prepare()  # the data folder (the SQLite test database and the file broker live there)


@dataclass
class Rig:
    """A manager on a simulated device and the parts a test drives it through."""

    manager: Any
    specs: Any
    loader: Any
    backend: Any
    sink: Any

    def states(self) -> dict[str, tuple[str, int]]:
        """Database rows of this device: model name → (status, load_count)."""
        from fleet.models import ModelState

        self.sink.flush()
        rows = ModelState.objects.filter(device=self.sink.device)
        return {r.model.name: (r.status, r.load_count) for r in rows.select_related("model")}

    def events(self) -> list[tuple[str, str, str]]:
        from fleet.models import ModelEvent

        rows = ModelEvent.objects.filter(device=self.sink.device).order_by("id")
        return [(e.kind, e.model_name, e.reason) for e in rows]


def pytest_configure(config: pytest.Config) -> None:
    if not in_ci():
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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A transactional test must also restore the database it empties: flushed without
    it, Django recreates content types and permissions, and every later test that
    reloads its serialized data fails on duplicates (so far away from the cause)."""
    for item in items:
        marker = item.get_closest_marker("django_db")
        if (
            marker
            and marker.kwargs.get("transaction")
            and not marker.kwargs.get("serialized_rollback")
        ):
            raise pytest.UsageError(
                f"{item.nodeid}: django_db(transaction=True) needs serialized_rollback=True"
            )


@pytest.fixture(autouse=True)
def _fresh_documents():
    """No status document kept by one test is served in another: a test's rolled-back
    transaction can leave the status version where it found it."""
    snapshots.clear()
    yield
    snapshots.clear()


@pytest.fixture
def api() -> APIClient:
    """An anonymous client."""
    return APIClient()


def token_client(user) -> APIClient:
    """A client sending ``user``'s DRF token, as a real caller would."""
    client = APIClient()
    token = Token.objects.create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def reader_api(db) -> APIClient:
    """A client signed in (by token) as a user who is not staff."""
    return token_client(UserFactory())


@pytest.fixture
def staff_user(db):
    return UserFactory(is_staff=True)


@pytest.fixture
def staff_api(staff_user) -> APIClient:
    """A client authenticated by a staff user's DRF token."""
    return token_client(staff_user)


@pytest.fixture
def live_device(db):
    """A device whose worker heartbeated just now."""
    return DeviceFactory()


@pytest.fixture
def make_manager(django_db_serialized_rollback, transactional_db):
    """Build managers on simulated devices with the real database sink; stops them after."""
    from inference.engine.devices import SimulatedBackend
    from inference.engine.manager import ModelManager
    from inference.runtime.state import DatabaseStateSink
    from tests.fakes import DictSpecs, FakeLoader

    built = []

    def build(entries, *, total_mb=24 * 1024, settings=None, loader=None, device="sim:0", **kw):
        backend = SimulatedBackend(device, total_mb)
        specs = DictSpecs(entries, settings)
        sink = DatabaseStateSink(
            backend,
            budget_mb=backend.budget_mb(specs.current.offload_threshold),
            worker="test",
            host="test-host",
            flush_interval=0.01,
        )
        loader = loader or FakeLoader()
        manager = ModelManager(backend, specs=specs, sink=sink, loader=loader, **kw)
        built.append(sink)
        return Rig(manager=manager, specs=specs, loader=loader, backend=backend, sink=sink)

    yield build
    for sink in built:
        sink.stop()


@pytest.fixture(scope="session", autouse=True)
def _wait_listener_stops(django_db_setup):
    """The web side's wait listener (started by the first wait on PostgreSQL) holds a
    connection to the test database: close it before the database is dropped."""
    yield
    from inference import waiting

    waiting.listener.stop()


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory: pytest.TempPathFactory):
    """Every catalog entry's bootstrap checkpoint, built once per session: name → path."""
    import shutil

    from django.test import override_settings

    from inference import bootstrap

    root = tmp_path_factory.mktemp("checkpoints")
    with override_settings(ZOO_CHECKPOINT_DIR=root):
        outcomes = bootstrap.bootstrap(bootstrap.catalog_targets())
    yield {outcome.name: outcome.path for outcome in outcomes}
    shutil.rmtree(root, ignore_errors=True)  # ~300 MB: not worth keeping between runs


@pytest.fixture
def real_models(django_db_serialized_rollback, transactional_db, checkpoints):
    """The registry pointed at this session's real bootstrap checkpoints."""
    from models_registry import services

    for name, path in checkpoints.items():
        if path:
            services.model_set_path(name=name, path=path)
