"""Quality score inputs and results."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from centralcloud.store import db


async def signals(database: db.Executor, ecosystems: Sequence[str]) -> list[Any]:
    """Everything the quality score needs, one row per stored package of these ecosystems."""
    return await database.fetch("quality_signals", list(ecosystems))


async def fix_days(database: db.Executor, ecosystems: Sequence[str]) -> dict[int, list[float]]:
    """Per package id: days from each past advisory's publication to the first fixing release."""
    found: dict[int, list[float]] = defaultdict(list)
    for row in await database.fetch("advisory_fix_days", list(ecosystems)):
        found[row["package_id"]].append(float(row["days"]))
    return found


async def save(database: db.Executor, package_ids: Sequence[int], scores: Sequence[Any]) -> None:
    """Store many scores at once, in the order of `package_ids`."""
    await database.execute(
        "upsert_scores",
        list(package_ids),
        [s.score for s in scores],
        [s.popularity for s in scores],
        [s.maintenance for s in scores],
        [s.security for s in scores],
        [s.community for s in scores],
        [json.dumps(s.parts, default=str) for s in scores],
    )
