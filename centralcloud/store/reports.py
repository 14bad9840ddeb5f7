"""Reports from instances: each project's current dependency set, rejected reports, sent alerts.

Reports arrive in batches (one pull from the stream). An identical re-send (same raw body) is
recognised by its body digest and moves only "last seen", one row per report. The others are
applied in one transaction per batch, one `apply_report` call each (pipelined in one round
trip), which writes the project's row with its set. The project row remembers the JetStream
sequence of the last message applied, so a redelivered (or older) message changes nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from centralcloud.patterns import report as reports
from centralcloud.store import db

Outcome = Literal["stored", "unchanged", "duplicate"]


@dataclasses.dataclass(frozen=True)
class Pending:
    """A decoded report waiting to be applied."""

    instance: str
    """The instance the report came from (the subject token)."""
    stream_seq: int
    """Its JetStream stream sequence."""
    body_digest: bytes
    """Hash of the raw body and Project header: an identical re-send matches it."""
    report: reports.Report
    """The report decoded."""


async def touch_identical(database: db.Executor, items: Sequence[tuple[str, bytes, int]]) -> set[int]:
    """Of (instance, body digest, stream sequence), the sequences that re-sent their project's last
    body: those moved only "last seen"."""
    if not items:
        return set()
    rows = await database.fetch(
        "touch_identical_reports", [i[0] for i in items], [i[1] for i in items], [i[2] for i in items]
    )
    return {row["seq"] for row in rows}


class PackageIds:
    """Ids of reported packages, remembered in memory: a reported package keeps its id for good
    (reported_packages rows are never deleted), so only names not met before go to the database.
    At `limit` names the memory starts over."""

    def __init__(self, *, limit: int = 500_000) -> None:
        self.limit = limit
        self._known: dict[tuple[str, str], int] = {}

    async def resolve(
        self, database: db.Executor, keys: Iterable[tuple[str, str]]
    ) -> tuple[dict[tuple[str, str], int], list[tuple[str, str]]]:
        """Ids of the given packages, creating the missing ones; and the names this memory had not
        met before (the only ones that may be new to the database)."""
        known = self._known
        ids: dict[tuple[str, str], int] = {}
        new: list[tuple[str, str]] = []
        for key in dict.fromkeys(keys):
            found = known.get(key)
            if found is None:
                new.append(key)
            else:
                ids[key] = found
        if new:
            created = await package_ids(database, new)
            if len(known) + len(created) > self.limit:
                known.clear()
            known.update(created)
            ids.update(created)
        return ids, new


async def package_ids(database: db.Executor, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Ids of reported packages, creating the missing ones in their own short transaction (so
    concurrent batches never wait on each other's new packages)."""
    wanted = sorted(set(keys))
    found: dict[tuple[str, str], int] = {}
    # A package created by a concurrent report after this statement's snapshot is neither
    # inserted nor seen; the second pass reads it.
    for _ in range(2):
        missing = [key for key in wanted if key not in found]
        if not missing:
            break
        rows = await database.fetch(
            "reported_package_ids", [key[0] for key in missing], [key[1] for key in missing]
        )
        found.update({(row["ecosystem"], row["name"]): row["id"] for row in rows})
    return found


async def save_batch(
    database: db.Database, items: Sequence[Pending], *, ids: dict[tuple[str, str], int]
) -> list[tuple[Outcome, int | None]]:
    """Apply decoded reports in one transaction, in stream order; (what happened, the project's
    id when stored) for each, in the order given. Any failure rolls back the whole batch."""
    order = sorted(range(len(items)), key=lambda i: items[i].stream_seq)
    calls = []
    for i in order:
        item = items[i]
        report, deps = item.report, item.report.dependencies
        calls.append((
            item.instance, report.project, report.digest(), item.body_digest, report.format,
            item.stream_seq, len(deps), report.rejected, _rejects(report),
            db.number_array([ids[(e.ecosystem, e.name)] for e in deps]),
            db.text_array([e.version or "" for e in deps]), db.text_array([e.requirement for e in deps]),
            db.text_array([e.kind for e in deps]), db.bool_array([e.direct for e in deps]),
            [p.kind for p in report.patterns], [p.name for p in report.patterns],
        ))
    async with database.transaction() as tx:
        await tx.execute("touch_instances", sorted({item.instance for item in items}))
        # One round trip for the batch: the calls run in stream order, one result row each.
        rows = await tx.fetchmany("apply_report", calls)
    applied = {i: (row["outcome"], row["project_id"]) for i, row in zip(order, rows, strict=True)}
    return [applied[i] for i in range(len(items))]


def _rejects(report: reports.Report) -> list[dict[str, Any]]:
    return [{"index": r.index, "reason": r.reason, "detail": r.detail, "excerpt": r.excerpt} for r in report.rejects]


async def reject(
    database: db.Executor, *, stream_seq: int, message_id: str | None, instance: str, project: str | None,
    reason: str, detail: str,
) -> None:
    """Record a report that could not be used (once per stream message)."""
    await database.execute("record_rejected_report", stream_seq, message_id, instance[:80], project, reason, detail[:1000])


async def unknown_packages(database: db.Executor, keys: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Of the given tracked packages, those not stored yet."""
    keys = list(keys)
    if not keys:
        return []
    rows = await database.fetch("unknown_reported_packages", [k[0] for k in keys], [k[1] for k in keys])
    return [(row["ecosystem"], row["name"]) for row in rows]


async def instance_projects(database: db.Executor, instance: str) -> list[Any]:
    return await database.fetch("instance_projects", instance)


async def instance_rejected(database: db.Executor, instance: str, *, limit: int) -> list[Any]:
    return await database.fetch("instance_rejected_reports", instance, limit)


async def alert_candidates(database: db.Executor, project_ids: list[int] | None) -> list[Any]:
    """Reported versions with an advisory, yank or deprecation on record (all projects when None)."""
    return await database.fetch("alert_candidates", project_ids)


async def sent_alerts(database: db.Executor, keys: Sequence[tuple[str, str, str, str]]) -> set[tuple[str, str, str, str]]:
    """Which of (instance, project, purl, key) were alerted already."""
    if not keys:
        return set()
    rows = await database.fetch("sent_alert_keys", *([k[i] for k in keys] for i in range(4)))
    return {(row["instance_id"], row["project"], row["purl"], row["key"]) for row in rows}


async def record_alert(database: db.Executor, key: tuple[str, str, str, str], *, message_id: str) -> None:
    await database.execute("record_sent_alert", *key, message_id)
