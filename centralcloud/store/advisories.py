"""Advisories in PostgreSQL: merged records, aliases and what each source says they affect.

One record per advisory, keyed by its OSV id; a record that arrives under another id but
shares an alias (CVE-…, GHSA-…) is merged into the stored one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import msgspec

from centralcloud.core import clock, model
from centralcloud.store import db

# Higher wins when several sources describe one advisory's effect on one package.
SOURCE_RANK = {"osv": 2, "import": 2, "npm": 1, "pypi": 1}


async def save(database: db.Database, advisory: model.Advisory) -> str:
    """Store or merge one advisory; returns the id it is stored under."""
    ids = [advisory.id, *advisory.aliases]
    async with database.transaction() as tx:
        existing = await tx.fetchrow("find_advisory", ids)
        canonical = existing["id"] if existing else advisory.id
        rank = SOURCE_RANK.get(advisory.source, 0)
        better_known = existing is not None and any(SOURCE_RANK.get(s, 0) > rank for s in existing["sources"])
        await tx.execute(
            "upsert_advisory",
            canonical,
            advisory.summary,
            advisory.details,
            advisory.severity_vector,
            advisory.severity_score,
            advisory.severity,
            clock.aware(advisory.published),
            clock.aware(advisory.modified),
            clock.aware(advisory.withdrawn),
            list(advisory.references),
            advisory.source,
            better_known,
        )
        await tx.execute("insert_aliases", canonical, [i for i in ids if i != canonical])
        affected = advisory.affected
        if affected:
            await tx.execute(
                "delete_affected_from_source",
                canonical,
                advisory.source,
                [a.ecosystem for a in affected],
                [a.name for a in affected],
            )
            await tx.execute(
                "insert_affected",
                canonical,
                advisory.source,
                [a.ecosystem for a in affected],
                [a.name for a in affected],
                [msgspec.json.encode(a.ranges).decode() for a in affected],
                [",".join(a.versions) for a in affected],
                [",".join(a.flags) for a in affected],
            )
    return canonical


async def for_package(database: db.Executor, *, ecosystem: str, name: str) -> list[Any]:
    """Every stored (advisory, source) entry about one package, with the advisory's facts."""
    return await database.fetch("package_advisories", ecosystem, name)


async def modified_times(database: db.Executor, ids: list[str]) -> dict[str, dt.datetime | None]:
    """When each stored advisory was last modified, keyed by its id and by each alias."""
    stored: dict[str, dt.datetime | None] = {}
    for row in await database.fetch("advisory_modified", ids):
        for key in (row["id"], row["alias"]):
            if key:
                stored[key] = row["modified_at"]
    return stored


async def state(database: db.Executor, *, ecosystem: str, name: str) -> Any:
    """The package's advisory bookkeeping (when its advisories were last checked), or None."""
    return await database.fetchrow("package_advisory_state", ecosystem, name)


async def mark_checked(database: db.Executor, refs: Iterable[tuple[str, str]]) -> None:
    """Record that the advisory sources answered for these packages just now."""
    refs = list(refs)
    if refs:
        await database.execute("mark_many_advisories_synced", [e for e, _ in refs], [n for _, n in refs])


async def version_numbers(database: db.Executor, *, ecosystem: str, names: list[str]) -> dict[str, list[str]]:
    """Every stored version number of each named package (for bulk advisory endpoints)."""
    rows = await database.fetch("version_numbers", ecosystem, names)
    return {row["name"]: list(row["numbers"]) for row in rows}


async def record_import(database: db.Executor, *, ecosystem: str, as_of: dt.datetime, records: int) -> None:
    """Note that an imported export covered `ecosystem` up to `as_of`."""
    await database.execute("record_advisory_import", ecosystem, as_of, records)


async def import_as_of(database: db.Executor, *, ecosystem: str) -> dt.datetime | None:
    """The date of the newest imported export covering `ecosystem`, or None."""
    return await database.fetchval("advisory_import_as_of", ecosystem)
