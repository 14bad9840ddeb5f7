"""What the team uses: live usage of one package, and the recomputed aggregates behind pairs,
popular packages and learned patterns."""

from __future__ import annotations

import datetime as dt
from typing import Any

from centralcloud.store import db

PATTERNS_LOCK = 0x43_43_50_54  # "CCPT": one recompute at a time across replicas
ASSOCIATED_PER_PATTERN = 5
"""Packages listed with each learned pattern, most associated (by lift) first."""


async def usage(database: db.Executor, *, ecosystem: str, name: str) -> Any:
    """Instances, projects, direct instances, first and last seen of one package; None if never reported."""
    return await database.fetchrow("package_usage_live", ecosystem, name)


async def versions(database: db.Executor, package_id: int, *, min_instances: int) -> list[Any]:
    return await database.fetch("package_usage_versions", package_id, min_instances)


async def trends(database: db.Executor, package_ids: list[int], *, since: dt.datetime) -> dict[int, tuple[int, int]]:
    """(added, dropped) instances per package since `since`."""
    rows = await database.fetch("package_trends", package_ids, since)
    return {row["package_id"]: (row["added"], row["dropped"]) for row in rows}


async def pairs(database: db.Executor, package_id: int, *, min_instances: int, limit: int) -> list[Any]:
    return await database.fetch("pairs_of_package", package_id, min_instances, limit)


async def popular_packages(database: db.Executor, *, ecosystem: str | None, min_instances: int, limit: int) -> list[Any]:
    return await database.fetch("popular_packages", ecosystem, min_instances, limit)


async def popular_pairs(database: db.Executor, *, ecosystem: str | None, min_instances: int, limit: int) -> list[Any]:
    return await database.fetch("popular_pairs", ecosystem, min_instances, limit)


async def popular_patterns(database: db.Executor, *, min_instances: int, limit: int, since: dt.datetime) -> list[Any]:
    return await database.fetch("popular_patterns", min_instances, limit, since)


async def state(database: db.Executor) -> Any:
    """Transactions and time of the last recompute, or None before the first."""
    return await database.fetchrow("pattern_state")


async def recompute(database: db.Database, *, min_instances: int) -> int | None:
    """Recompute usage counts, pairs and learned patterns in one transaction; returns the
    transactions, or None when another replica is recomputing right now."""
    async with database.transaction() as tx:
        if not await tx.fetchval("try_patterns_lock", PATTERNS_LOCK):
            return None
        await tx.execute("clear_pattern_aggregates")
        await tx.execute("recompute_package_usage")
        transactions = await tx.fetchval("recompute_transactions")
        await tx.execute("recompute_package_pairs", min_instances)
        await tx.execute("recompute_learned_patterns", min_instances, ASSOCIATED_PER_PATTERN)
    return int(transactions)


async def storage_bytes(database: db.Executor) -> int:
    return int(await database.fetchval("pattern_storage") or 0)
