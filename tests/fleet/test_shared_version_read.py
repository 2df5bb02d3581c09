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


def ask(shared: SharedRead, answers: list, count: int) -> list[threading.Thread]:
    threads = [threading.Thread(target=lambda: answers.append(shared())) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads


def wait_until_waiting(shared: SharedRead, count: int) -> None:
    deadline = time.monotonic() + 5
    while len(shared._changed._waiters) < count:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, "the callers never waited"
        time.sleep(0.001)


def test_callers_that_arrive_during_a_read_share_the_next_one():
    database = Database()
    shared = SharedRead(database.read)
    database.release.clear()
    first: list[int] = []
    leader = ask(shared, first, 1)
    database.started.wait(5)
    later: list[int] = []
    followers = ask(shared, later, 8)
    wait_until_waiting(shared, 8)

    database.release.set()
    for thread in leader + followers:
        thread.join(5)

    assert first == [1] and later == [1] * 8
    assert database.reads == 2  # the leader's read, then one for all eight


def test_a_change_committed_while_a_read_was_in_flight_is_seen_by_later_callers():
    database = Database()
    shared = SharedRead(database.read)
    database.release.clear()
    first: list[int] = []
    leader = ask(shared, first, 1)
    database.started.wait(5)  # that read saw version 1 ...
    database.version = 2  # ... and then a change commits, before the next request
    later: list[int] = []
    followers = ask(shared, later, 4)
    wait_until_waiting(shared, 4)

    database.release.set()
    for thread in leader + followers:
        thread.join(5)

    assert first == [1]
    assert later == [2] * 4  # none took the read that began before it asked


def test_when_a_shared_read_fails_its_leader_raises_and_the_others_read_for_themselves():
    database = Database()
    shared = SharedRead(database.read)
    database.release.clear()
    first: list[int] = []
    leader = ask(shared, first, 1)
    database.started.wait(5)
    answers: list[int] = []
    errors: list[Exception] = []

    def ask_once() -> None:
        try:
            answers.append(shared())
        except ConnectionError as error:
            errors.append(error)

    followers = [threading.Thread(target=ask_once) for _ in range(4)]
    for thread in followers:
        thread.start()
    wait_until_waiting(shared, 4)
    database.failing = {2}  # the next read, which one follower makes for all four
    database.release.set()
    for thread in [*leader, *followers]:
        thread.join(5)

    assert first == [1]
    assert len(errors) == 1  # the follower that made the failed read
    assert answers == [1, 1, 1]  # the others, each by a read of its own
    assert database.reads == 1 + 1 + 3


@pytest.mark.django_db
def test_inside_a_transaction_each_caller_reads_for_itself():
    database = Database()
    shared = SharedRead(database.read)
    assert shared() == 1 and shared() == 1
    assert database.reads == 2  # a test's transaction: never shared
