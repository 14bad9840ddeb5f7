"""Request pacing for sources with a rate policy: a steady rate, a budget announced in headers.

Both are enforced on every HTTP attempt, retries included, through `GatedSession`,
which wraps the aiohttp session a source is given. Neither uses asyncio locks: a
slot is claimed with no await in between, which is atomic on one event loop, and
a limiter shared by a whole process then works on whichever loop runs it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[Any]]


class RateLimiter:
    """At most `per_second` requests a second, evenly spaced, across every task sharing it."""

    def __init__(self, *, per_second: float, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        self.interval = 1.0 / per_second
        self._clock = clock
        self._sleep = sleep
        self._next = float("-inf")

    async def acquire(self) -> None:
        """Wait for this caller's slot. Slots are handed out in call order."""
        now = self._clock()
        slot = max(now, self._next)
        # Claimed before sleeping, so concurrent callers queue up behind one another.
        self._next = slot + self.interval
        if slot > now:
            await self._sleep(slot - now)


class HeaderBudget:
    """A request budget a server announces in its responses: requests left until a reset time.

    Hex and GitHub both send `x-ratelimit-limit`, `x-ratelimit-remaining` and
    `x-ratelimit-reset` (the reset as Unix epoch seconds).
    """

    def __init__(
        self,
        *,
        limit_header: str = "x-ratelimit-limit",
        remaining_header: str = "x-ratelimit-remaining",
        reset_header: str = "x-ratelimit-reset",
        clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._headers = (limit_header, remaining_header, reset_header)
        self._clock = clock
        self._sleep = sleep
        self.limit: int | None = None
        """Requests allowed per window, as last announced."""
        self.remaining: int | None = None
        """Requests left in the current window, as last announced; None before any answer."""
        self.reset_at: float | None = None
        """When the window resets, in epoch seconds; None before any answer."""

    def observe(self, headers: Mapping[str, str]) -> None:
        """Take the budget from a response's headers; answers without them change nothing."""
        limit_header, remaining_header, reset_header = self._headers
        remaining = _integer(headers.get(remaining_header))
        if remaining is None:
            return
        self.remaining = remaining
        self.limit = _integer(headers.get(limit_header), default=self.limit)
        reset = _number(headers.get(reset_header))
        if reset is not None:
            self.reset_at = reset

    def exhaust_until(self, reset_at: float) -> None:
        """Record that nothing may be sent before `reset_at` (epoch seconds)."""
        self.remaining = 0
        self.reset_at = reset_at

    def exhausted(self) -> bool:
        """True while the last answer said nothing remains and its reset time is still ahead."""
        return self.remaining == 0 and self.seconds_until_reset() > 0

    def seconds_until_reset(self) -> float:
        """Seconds until the window resets; 0 when unknown or past."""
        if self.reset_at is None:
            return 0.0
        return max(0.0, self.reset_at - self._clock())

    @property
    def reset_datetime(self) -> dt.datetime | None:
        """The reset time as an aware UTC datetime."""
        if self.reset_at is None:
            return None
        return dt.datetime.fromtimestamp(self.reset_at, tz=dt.timezone.utc)

    async def wait(self) -> float:
        """Sleep until the reset when the budget is spent; return the seconds slept."""
        if not self.exhausted():
            return 0.0
        delay = self.seconds_until_reset()
        await self._sleep(delay)
        return delay


class GatedSession:
    """An aiohttp session stand-in: `before()` runs ahead of every request, `after()` sees every answer.

    `after(status, headers)` sees error answers too (403, 429), which the base's
    retry loop never hands back to an adapter. Everything else is the wrapped
    session's, so closing or inspecting it works as before.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        before: Callable[[], Awaitable[None]] | None = None,
        after: Callable[[int, Mapping[str, str]], None] | None = None,
    ) -> None:
        self.wrapped = session
        self._before = before
        self._after = after

    def request(self, method: str, url: Any, **kwargs: Any) -> _GatedRequest:
        return _GatedRequest(self, method, url, kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)


class _GatedRequest:
    def __init__(self, gate: GatedSession, method: str, url: Any, kwargs: dict[str, Any]) -> None:
        self._gate = gate
        self._call = (method, url, kwargs)
        self._context: Any = None

    async def __aenter__(self) -> aiohttp.ClientResponse:
        if self._gate._before is not None:
            await self._gate._before()
        method, url, kwargs = self._call
        # Created only now, so the request's own timeout does not run while the gate waits.
        self._context = self._gate.wrapped.request(method, url, **kwargs)
        response = await self._context.__aenter__()
        if self._gate._after is not None:
            try:
                self._gate._after(response.status, response.headers)
            except BaseException as err:
                await self._context.__aexit__(type(err), err, err.__traceback__)
                raise
        return response

    async def __aexit__(self, *exc_info: Any) -> Any:
        return await self._context.__aexit__(*exc_info)


def _integer(value: str | None, *, default: int | None = None) -> int | None:
    number = _number(value)
    return default if number is None else int(number)


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    # nan and inf would never compare sensibly with a clock.
    return number if number == number and abs(number) != float("inf") and number >= 0 else None
