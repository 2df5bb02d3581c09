"""Threads of one process share status version reads, but a thread only takes a read
that began after it asked: a change committed before a request is never missed."""

from __future__ import annotations

import threading
import time

import pytest

from fleet.snapshots import SharedRead


class Database:
    """A version row that a test changes, and reads of it that the test holds open."""

    def __init__(self) -> None:
        self.version = 1
        self.reads = 0
        self.release = threading.Event()
        self.release.set()
        self.failing: set[int] = set()  # which reads (1, 2, ...) fail
        self.started = threading.Event()

    def read(self) -> int:
        self.reads += 1
        number, seen = self.reads, self.version  # the snapshot is taken as it starts
        self.started.set()
        self.release.wait(5)
        if number in self.failing:
            raise ConnectionError("database went away")
        return seen


class Callers:
    """``count`` threads asking ``shared`` at once; what each got, or what it raised."""

    def __init__(self, shared: SharedRead, count: int) -> None:
        self.answers: list[int | None] = []
        self.errors: list[Exception] = []
        self.threads = [threading.Thread(target=self._ask, args=(shared,)) for _ in range(count)]
        for thread in self.threads:
            thread.start()

    def _ask(self, shared: SharedRead) -> None:
        try:
            self.answers.append(shared())
        except ConnectionError as error:
            self.errors.append(error)

    def join(self) -> None:
        for thread in self.threads:
            thread.join(5)


def read_in_flight() -> tuple[Database, SharedRead, Callers]:
    """One caller's read, begun and held open until ``database.release`` is set."""
    database = Database()
    shared = SharedRead(database.read)
    database.release.clear()
    first = Callers(shared, 1)
    database.started.wait(5)
    return database, shared, first


def waiting(shared: SharedRead, count: int) -> Callers:
    """``count`` callers, once every one of them waits for a read."""
    callers = Callers(shared, count)
    deadline = time.monotonic() + 5
    while len(shared._changed._waiters) < count:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, "the callers never waited"
        time.sleep(0.001)
    return callers


def test_callers_that_arrive_during_a_read_share_the_next_one():
    database, shared, first = read_in_flight()
    later = waiting(shared, 8)

    database.release.set()
    first.join(), later.join()

    assert first.answers == [1] and later.answers == [1] * 8
    assert database.reads == 2  # the first caller's read, then one for all eight


def test_a_change_committed_while_a_read_was_in_flight_is_seen_by_later_callers():
    database, shared, first = read_in_flight()  # that read saw version 1 ...
    database.version = 2  # ... and then a change commits, before the next requests
    later = waiting(shared, 4)

    database.release.set()
    first.join(), later.join()

    assert first.answers == [1]
    assert later.answers == [2] * 4  # none took the read that began before it asked


def test_when_a_shared_read_fails_its_leader_raises_and_the_others_read_for_themselves():
    database, shared, first = read_in_flight()
    later = waiting(shared, 4)
    database.failing = {2}  # the next read, which one of the four makes for all of them

    database.release.set()
    first.join(), later.join()

    assert first.answers == [1]
    assert len(later.errors) == 1  # the caller that made the failed read
    assert later.answers == [1, 1, 1]  # the others, each by a read of its own
    assert database.reads == 1 + 1 + 3


@pytest.mark.django_db
def test_inside_a_transaction_each_caller_reads_for_itself():
    database = Database()
    shared = SharedRead(database.read)
    assert shared() == 1 and shared() == 1
    assert database.reads == 2  # a test's transaction: never shared
