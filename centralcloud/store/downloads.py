"""Download counts kept apart from the registry documents (npm's downloads API, pypistats)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from centralcloud.core import names
from centralcloud.store import db


async def due(
    database: db.Executor,
    refs: Sequence[names.PackageRef],
    *,
    counts_before: dt.datetime,
    series_before: dt.datetime,
) -> list[Any]:
    """The packages among `refs` whose counts or weekly series are due, with their validators."""
    return await database.fetch(
        "downloads_due", [ref.ecosystem for ref in refs], [ref.name for ref in refs], counts_before, series_before
    )


async def save_counts(
    database: db.Executor,
    *,
    source: str,
    rows: Sequence[tuple[int, int | None, int | None, int | None, str | None]],
    fetched_at: dt.datetime,
) -> None:
    """Store (package id, last week, last month, total, etag) rows fetched from `source`."""
    if rows:
        ids, week, month, total, etags = zip(*rows, strict=True)
        await database.execute(
            "save_download_counts", list(ids), source, list(week), list(month), list(total), list(etags), fetched_at
        )


async def save_series(
    database: db.Executor,
    *,
    source: str,
    rows: Sequence[tuple[int, str | None, dt.date | None, str | None]],
    fetched_at: dt.datetime,
) -> None:
    """Store (package id, weekly series as an array literal, last day, etag) rows fetched from `source`."""
    if rows:
        ids, series, ends, etags = zip(*rows, strict=True)
        await database.execute(
            "save_download_series", list(ids), source, list(series), list(ends), list(etags), fetched_at
        )


async def touch(database: db.Executor, *, counts: Sequence[int], series: Sequence[int], checked_at: dt.datetime) -> None:
    """Mark counts and series the source found unchanged."""
    if counts:
        await database.execute("touch_download_counts", list(counts), checked_at)
    if series:
        await database.execute("touch_download_series", list(series), checked_at)
