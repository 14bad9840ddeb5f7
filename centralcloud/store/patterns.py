"""What the team uses: the aggregates behind usage, pairs, popular packages and learned
patterns, filled by one recompute and read one indexed row (or a few) at a time."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import numpy as np

from centralcloud.store import db

PATTERNS_LOCK = 0x43_43_50_54  # "CCPT": one recompute at a time across replicas
ASSOCIATED_PER_PATTERN = 5
"""Packages listed with each learned pattern, most associated (by lift) first."""


async def usage(database: db.Executor, *, ecosystem: str, name: str) -> Any:
    """Counts, last seen, versions shown and trend of one package as of the last recompute,
    with its first-seen time; None if never reported."""
    return await database.fetchrow("package_usage", ecosystem, name)


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


async def recompute(database: db.Database, *, min_instances: int, since: dt.datetime,
                    count_pairs: Callable[..., Any]) -> int | None:
    """Recompute usage (with the trend since `since`), pairs and learned patterns in one
    transaction, noting the instances that took up or dropped a package since the last recompute
    and forgetting adds and drops older than `since`; returns the transactions, or
    None when another replica is recomputing right now. `count_pairs` (patterns.pair_counts.count)
    counts the pairs from the direct items read here; they are written back in one statement."""
    async with database.transaction() as tx:
        if not await tx.fetchval("try_patterns_lock", PATTERNS_LOCK):
            return None
        await tx.execute("prune_pattern_events", since)
        await tx.execute("note_usage_changes")
        await tx.execute("clear_pattern_aggregates")
        await tx.execute("recompute_package_usage", min_instances, since)
        transactions = await tx.fetchval("recompute_transactions")
        items = await tx.fetchrow("pair_items", min_instances)
        counted = count_pairs(
            instances=np.asarray(items["instances"], dtype=np.int64),
            projects=np.asarray(items["projects"], dtype=np.int64),
            packages=np.asarray(items["packages"], dtype=np.int64),
            min_instances=min_instances,
        )
        await tx.execute("insert_package_pairs", counted.a.tolist(), counted.b.tolist(),
                         counted.projects.tolist(), counted.instances.tolist())
        await tx.execute("recompute_learned_patterns", min_instances, ASSOCIATED_PER_PATTERN)
    return int(transactions)


async def storage_bytes(database: db.Executor) -> int:
    return int(await database.fetchval("pattern_storage") or 0)
