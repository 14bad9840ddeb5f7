"""What the team uses: the aggregates behind usage, pairs, popular packages and learned
patterns, filled by one recompute and read one indexed row (or a few) at a time."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import msgspec
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
                    count_usage: Callable[..., Any], count_pairs: Callable[..., Any],
                    npmi: Callable[..., np.ndarray]) -> int | None:
    """Recompute usage (with the trend since `since`), pairs and learned patterns in one
    transaction, noting the instances that took up or dropped a package since the last recompute
    and forgetting adds and drops older than `since`; returns the transactions, or None when
    another replica is recomputing right now.

    Every project's dependency arrays are read once; `count_usage` (patterns.usage_counts.count)
    counts the usage and the direct items from them, `count_pairs` (patterns.pair_counts.count)
    the pairs, and `npmi` scores them. Usage goes back as array literals; the pairs are copied in
    binary into a table of their own, indexed, and swapped in for the old ones at the end."""
    async with database.transaction() as tx:
        if not await tx.fetchval("try_patterns_lock", PATTERNS_LOCK):
            return None
        await tx.execute("prune_pattern_events", since)
        rows = await tx.fetch("usage_items")
        instances = sorted({row["instance_id"] for row in rows})
        instance_code = {name: code for code, name in enumerate(instances)}
        version_code: dict[str, int] = {"": -1}
        usage = count_usage(
            sizes=np.fromiter((row["size"] for row in rows), dtype=np.int64, count=len(rows)),
            instance=np.fromiter((instance_code[row["instance_id"]] for row in rows), dtype=np.int64, count=len(rows)),
            seen=np.fromiter((row["seen"] for row in rows), dtype=np.float64, count=len(rows)),
            packages=db.int8_array_values(row["packages"] for row in rows),
            directs=db.bool_array_values(row["directs"] for row in rows),
            # Versions as small integers, numbered as first met ('' is none: -1).
            versions=np.fromiter(
                (version_code.setdefault(v, len(version_code) - 1) for row in rows for v in row["versions"]),
                dtype=np.int64,
            ),
            min_instances=min_instances,
        )
        del rows
        await _note_changes(tx, usage.in_use, instances)
        await tx.execute("clear_pattern_aggregates")
        await tx.execute(
            "insert_package_usage", db.number_array(usage.package.tolist()), db.number_array(usage.projects.tolist()),
            db.number_array(usage.instances.tolist()), db.number_array(usage.direct_projects.tolist()),
            db.number_array(usage.direct_instances.tolist()), db.number_array(usage.last_seen.tolist()),
            db.text_array(_versions_shown(usage, [v for v in version_code if v])), since,
        )
        transactions = usage.transactions
        await tx.execute("save_pattern_state", transactions)
        instance_items, project_items, package_items = usage.pair_items
        counted = count_pairs(instances=instance_items, projects=project_items, packages=package_items,
                              min_instances=min_instances)
        direct = usage.direct_projects
        scores = npmi(together=counted.projects, a=direct[np.searchsorted(usage.package, counted.a)],
                      b=direct[np.searchsorted(usage.package, counted.b)], total=max(transactions, 1))
        await tx.execute("recompute_learned_patterns", min_instances, ASSOCIATED_PER_PATTERN)
        await tx.copy_in("package_pairs_next", columns=("a", "b", "projects", "instances", "npmi"), data=db.binary_rows((
            counted.a.astype(np.int64), counted.b.astype(np.int64), counted.projects.astype(np.int32),
            counted.instances.astype(np.int32), scores.astype(np.float64),
        )))
        await tx.execute("index_next_pairs")
        await tx.execute("swap_pairs")
    return transactions


def _versions_shown(usage: Any, names: list[str]) -> list[str | None]:
    """Per package of `usage`, the JSON list of its versions shown (most instances first), or None."""
    shown: dict[int, list[tuple[int, str]]] = {}
    for package, code, instances in zip(*(column.tolist() for column in usage.versions)):
        shown.setdefault(package, []).append((-instances, names[code]))
    encode = msgspec.json.encode
    return [
        encode([{"version": name, "instances": -count} for count, name in sorted(shown[package])]).decode()
        if package in shown else None
        for package in usage.package.tolist()
    ]


async def _note_changes(tx: db.Executor, in_use: tuple[np.ndarray, np.ndarray], instances: list[str]) -> None:
    """Compare each instance's packages with those of the last recompute: note what came and went
    in usage_events (for the trend), and remember the sets of now."""
    codes, packages = in_use
    bounds = np.searchsorted(codes, np.arange(len(instances) + 1))
    before = {row["instance_id"]: db.int8_array_values([row["packages"]])
              for row in await tx.fetch("instance_package_sets")}
    events: list[tuple[int, str, str]] = []
    changed: list[tuple[str, str]] = []
    for code, name in enumerate(instances):
        now = packages[bounds[code]:bounds[code + 1]]
        old = before.pop(name, np.zeros(0, dtype=np.int64))
        if np.array_equal(now, old):
            continue
        events += [(package, name, "added") for package in np.setdiff1d(now, old, assume_unique=True).tolist()]
        events += [(package, name, "dropped") for package in np.setdiff1d(old, now, assume_unique=True).tolist()]
        changed.append((name, db.number_array(now.tolist())))
    for name, old in before.items():  # an instance whose projects are all gone
        events += [(package, name, "dropped") for package in old.tolist()]
    if events:
        await tx.execute("note_usage_events", db.number_array([e[0] for e in events]),
                         db.text_array([e[1] for e in events]), db.text_array([e[2] for e in events]))
    if changed:
        await tx.executemany("save_instance_packages", changed)
    if before:
        await tx.execute("forget_instance_packages", sorted(before))


async def storage_bytes(database: db.Executor) -> int:
    return int(await database.fetchval("pattern_storage") or 0)
