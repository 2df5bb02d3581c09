"""The order in which a worker serves models: bounded wait, then priority, then what is
already in memory, then volume."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from inference.scheduling import Pending, next_model

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def choose(*pending: Pending, resident: Collection[str] = ()) -> str | None:
    return next_model(pending, resident=resident, now=NOW, max_wait_s=60)


def test_nothing_waiting_means_nothing_to_serve() -> None:
    assert choose() is None
    assert choose(Pending("pet-classifier", 0, ago(5))) is None


def test_a_resident_model_is_served_before_one_that_needs_a_load() -> None:
    big_backlog = Pending("yolo11-face", 40, ago(30))
    resident_few = Pending("pet-classifier", 2, ago(10))
    assert choose(big_backlog, resident_few, resident={"pet-classifier"}) == "pet-classifier"


def test_among_models_to_load_the_one_with_most_work_goes_first() -> None:
    assert choose(Pending("a", 3, ago(40)), Pending("b", 12, ago(5))) == "b"
    assert choose(Pending("a", 3, ago(40)), Pending("b", 3, ago(5))) == "a"  # then the oldest


def test_interactive_work_goes_ahead_of_the_backlog_even_when_not_resident() -> None:
    backlog = Pending("yolo11-face", 50, ago(30), priority=0)
    inference = Pending("yolov8n", 1, ago(1), priority=10)
    assert choose(backlog, inference, resident={"yolo11-face"}) == "yolov8n"


def test_work_older_than_the_bound_is_served_next_whatever_is_resident() -> None:
    starving = Pending("xclip-base", 1, ago(61))
    busy = Pending("pet-classifier", 30, ago(2), priority=10)
    assert choose(starving, busy, resident={"pet-classifier"}) == "xclip-base"


@given(
    st.lists(
        st.tuples(
            st.sampled_from("abcdef"), st.integers(0, 20), st.floats(0, 200), st.integers(0, 2)
        ),
        max_size=8,
    ),
    st.sets(st.sampled_from("abcdef")),
)
def test_no_item_waits_past_the_bound_while_another_is_overdue_longer(rows, resident) -> None:
    pending = {p: Pending(p, n, ago(age), prio) for p, n, age, prio in rows}.values()
    chosen = next_model(pending, resident=resident, now=NOW, max_wait_s=60)
    waiting = [p for p in pending if p.items > 0]
    overdue = [p for p in waiting if (NOW - p.oldest).total_seconds() >= 60]
    if not waiting:
        assert chosen is None
    elif overdue:
        assert chosen == min(overdue, key=lambda p: p.oldest).model
    else:
        assert chosen in {p.model for p in waiting}
