"""Per-caller rates: a token bucket per caller, so one client cannot flood the sync's set.

Pure bookkeeping with an injected clock. The number of callers tracked is bounded: the
least recently seen are forgotten first (a forgotten caller starts again with a full bucket,
which only ever errs towards letting a request through).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class Buckets:
    def __init__(
        self, *, per_minute: float, burst: float, max_callers: int = 10000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = burst
        self.max_callers = max_callers
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, caller: str, amount: float) -> float:
        """Take `amount` from the caller's bucket; 0 if granted, else seconds until it would be."""
        amount = min(amount, self.burst)  # a request larger than a burst is granted from a full bucket
        now = self._clock()
        tokens, seen = self._buckets.pop(caller, (self.burst, now))
        tokens = min(self.burst, tokens + (now - seen) * self.rate)
        if amount <= tokens:
            tokens -= amount
            wait = 0.0
        else:
            wait = (amount - tokens) / self.rate if self.rate > 0 else float("inf")
        self._buckets[caller] = (tokens, now)
        while len(self._buckets) > self.max_callers:
            self._buckets.popitem(last=False)
        return wait
