"""What keeps one source's trouble its own: a connection bound and a circuit breaker.

Each source gets its own bound on requests in flight (so a hanging registry holds only its
own connections) and a breaker: after `threshold` requests in a row that failed for want of
an answer (timeouts, refused connections, 5xx past retries), the source rests for
`cooldown` seconds, during which its requests fail at once with a retry hint; then one
trial request decides whether it rests again. The breaker also keeps what `centralcloud.health`
reports: state, latency and the last error. No asyncio locks, and no awaits between a
decision and its bookkeeping, so one event loop sees consistent state.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from typing import Literal

Clock = Callable[[], float]
State = Literal["up", "degraded", "down"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class GuardPolicy:
    """Bounds for one source."""

    max_connections: int = 16
    """Requests in flight to this source at once; more wait for a free one."""
    threshold: int = 3
    """Failed requests in a row (after retries) that make the source rest."""
    cooldown: float = 30.0
    """Seconds a source rests before one trial request is let through."""


class Resting(Exception):
    """The source is resting; `retry_after` seconds remain."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"resting for {retry_after:.1f}s more")
        self.retry_after = retry_after


class Breaker:
    """A circuit breaker with the figures health reports."""

    def __init__(self, *, policy: GuardPolicy = GuardPolicy(), clock: Clock = time.monotonic) -> None:
        self.policy = policy
        self._clock = clock
        self.failures = 0
        """Failed requests in a row."""
        self.open_until: float | None = None
        """While set and ahead of the clock, requests are refused."""
        self._trial = False
        self.last_error: str | None = None
        """The newest failure, kept after recovery so health can show it."""
        self.last_error_at: float | None = None
        self.latency: float | None = None
        """Seconds the newest answered request took."""
        self.requests = 0
        self.refused = 0

    def check(self) -> None:
        """Raise `Resting` unless a request may go now (the first after a rest is the trial)."""
        if self.open_until is None:
            return
        left = self.open_until - self._clock()
        if left > 0 or self._trial:
            self.refused += 1
            raise Resting(max(left, 0.5))
        self._trial = True  # this caller's request decides; others are refused until then

    def succeeded(self, latency: float) -> None:
        self.requests += 1
        self.latency = latency
        self.failures = 0
        self.open_until = None
        self._trial = False

    def failed(self, reason: str) -> None:
        """A request got no usable answer; enough in a row (or a failed trial) rest the source."""
        self.requests += 1
        self.failures += 1
        self.last_error = reason
        self.last_error_at = self._clock()
        if self._trial or self.failures >= self.policy.threshold:
            self.open_until = self._clock() + self.policy.cooldown
        self._trial = False

    def state(self) -> State:
        if self.open_until is not None:
            return "down"
        return "degraded" if self.failures else "up"


class Guard:
    """A source's connection bound plus its breaker."""

    def __init__(self, *, policy: GuardPolicy = GuardPolicy(), clock: Clock = time.monotonic) -> None:
        self.policy = policy
        self.breaker = Breaker(policy=policy, clock=clock)
        self.connections = asyncio.Semaphore(policy.max_connections)
