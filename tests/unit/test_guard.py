"""The per-source circuit breaker, on a fake clock."""

from __future__ import annotations

import pytest

from centralcloud.sources import guard


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_rests_after_threshold_failures_then_one_trial() -> None:
    clock = Clock()
    breaker = guard.Breaker(policy=guard.GuardPolicy(threshold=3, cooldown=30), clock=clock)
    for _ in range(2):
        breaker.check()
        breaker.failed("timeout")
    assert breaker.state() == "degraded"
    breaker.check()
    breaker.failed("timeout")
    assert breaker.state() == "down"
    with pytest.raises(guard.Resting) as resting:
        breaker.check()
    assert resting.value.retry_after == pytest.approx(30)
    clock.now += 31
    breaker.check()  # the trial goes through
    with pytest.raises(guard.Resting):
        breaker.check()  # others wait for the trial's outcome
    breaker.failed("timeout again")
    with pytest.raises(guard.Resting):
        breaker.check()  # a failed trial rests the source again at once
    clock.now += 31
    breaker.check()
    breaker.succeeded(latency=0.2)
    assert breaker.state() == "up" and breaker.latency == 0.2 and breaker.last_error == "timeout again"
    breaker.check()


def test_success_resets_the_count() -> None:
    breaker = guard.Breaker(policy=guard.GuardPolicy(threshold=2), clock=Clock())
    breaker.failed("x")
    breaker.succeeded(latency=0.1)
    breaker.failed("y")
    assert breaker.state() == "degraded"
    breaker.check()
