"""centralcloud.health: whether the service's dependencies answer, and how fast."""

from __future__ import annotations

import datetime as dt
from typing import Literal

import msgspec

from centralcloud.wire.messages import common

State = Literal["up", "degraded", "down"]


class HealthRequest(common.Request):
    """centralcloud.health: no fields."""


class ComponentHealth(msgspec.Struct, kw_only=True):
    """One dependency of the service."""

    name: str
    """postgresql, nats, or a source's name (npm, pypi, cargo, hex, github, osv, …)."""
    kind: Literal["database", "messaging", "source"]
    """What kind of dependency it is."""
    state: State
    """up: answering; degraded: answering with recent failures (or slowly); down: not answering, or resting after repeated failures."""
    latency_ms: float | None
    """Milliseconds the newest check or request took; null when none was made yet."""
    last_error: str | None
    """The newest failure seen, kept after recovery; null when none."""
    details: dict[str, int] = {}
    """Counts: a source's requests, refused requests while resting and failures in a row; the database pool's size and idle connections."""


class HealthReply(msgspec.Struct, kw_only=True):
    """centralcloud.health reply."""

    state: State
    """The worst of the database and NATS; a source down makes the service degraded, not down."""
    checked_at: dt.datetime
    """When this replica answered."""
    components: list[ComponentHealth]
    """PostgreSQL, NATS, then each source."""
