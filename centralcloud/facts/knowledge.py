"""Pattern knowledge: a report taken in, and the answers about what the team uses.

`ingest_batch` takes the reports of one pull from the stream (any of the four formats). An
identical re-send is recognised by the hash of its raw body and only moves "last seen"; the
rest are decoded and applied in one transaction. Then, without holding up the next batch, it
notes that aggregates need recomputing, queues unknown packages for a polite background fetch,
and asks `on_stored` (the alerts) to look at each changed project.

The answers read the aggregates the last recompute filled, so they lag reports by at most the
recompute interval. They are cached like facts under one group, which a recompute drops on
every replica (through `broadcast`, on the cache invalidation subject).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal

import msgspec

from centralcloud.core import clock, ecosystems, errors, names
from centralcloud.facts import cache
from centralcloud.facts import pattern_replies as replies
from centralcloud.patterns import formats, metrics, pair_counts, usage_counts
from centralcloud.patterns import report as reports
from centralcloud.store import db
from centralcloud.store import patterns as store_patterns
from centralcloud.store import reports as store_reports
from centralcloud.wire import messages

logger = logging.getLogger(__name__)

Ingested = Literal["stored", "unchanged", "duplicate", "rejected"]
TREND_DAYS = 30


@dataclasses.dataclass(frozen=True)
class Incoming:
    """One report as it came off the stream."""

    token: str
    """The subject token: the instance, trusted over anything in the body."""
    body: bytes
    """The raw report."""
    project: str | None
    """The Project header, which wins over the document's project."""
    stream_seq: int
    """The message's stream sequence (idempotency key)."""
    message_id: str | None
    """The Nats-Msg-Id header, kept with a rejection."""

    def body_digest(self) -> bytes:
        return hashlib.sha256(msgspec.json.encode([self.project]) + b"\0" + self.body).digest()


@dataclasses.dataclass(frozen=True)
class Settings:
    min_instances: int = metrics.DEFAULT_MIN_INSTANCES
    """A pair, pattern or version count is shown only when this many instances share it."""
    max_bytes: int = reports.MAX_BYTES
    """Largest report body read."""
    max_dependencies: int = reports.MAX_DEPENDENCIES
    """Most dependency entries in one report."""


class Knowledge:
    def __init__(
        self,
        *,
        database: db.Database,
        read_cache: cache.ReadCache,
        settings: Settings = Settings(),
        fetch_unknown: Callable[[list[names.PackageRef]], None] | None = None,
        on_stored: Callable[[int], Awaitable[None]] | None = None,
        broadcast: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self.database = database
        self.cache = read_cache
        self.settings = settings
        self.fetch_unknown = fetch_unknown
        """Queues packages nobody has stored yet for a background fetch."""
        self.on_stored = on_stored
        """Called with a project id after its set changed (alerts look at it)."""
        self.broadcast = broadcast
        """Tells every replica to drop a cache group (the aggregates moved)."""
        self.dirty = asyncio.Event()
        """Set when a report changed a set: the aggregates are behind."""
        self._encoder = msgspec.json.Encoder()
        self._followers: set[asyncio.Task[None]] = set()
        self._package_ids = store_reports.PackageIds()

    async def ingest(
        self, *, token: str, body: bytes, project: str | None, stream_seq: int, message_id: str | None
    ) -> Ingested:
        """Take one report in; a report that cannot be used is recorded as rejected, not raised."""
        [outcome] = await self.ingest_batch([
            Incoming(token=token, body=body, project=project, stream_seq=stream_seq, message_id=message_id)
        ])
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def ingest_batch(self, batch: Sequence[Incoming]) -> list[Ingested | BaseException]:
        """Take reports in; for each, what happened or the error that kept it from being stored
        (those alone are to be delivered again). Reports that cannot be used are rejected, not raised."""
        outcomes: list[Ingested | BaseException | None] = [None] * len(batch)
        valid: list[int] = []
        for i, item in enumerate(batch):
            try:
                reports.check_instance(item.token)
                valid.append(i)
            except reports.ReportRejected as err:
                outcomes[i] = await self._rejected(item, err)
        digests = {i: batch[i].body_digest() for i in valid}
        touched = await store_reports.touch_identical(
            self.database, [(batch[i].token, digests[i], batch[i].stream_seq) for i in valid]
        )
        pending: dict[int, store_reports.Pending] = {}
        for i in valid:
            item = batch[i]
            if item.stream_seq in touched:
                outcomes[i] = "unchanged"
                continue
            try:
                decoded = formats.decode(
                    item.body, project=item.project, max_bytes=self.settings.max_bytes,
                    max_dependencies=self.settings.max_dependencies,
                )
            except reports.ReportRejected as err:
                outcomes[i] = await self._rejected(item, err)
                continue
            pending[i] = store_reports.Pending(
                instance=item.token, stream_seq=item.stream_seq, body_digest=digests[i], report=decoded
            )
        if pending:
            await self._apply(pending, outcomes)
        return [outcome if outcome is not None else RuntimeError("not processed") for outcome in outcomes]

    async def _apply(self, pending: dict[int, store_reports.Pending], outcomes: list[Any]) -> None:
        ids, first_met = await self._package_ids.resolve(
            self.database, [(e.ecosystem, e.name) for item in pending.values() for e in item.report.dependencies]
        )
        try:
            results = dict(zip(pending, await store_reports.save_batch(self.database, list(pending.values()), ids=ids)))
        except errors.CentralCloudError:
            # One report (or a deadlock with another replica) sank the batch: apply them one by
            # one, so only a report that fails alone is delivered again.
            results = {}
            for i, item in pending.items():
                try:
                    [results[i]] = await store_reports.save_batch(self.database, [item], ids=ids)
                except errors.CentralCloudError as err:
                    outcomes[i] = err
        for i, (outcome, _) in results.items():
            outcomes[i] = outcome
        stored = [(pending[i], project_id) for i, (outcome, project_id) in results.items() if outcome == "stored"]
        if not stored:
            return
        self.dirty.set()
        # A package met before was looked at when it was first reported (and the sync keeps every
        # reported package fresh), so only names first met now can be unknown.
        tracked = sorted({key for key in first_met if key[0] in ecosystems.KEYS})
        if self.fetch_unknown is not None and tracked:
            unknown = await store_reports.unknown_packages(self.database, tracked)
            if unknown:
                self.fetch_unknown([names.PackageRef(ecosystem, name) for ecosystem, name in unknown])
        if self.on_stored is not None:
            for _, project_id in stored:
                if project_id is not None:
                    self._follow(self.on_stored(project_id))

    async def _rejected(self, item: Incoming, err: reports.ReportRejected) -> Ingested:
        await self.reject(
            stream_seq=item.stream_seq, message_id=item.message_id, instance=item.token, project=item.project,
            reason=err.reason, detail=err.message,
        )
        return "rejected"

    async def reject(
        self, *, stream_seq: int, message_id: str | None, instance: str, project: str | None, reason: str, detail: str
    ) -> None:
        logger.info(
            "report rejected: %s", detail,
            extra={"action": "report_rejected", "instance": instance[:80], "reason": reason, "seq": stream_seq},
        )
        await store_reports.reject(
            self.database, stream_seq=stream_seq, message_id=message_id, instance=instance, project=project,
            reason=reason, detail=detail,
        )

    def _follow(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._followers.add(task)
        task.add_done_callback(self._settled)

    def _settled(self, task: asyncio.Task[None]) -> None:
        self._followers.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.warning("after a report: %s", task.exception(), extra={"action": "report_follow"})

    async def close(self) -> None:
        for task in list(self._followers):
            task.cancel()
        if self._followers:
            await asyncio.wait(set(self._followers), timeout=5)

    async def recompute(self) -> int | None:
        """Recompute pairs, usage counts and learned patterns now; returns the transactions
        (None when another replica was recomputing; its result serves)."""
        self.dirty.clear()
        try:
            transactions = await store_patterns.recompute(
                self.database, min_instances=self.settings.min_instances, since=self._since(),
                count_usage=usage_counts.count, count_pairs=pair_counts.count, npmi=pair_counts.npmi,
            )
        except BaseException:
            self.dirty.set()
            raise
        await self.cache.invalidate_group(cache.PATTERNS)
        if self.broadcast is not None:
            try:
                await self.broadcast(cache.PATTERNS)
            except Exception as err:  # this replica dropped its own; the others' TTL bounds theirs
                logger.warning("cache invalidation not sent: %s", err, extra={"action": "patterns_recompute"})
        return transactions

    async def recompute_when_dirty(self, *, interval: float, stop: asyncio.Event) -> None:
        """Recompute at most every `interval` seconds while reports keep changing sets."""
        while not stop.is_set():
            waiter = asyncio.ensure_future(self.dirty.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            stopper.cancel()
            if stop.is_set():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)  # let a burst of reports land first
            try:
                await self.recompute()
            except errors.CentralCloudError as err:
                logger.warning("pattern recompute failed: %s", err.message, extra={"action": "patterns_recompute"})

    # Answers -----------------------------------------------------------------------------------

    async def _cached(self, key: str, build: Callable[[], Awaitable[msgspec.Struct]]) -> bytes:
        full = cache.PATTERNS + hashlib.sha256(key.encode()).hexdigest()
        found = await self.cache.get(full)
        if found is not None:
            return found
        encoded = self._encoder.encode(await build())
        await self.cache.set(full, encoded)
        return encoded

    async def usage(self, package: tuple[str, str]) -> bytes:
        return await self._cached(f"usage\0{package[0]}\0{package[1]}", lambda: replies.usage(self.database, package))

    async def pairs(self, package: tuple[str, str], *, limit: int) -> bytes:
        return await self._cached(f"pairs\0{package[0]}\0{package[1]}\0{limit}", lambda: replies.pairs(
            self.database, package, limit=limit, min_instances=self.settings.min_instances))

    async def popular(self, *, kind: str, ecosystem: str | None, limit: int) -> bytes:
        return await self._cached(
            f"popular\0{kind}\0{ecosystem}\0{limit}", lambda: replies.popular(
                self.database, min_instances=self.settings.min_instances, since=self._since(), kind=kind,
                ecosystem=ecosystem, limit=limit,
            )
        )

    async def instance(self, instance: str, *, limit: int) -> messages.InstanceReply:
        """An instance's own view: never cached, so a report just sent shows at once."""
        projects = await store_reports.instance_projects(self.database, instance)
        rejected = await store_reports.instance_rejected(self.database, instance, limit=limit)
        return messages.InstanceReply(
            instance=instance,
            projects=[
                messages.InstanceProject(
                    project=row["project"], format=row["format"], dependencies=row["dependencies"],
                    first_reported_at=row["first_reported_at"], last_reported_at=row["last_reported_at"],
                    changed_at=row["changed_at"], rejected_entries=row["rejected"],
                    rejects=[messages.EntryReject(**item) for item in row["rejects"]],
                )
                for row in projects
            ],
            rejected=[messages.RejectedReport(**dict(row)) for row in rejected],
        )

    def _since(self) -> dt.datetime:
        return clock.utcnow() - dt.timedelta(days=TREND_DAYS)


def package(*, ecosystem_name: str | None, name: str | None, purl: str | None) -> tuple[str, str]:
    """(purl type, name) of a package asked about: any purl type by purl (other types are
    counted too), the tracked ecosystems by ecosystem and name."""
    if purl is not None and ecosystem_name is None and name is None:
        parsed = reports.parse_purl(purl)
        if not isinstance(parsed, tuple):
            raise errors.BadRequest(f"{purl!r} is not a usable package URL: {parsed.detail}", purl=purl)
        return parsed[0], parsed[1]
    ref = names.ref(ecosystem_name=ecosystem_name, name=name, purl=purl)
    return ref.ecosystem, ref.name
