"""Alerts: a reported resolved version that an advisory affects, or that was yanked or deprecated.

Each (instance, project, purl@version, advisory id or kind) is alerted once. The alert's
Nats-Msg-Id is a hash of that key, so the alerts stream drops a second publish within its
duplicate window (a replica that crashed between publishing and recording, or two replicas
checking at once), and `sent_alerts` records what was sent for as long as the data lives.

Only advisories on record raise alerts, and nothing is ever recorded as "clear": a version
whose package no advisory source has answered for is counted as unchecked and looked at
again on the next check, never taken as safe.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from centralcloud.core import clock, errors, names
from centralcloud.facts import advisories, advisory_checks
from centralcloud.store import db
from centralcloud.store import reports as store_reports
from centralcloud.wire import messages, subjects

logger = logging.getLogger(__name__)

Publish = Callable[[str, bytes, str], Awaitable[None]]
"""(subject, payload, message id): publish durably, raising when the stream did not take it."""

Key = tuple[str, str, str, str]


@dataclasses.dataclass
class Summary:
    sent: int = 0
    """Alerts published by this check."""
    already: int = 0
    """Alerts found again that were sent before."""
    unchecked: int = 0
    """Reported versions with no advisory source answer in the freshness window (not taken as clear)."""
    failed: int = 0
    """Alerts whose publish failed; the next check tries again."""


def message_id(key: Key) -> str:
    """The deterministic Nats-Msg-Id of one alert."""
    return "alert-" + hashlib.sha256("\0".join(key).encode()).hexdigest()[:40]


class Alerts:
    def __init__(
        self, *, database: db.Database, checks: advisory_checks.AdvisoryChecks, publish: Publish | None,
        concurrency: int = 16,
    ) -> None:
        self.database = database
        self.checks = checks
        self.publish = publish
        self.concurrency = concurrency
        self._running: asyncio.Task[Summary] | None = None
        self._pending: set[asyncio.Task[Summary]] = set()

    def start_all(self) -> None:
        """Check every reported version in the background (after a sync's advisories phase):
        the sync goes on however many instances an alert reaches."""
        if self._running is not None and not self._running.done():
            return
        self._running = asyncio.ensure_future(self.check(None))
        self._running.add_done_callback(_log_failure)

    async def for_project(self, project_id: int) -> None:
        """Check one project just reported."""
        task = asyncio.ensure_future(self.check([project_id]))
        self._pending.add(task)
        try:
            await task
        finally:
            self._pending.discard(task)

    async def wait(self) -> None:
        """Wait for checks under way (tests, shutdown)."""
        tasks = {t for t in (self._running, *self._pending) if t is not None}
        if tasks:
            await asyncio.wait(tasks)

    async def close(self) -> None:
        for task in (self._running, *self._pending):
            if task is not None:
                task.cancel()
        await asyncio.gather(*(t for t in (self._running, *self._pending) if t is not None), return_exceptions=True)

    async def check(self, project_ids: list[int] | None) -> Summary:
        summary = Summary()
        if self.publish is None:
            return summary
        rows = await store_reports.alert_candidates(self.database, project_ids)
        found: dict[Key, messages.Alert] = {}
        verdicts: dict[tuple[str, str, str], list[messages.AdvisoryInfo] | None] = {}
        now = clock.utcnow()
        for row in rows:
            purl = names.to_purl(row["ecosystem"], row["name"], row["version"])
            base = dict(instance=row["instance_id"], project=row["project"], purl=purl, version=row["version"], detected_at=now)
            if row["has_advisories"]:
                package = (row["ecosystem"], row["name"], row["version"])
                if package not in verdicts:
                    verdicts[package] = await self._affecting(row)
                affecting = verdicts[package]
                if affecting is None:
                    summary.unchecked += 1
                for advisory in affecting or ():
                    found[(row["instance_id"], row["project"], purl, advisory.id)] = messages.Alert(
                        **base, kind="advisory", reason=None,
                        advisory=messages.AlertAdvisory(
                            id=advisory.id, aliases=advisory.aliases, summary=advisory.summary,
                            severity=advisory.severity, first_fixed=advisory.first_fixed,
                        ),
                    )
            if row["yanked"]:
                found[(row["instance_id"], row["project"], purl, "yanked")] = messages.Alert(
                    **base, kind="yanked", advisory=None, reason=row["yanked_reason"]
                )
            if row["deprecated"]:
                found[(row["instance_id"], row["project"], purl, "deprecated")] = messages.Alert(
                    **base, kind="deprecated", advisory=None, reason=row["deprecated_reason"]
                )
        sent = await store_reports.sent_alerts(self.database, list(found))
        summary.already = len(sent)
        gate = asyncio.Semaphore(self.concurrency)
        encoder = msgspec.json.Encoder()

        async def send(key: Key, alert: messages.Alert) -> None:
            async with gate:
                identifier = message_id(key)
                try:
                    assert self.publish is not None
                    await self.publish(f"{subjects.ALERTS.name}.{key[0]}", encoder.encode(alert), identifier)
                except Exception as err:  # a failed publish is retried by the next check
                    summary.failed += 1
                    logger.warning("alert not published: %s", err, extra={"action": "alert", "instance": key[0]})
                    return
                await store_reports.record_alert(self.database, key, message_id=identifier)
                summary.sent += 1

        await asyncio.gather(*(send(key, alert) for key, alert in found.items() if key not in sent))
        if summary.sent or summary.failed or summary.unchecked:
            logger.info(
                "alerts: %s sent, %s failed, %s versions unchecked", summary.sent, summary.failed, summary.unchecked,
                extra={"action": "alerts", **dataclasses.asdict(summary)},
            )
        return summary

    async def _affecting(self, row: Any) -> list[messages.AdvisoryInfo] | None:
        """Advisories affecting the version; None when it could not be checked."""
        try:
            found, undetermined = await advisories.for_package(
                self.database, ecosystem=row["ecosystem"], name=row["name"], version=row["version"]
            )
        except errors.BadRequest:
            return None  # a version the ecosystem's scheme cannot read
        if found:
            return found
        coverage = await self.checks.coverage(ecosystem=row["ecosystem"], checked_at=row["advisories_synced_at"])
        return None if undetermined or not coverage.known else []


def _log_failure(task: asyncio.Task[Summary]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.warning("alert check failed: %s", task.exception(), extra={"action": "alerts"})
