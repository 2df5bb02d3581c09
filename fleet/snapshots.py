"""The status read model: each status document is built once per change, not per request.

A document (whatever a caller builds from the selectors: a rendered body, a dict) is
kept in this process under the status version it was read at
(``fleet.models.StatusVersion``, which database triggers change in the same transaction
as any write to the tables behind the documents). Serving it costs one read of that row
(shared by the requests of a process that arrive while the previous read is in flight:
``SharedRead``); a version read after a write commits differs from every version read
before it, so a committed change is never answered with an older document, whichever
process wrote it.

Liveness is the one input that changes without a write: a device whose heartbeat is
older than ``ZOO_WORKER_HEARTBEAT_TIMEOUT_S`` stops counting as holding its models. A
document therefore also expires when the first live device it saw would go stale.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from django.db.models import Min
from django.utils import timezone

from fleet.models import Device, StatusVersion

T = TypeVar("T")
# The triggers' name (migration 0002_status_version).
STATUS_TRIGGER = "fleet_status_bump"


def status_version() -> int | None:
    """The current status version: one statement. ``None`` only while the row is missing
    (a freshly emptied database); the first write creates it.

    The read doubles as the connection's health check (``CONN_HEALTH_CHECKS``), which
    would otherwise cost a ``SELECT 1`` before it: on a reused connection that turns out
    broken (a restarted database), it reconnects and reads again.

    Inside a transaction (a test's, or a caller's ``atomic`` block) the version must
    also count that transaction's own writes, whose PostgreSQL triggers wait for the
    commit: switching them to immediate runs the pending ones now.
    """
    wrapper: Any = connection  # the health-check flags are not in Django's stubs
    checking = (
        wrapper.connection is not None
        and wrapper.health_check_enabled
        and not wrapper.health_check_done
        and not wrapper.in_atomic_block
    )
    if checking:
        wrapper.health_check_done = True  # this read is the check
    try:
        return _version_read()
    except (InterfaceError, OperationalError):
        if not checking:
            raise
        connection.close()
        return _version_read()


def _version_read() -> int | None:
    with connection.cursor() as cursor:
        if connection.in_atomic_block and connection.vendor == "postgresql":
            cursor.execute(f"SET CONSTRAINTS {STATUS_TRIGGER} IMMEDIATE")
            cursor.execute(f"SET CONSTRAINTS {STATUS_TRIGGER} DEFERRED")
        cursor.execute(f"SELECT version FROM {StatusVersion._meta.db_table} WHERE id = 1")
        row = cursor.fetchone()
    return None if row is None else int(row[0])


def liveness_horizon() -> datetime:
    """When the first device now counted live would stop counting, if it heartbeats no
    more; far in the future when no device is live."""
    timeout = timedelta(seconds=settings.ZOO_WORKER_HEARTBEAT_TIMEOUT_S)
    now = timezone.now()
    oldest = Device.objects.filter(heartbeat_at__gte=now - timeout).aggregate(
        oldest=Min("heartbeat_at")
    )["oldest"]
    return now + timedelta(days=365) if oldest is None else oldest + timeout


class SharedRead:
    """Status version reads shared by the threads of one process. A caller takes the
    first read that *begins after it asked*, never one already in flight, so the version
    it gets was read after any change committed before its request, whichever process
    committed it. Under load, each read serves every request that arrived during the
    one before it: the database sees one statement per read, not one per request.

    A caller inside a transaction reads for itself (its own writes count, see
    ``status_version``); so does a caller whose shared read failed.
    """

    def __init__(self, read: Callable[[], int | None]) -> None:
        self._read = read
        self._changed = threading.Condition()
        self._begun = 0  # reads begun so far; the one in flight, if any, is the last
        self._done = 0  # the newest read finished
        self._value: int | None = None  # what it read (None if it failed)
        self._failed = False
        self._in_flight = False

    def __call__(self) -> int | None:
        if connection.in_atomic_block:
            return self._read()
        with self._changed:
            needed = self._begun + 1  # a read begun from now on
            while self._done < needed and self._in_flight:
                self._changed.wait()
            if self._done >= needed:
                failed, value = self._failed, self._value
            else:  # nobody is reading: this thread reads for everyone waiting
                self._in_flight = True
                self._begun += 1
                return self._lead(self._begun)
        return self._read() if failed else value

    def _lead(self, number: int) -> int | None:
        self._changed.release()  # the read runs outside the lock
        try:
            value = self._read()
            failed = False
        except BaseException:
            value, failed = None, True
            raise
        finally:
            self._changed.acquire()
            self._in_flight = False
            self._done, self._value, self._failed = number, value, failed
            self._changed.notify_all()
        return value


shared_status_version = SharedRead(status_version)


@dataclass(frozen=True)
class _Kept(Generic[T]):
    version: int | None
    expires_at: datetime
    value: T


class Snapshots:
    """Documents of one process, each kept under the version it was built at."""

    def __init__(self) -> None:
        self._kept: dict[str, _Kept[object]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, build: Callable[[], T]) -> T:
        """The document ``key`` as of now: kept if nothing it depends on has changed,
        else built again by ``build`` (outside any lock: two threads may both build)."""
        version = shared_status_version()
        kept = self._kept.get(key)
        if (
            settings.ZOO_STATUS_SNAPSHOTS
            and kept is not None
            and kept.version == version
            and timezone.now() < kept.expires_at
        ):
            return kept.value  # type: ignore[return-value]
        # The horizon is read before the document, so the document is at least as fresh.
        expires_at = liveness_horizon()
        value = build()
        with self._lock:
            self._kept[key] = _Kept(version, expires_at, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()


snapshots = Snapshots()
