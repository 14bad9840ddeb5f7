"""Reports from instances: each project's current dependency set, rejected reports, sent alerts.

A report replaces its project's set in one transaction. The project row remembers the JetStream
sequence of the last message applied, so a redelivered (or older) message changes nothing, and
the digest of the set, so an unchanged re-report moves only "last seen".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

from centralcloud.patterns import report as reports
from centralcloud.store import db

Outcome = Literal["stored", "unchanged", "duplicate"]


async def _package_ids(connection: db.Executor, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int]:
    wanted = sorted(set(keys))
    found: dict[tuple[str, str], int] = {}
    # A package created by a concurrent report after this statement's snapshot is neither
    # inserted nor seen; the second pass reads it.
    for _ in range(2):
        missing = [key for key in wanted if key not in found]
        if not missing:
            break
        rows = await connection.fetch(
            "reported_package_ids", [key[0] for key in missing], [key[1] for key in missing]
        )
        found.update({(row["ecosystem"], row["name"]): row["id"] for row in rows})
    return found


async def save(
    database: db.Database, *, instance: str, stream_seq: int, report: reports.Report
) -> tuple[Outcome, int | None]:
    """Make `report` the project's current set; (what happened, the project's id when stored)."""
    digest = report.digest()
    if await database.fetchval("touch_unchanged_report", instance, report.project, digest, stream_seq) is not None:
        return "unchanged", None
    async with database.transaction() as tx:
        await tx.execute("upsert_instance", instance)
        current = await tx.fetchrow("lock_reported_project", instance, report.project)
        if current is not None and current["stream_seq"] >= stream_seq:
            return "duplicate", None
        if current is not None and current["digest"] == digest:
            # Another replica stored this very set between the first look and the lock.
            await tx.fetchval("save_reported_project", instance, report.project, digest, report.format, stream_seq,
                              len(report.dependencies), report.rejected, _rejects(report))
            return "unchanged", None
        ids = await _package_ids(tx, [(entry.ecosystem, entry.name) for entry in report.dependencies])
        project_id = await tx.fetchval(
            "save_reported_project", instance, report.project, digest, report.format, stream_seq,
            len(report.dependencies), report.rejected, _rejects(report),
        )
        if project_id is None:
            return "duplicate", None
        old = {row["package_id"] for row in await tx.fetch("delete_reported_dependencies", project_id)}
        deps = report.dependencies
        await tx.execute(
            "insert_reported_dependencies", project_id,
            [ids[(e.ecosystem, e.name)] for e in deps], [e.version or "" for e in deps],
            [e.requirement for e in deps], [e.kind for e in deps], [e.direct for e in deps],
        )
        new = {ids[(e.ecosystem, e.name)] for e in deps}
        changes = [(package, "added") for package in sorted(new - old)] + [(package, "dropped") for package in sorted(old - new)]
        if changes:
            await tx.execute("record_usage_events", instance, [c[0] for c in changes], [c[1] for c in changes])
        old_patterns = {(row["kind"], row["name"]) for row in await tx.fetch("delete_reported_patterns", project_id)}
        new_patterns = {(p.kind, p.name) for p in report.patterns}
        if new_patterns:
            ordered = sorted(new_patterns)
            await tx.execute("insert_reported_patterns", project_id, [p[0] for p in ordered], [p[1] for p in ordered])
        pattern_changes = [(*p, "added") for p in sorted(new_patterns - old_patterns)]
        pattern_changes += [(*p, "dropped") for p in sorted(old_patterns - new_patterns)]
        if pattern_changes:
            await tx.execute(
                "record_pattern_events", instance,
                [c[0] for c in pattern_changes], [c[1] for c in pattern_changes], [c[2] for c in pattern_changes],
            )
        return "stored", project_id


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
