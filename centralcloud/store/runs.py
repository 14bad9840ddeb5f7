"""Sync runs: the advisory lock that makes one run at a time, run records, progress and failures."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

from centralcloud.core import errors
from centralcloud.store import db

SYNC_LOCK = 0x43_43_53_59  # "CCSY": the advisory lock key of sync runs


async def try_lock(connection: db.Executor) -> bool:
    """Take the sync lock on this connection's session, without waiting."""
    return bool(await connection.fetchval("try_sync_lock", SYNC_LOCK))


async def unlock(connection: db.Executor) -> None:
    """Release the sync lock; a connection already gone released it anyway."""
    with contextlib.suppress(errors.DatabaseError):
        await connection.fetchval("unlock_sync", SYNC_LOCK)


async def stale_running(database: db.Executor) -> Any:
    """The newest run still marked running, or None."""
    return await database.fetchrow("stale_running_run")


async def last_scheduled_tick(database: db.Executor) -> dt.datetime | None:
    return await database.fetchval("last_scheduled_tick")


async def create(
    database: db.Executor, *, trigger: str, scheduled_for: dt.datetime | None, requested: list[list[str]] | None
) -> tuple[int, dt.datetime]:
    """A new run record; its id and start time."""
    row = await database.fetchrow("create_sync_run", trigger, scheduled_for, requested)
    return row["id"], row["started_at"]


async def interrupt_others(database: db.Executor, run_id: int) -> None:
    """Mark runs left running by dead processes as interrupted, except `run_id`."""
    await database.execute("interrupt_other_runs", run_id)


async def due_packages(
    database: db.Executor, *, depth: int, synced_before: dt.datetime, requested_since: dt.datetime,
    not_found_since: dt.datetime, max_unknown: int,
) -> list[tuple[str, str]]:
    """Packages in use that were not synced since `synced_before`, shallowest first; names found
    missing since `not_found_since` are left out, and at most `max_unknown` requested names never stored."""
    rows = await database.fetch("sync_due", depth, synced_before, requested_since, not_found_since, max_unknown)
    return [(row["ecosystem"], row["name"]) for row in rows]


async def write_progress(
    database: db.Executor, run_id: int, *, total: int, counts: dict[str, Any], phase: str
) -> None:
    await database.execute("update_sync_progress", run_id, total, counts, phase)


async def finish(
    database: db.Executor, run_id: int, *, state: str, total: int, counts: dict[str, Any], error: str | None
) -> None:
    await database.execute("finish_sync_run", run_id, state, total, counts, error)


async def record_failure(
    database: db.Executor, run_id: int, *, ecosystem: str, name: str, source: str, reason: str
) -> None:
    """One failure in a run; ecosystem and name are "-" for a side source's failure."""
    await database.execute("record_sync_failure", run_id, ecosystem, name, source, reason)


async def mark_package_error(database: db.Executor, *, ecosystem: str, name: str, reason: str) -> None:
    """Keep a package's last sync error with it."""
    await database.execute("mark_sync_error", ecosystem, name, reason)


async def get(database: db.Executor, run_id: int) -> Any:
    return await database.fetchrow("get_sync_run", run_id)


async def newest(database: db.Executor, *, limit: int) -> list[Any]:
    return await database.fetch("list_sync_runs", limit)


async def failures(database: db.Executor, run_id: int, *, limit: int) -> list[Any]:
    return await database.fetch("list_sync_failures", run_id, limit)


async def synced_since(database: db.Executor, refs: list[tuple[str, str]], since: dt.datetime) -> set[tuple[str, str]]:
    """Which of `refs` were stored or checked at or after `since` (what a resumed run already did)."""
    rows = await database.fetch(
        "packages_synced_since", [e for e, _ in refs], [n for _, n in refs], since
    )
    return {(row["ecosystem"], row["name"]) for row in rows}
