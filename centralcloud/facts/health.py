"""The service's health: PostgreSQL, NATS and each source, each up, degraded or down.

PostgreSQL and NATS are checked when asked, each within a short bound, so a stalled
dependency shows as down instead of stalling the answer. Sources are not called: their
circuit breakers already know how the last requests went (state, latency, last error).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Protocol

from centralcloud.core import clock, errors
from centralcloud.sources import http
from centralcloud.store import db
from centralcloud.wire import messages

_RANK = {"up": 0, "degraded": 1, "down": 2}
SLOW = 0.5
"""A dependency answering slower than this many seconds is degraded."""


class NatsProbe(Protocol):
    """How this replica's NATS connection is doing."""

    last_error: str | None
    """The newest disconnect or connection error."""

    def connected(self) -> bool:
        """Whether the client holds a connection now."""

    async def round_trip(self, timeout: float) -> None:
        """A PING/PONG with the server within `timeout` seconds."""


class Health:
    def __init__(
        self, *, database: db.Database, sources: Mapping[str, http.HttpSource], nats: NatsProbe | None,
        timeout: float = 1.0,
    ) -> None:
        self.database = database
        self.sources = sources
        self.nats = nats
        self.timeout = timeout
        """Seconds each check may take before its dependency counts as down."""
        self._database_error: str | None = None

    async def check(self) -> messages.HealthReply:
        database, messaging = await asyncio.gather(self._database(), self._nats())
        components = [database, *([messaging] if messaging else []), *self._sources()]
        core = [c.state for c in components if c.kind != "source"]
        state = max(core, key=_RANK.__getitem__, default="up")
        if state == "up" and any(c.state != "up" for c in components):
            state = "degraded"
        return messages.HealthReply(state=state, checked_at=clock.utcnow(), components=components)

    async def _database(self) -> messages.ComponentHealth:
        started = time.monotonic()
        state: messages.health.State = "up"
        try:
            await self.database.ping(timeout=self.timeout)
        except errors.CentralCloudError as err:
            state, self._database_error = "down", err.message
        latency = time.monotonic() - started
        if state == "up" and latency > SLOW:
            state = "degraded"
        return messages.ComponentHealth(
            name="postgresql", kind="database", state=state, latency_ms=_ms(latency),
            last_error=self._database_error, details=dict(self.database.pool_figures()),
        )

    async def _nats(self) -> messages.ComponentHealth | None:
        if self.nats is None:
            return None
        started = time.monotonic()
        state: messages.health.State = "up"
        if not self.nats.connected():
            state = "down"
        else:
            try:
                await self.nats.round_trip(self.timeout)
            except Exception as err:  # any failed round trip means the same: NATS does not answer
                state, self.nats.last_error = "down", f"no round trip within {self.timeout:g}s: {type(err).__name__}"
        latency = time.monotonic() - started
        if state == "up" and latency > SLOW:
            state = "degraded"
        return messages.ComponentHealth(
            name="nats", kind="messaging", state=state, latency_ms=_ms(latency) if state != "down" else None,
            last_error=self.nats.last_error,
        )

    def _sources(self) -> list[messages.ComponentHealth]:
        found = []
        for name, source in sorted(self.sources.items()):
            breaker = source.guard.breaker
            found.append(messages.ComponentHealth(
                name=name, kind="source", state=breaker.state(),
                latency_ms=_ms(breaker.latency) if breaker.latency is not None else None,
                last_error=breaker.last_error,
                details={"requests": breaker.requests, "refused_while_resting": breaker.refused,
                         "failures_in_a_row": breaker.failures},
            ))
        return found


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)
