"""centralcloud.sync.run and centralcloud.sync.status: start a sync run, follow its progress."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec

from centralcloud.wire.messages import common


class SyncRunRequest(common.Request):
    """centralcloud.sync.run: start a sync now."""

    packages: Annotated[list[common.PackageName], msgspec.Meta(min_length=1, max_length=10000)] | None = None
    """Sync just these packages (at least one); without it, every package that is due."""


class SyncRunReply(msgspec.Struct, kw_only=True):
    """centralcloud.sync.run reply, sent at once."""

    run: int | None
    """Id of the run started, or of the run already under way."""
    started: bool
    """False when a run was already under way (on this or another replica)."""
    message: str
    """What happened, in words."""


class SyncStatusRequest(common.Request):
    """centralcloud.sync.status: the current or last runs."""

    run: Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)] | None = None
    """One run by id (a positive 64-bit integer); without it, the newest runs."""
    limit: Annotated[int, msgspec.Meta(ge=1, le=100)] = 10
    """How many runs without an id."""


class SourceCountsInfo(msgspec.Struct, kw_only=True):
    """Per-source counts of a run."""

    checked: int
    """Packages looked at."""
    unchanged: int
    """Unchanged at the source (a 304)."""
    updated: int
    """Fetched and stored anew."""
    failed: int
    """Failed, with reasons in failures."""


class SyncFailureInfo(msgspec.Struct, kw_only=True):
    """One package that failed."""

    ecosystem: str
    """Ecosystem."""
    name: str
    """Package."""
    source: str
    """Which source failed."""
    reason: str
    """Why."""
    failed_at: dt.datetime
    """When."""


class SyncRunInfo(msgspec.Struct, kw_only=True):
    """One run."""

    id: int
    """Run id."""
    state: str
    """running, succeeded, failed or interrupted."""
    phase: str | None
    """While running: syncing, advisories, repositories, downloads, scores or cleanup."""
    trigger: str
    """schedule, request or resume."""
    scheduled_for: dt.datetime | None
    """The cron tick it ran for."""
    started_at: dt.datetime
    """Start."""
    finished_at: dt.datetime | None
    """End."""
    total: int
    """Packages selected so far."""
    done: int
    """Packages handled so far (progress while running)."""
    counts: dict[str, SourceCountsInfo]
    """Counts per source."""
    failures: list[SyncFailureInfo]
    """Failed packages with reasons (first 50)."""
    error: str | None
    """Why the run itself failed, if it did."""


class SyncStatusReply(msgspec.Struct, kw_only=True):
    """centralcloud.sync.status reply."""

    runs: list[SyncRunInfo]
    """Newest first."""
