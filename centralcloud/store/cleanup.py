"""Retention: what nobody uses any more leaves the store."""

from __future__ import annotations

import datetime as dt

from centralcloud.store import db


async def run(database: db.Executor, *, cutoff: dt.datetime, depth: int) -> tuple[list[tuple[str, str]], int, int]:
    """Forget stale requests, then remove unused packages, orphan advisories and repositories.

    Returns the removed packages and the numbers of removed advisories and repositories.
    """
    await database.execute("forget_stale_requests", cutoff)
    removed = await database.fetch("cleanup_packages", cutoff, depth)
    advisories = await database.fetch("cleanup_advisories", cutoff)
    repositories = await database.fetch("cleanup_repositories")
    return [(row["ecosystem"], row["name"]) for row in removed], len(advisories), len(repositories)
