"""Per-caller token buckets, on a fake clock."""

from __future__ import annotations

import pytest

from centralcloud.edge import rates


class Clock(list[float]):
    """now is the last item; call to read it."""

    def __init__(self) -> None:
        super().__init__([0.0])

    @property
    def now(self) -> float:
        return self[-1]

    @now.setter
    def now(self, value: float) -> None:
        self[-1] = value

    def __call__(self) -> float:
        return self[-1]


def test_a_caller_gets_its_burst_then_the_rate() -> None:
    clock = Clock()
    buckets = rates.Buckets(per_minute=600, burst=1000, clock=clock)  # 10 a second
    assert buckets.take("a", 1000) == 0
    assert buckets.take("a", 10) == pytest.approx(1.0)
    assert buckets.take("b", 1000) == 0  # another caller has its own bucket
    clock.now += 1.0
    assert buckets.take("a", 10) == 0
    assert buckets.take("a", 1) > 0


def test_more_than_a_burst_waits_for_a_full_bucket_at_most() -> None:
    clock = Clock()
    buckets = rates.Buckets(per_minute=60, burst=5, clock=clock)
    assert buckets.take("a", 5) == 0
    assert buckets.take("a", 50) == pytest.approx(5.0)
    clock.now += 5.0
    assert buckets.take("a", 50) == 0


def test_callers_tracked_are_bounded() -> None:
    buckets = rates.Buckets(per_minute=60, burst=1, max_callers=2, clock=Clock())
    for caller in ("a", "b", "c"):
        assert buckets.take(caller, 1) == 0
    assert buckets.take("a", 1) == 0  # forgotten, so full again
    assert buckets.take("c", 1) > 0
