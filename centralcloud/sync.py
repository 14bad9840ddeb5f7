"""PackageSyncJob: the scheduled smart sync.

It refreshes exactly the packages instances use or asked about (and their runtime
dependencies to a configured depth), never a whole registry; then advisories,
repository facts, quality scores, and clean-up of what nobody uses any more.

One run at a time across all replicas: a run holds a PostgreSQL advisory lock on a
connection of its own for as long as it runs, and a scheduled run re-reads the last
scheduled tick under that lock, so a tick runs once however many replicas see it.
A run killed midway is resumed under its own id by the next process that takes the
lock; packages already synced since the run started are not fetched again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import msgspec

from centralcloud import advisories, catalog, db, downloads, errors, names, quality, schedule

logger = logging.getLogger(__name__)

SYNC_LOCK = 0x43_43_53_59  # "CCSY": the advisory lock key of sync runs
INVALIDATE_SUBJECT = "centralcloud.cache.invalidate"
DEFAULT_CONCURRENCY = {"npm": 16, "pypi": 16, "cargo": 2, "hex": 4}


async def _unlock(connection: db.Executor) -> None:
    with contextlib.suppress(errors.DatabaseError):
        await connection.fetchval("unlock_sync", SYNC_LOCK)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclasses.dataclass
class SourceCounts:
    checked: int = 0
    unchanged: int = 0
    updated: int = 0
    failed: int = 0


@dataclasses.dataclass
class Progress:
    total: int = 0
    counts: dict[str, SourceCounts] = dataclasses.field(default_factory=lambda: defaultdict(SourceCounts))
    phase: str = "syncing"
    run_id: int | None = None
    succeeded: list[names.PackageRef] = dataclasses.field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {source: dataclasses.asdict(counts) for source, counts in sorted(self.counts.items())}

    @classmethod
    def from_json(cls, total: int, value: dict[str, Any] | None) -> Progress:
        progress = cls(total=total)
        for source, counts in (value or {}).items():
            if isinstance(counts, dict):
                progress.counts[source] = SourceCounts(**{k: int(v) for k, v in counts.items() if k in SourceCounts.__dataclass_fields__})
        return progress


@dataclasses.dataclass
class Options:
    """How the job runs."""

    depth: int = 2
    """Levels of runtime dependencies synced below what instances use or asked for."""
    retention: dt.timedelta = dt.timedelta(days=90)
    """Packages nobody requested or reported for this long are removed."""
    concurrency: dict[str, int] = dataclasses.field(default_factory=lambda: dict(DEFAULT_CONCURRENCY))
    """Packages fetched at once, per ecosystem (politeness limits inside the adapters apply as well)."""
    repository_max_age: dt.timedelta = dt.timedelta(days=1)
    """Repository facts older than this are refreshed during a run."""
    progress_interval: float = 0.5
    """Seconds between progress writes while a run proceeds."""
    max_consecutive_failures: int = 3
    """A side source (GitHub) failing this many times in a row is left alone until the next run."""


class SyncJob:
    def __init__(
        self,
        *,
        database: db.Database,
        the_catalog: catalog.Catalog,
        options: Options,
        publish: Callable[[str, bytes], Awaitable[None]] | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        download_sources: downloads.Sources | None = None,
    ) -> None:
        self.database = database
        self.downloads = download_sources
        self.catalog = the_catalog
        self.options = options
        self.publish = publish
        self.clock = clock
        self._task: asyncio.Task[None] | None = None
        self._run_id: int | None = None

    @property
    def running(self) -> int | None:
        return self._run_id if self._task is not None and not self._task.done() else None

    async def start(
        self,
        *,
        trigger: str,
        packages: list[names.PackageRef] | None = None,
        scheduled_for: dt.datetime | None = None,
        scheduler: schedule.Schedule | None = None,
    ) -> tuple[int | None, bool]:
        """Start a run unless one is under way anywhere; returns (run id, started now)."""
        if self.running is not None:
            return self.running, False
        stack = contextlib.AsyncExitStack()
        connection = await stack.enter_async_context(self.database.connection())
        try:
            if not await connection.fetchval("try_sync_lock", SYNC_LOCK):
                await stack.aclose()
                stale = await self.database.fetchrow("stale_running_run")
                return (stale["id"] if stale else None), False
            stack.push_async_callback(_unlock, connection)
            if trigger == "schedule" and scheduler is not None and scheduled_for is not None:
                # Another replica may have run this tick between our look and the lock.
                last = await self.database.fetchval("last_scheduled_tick")
                if last is not None and last >= scheduled_for:
                    await stack.aclose()
                    return None, False
            stale = await self.database.fetchrow("stale_running_run")
            requested = [[ref.ecosystem, ref.name] for ref in packages] if packages else None
            if stale is not None and packages is None:
                # Nobody holds the lock, so that run's process is gone: finish its work under its id.
                run_id, started_at = stale["id"], stale["started_at"]
                progress = Progress.from_json(stale["total"], stale["counts"])
                # What is left is selected again below; count only what is already done.
                progress.total = sum(
                    c.checked for source, c in progress.counts.items() if source not in ("github", *downloads.SOURCES)
                )
                if stale["requested"]:
                    packages = [names.PackageRef(e, n) for e, n in stale["requested"]]
                logger.info("resuming sync run %s", run_id, extra={"action": "sync_resume", "run": run_id})
            else:
                row = await self.database.fetchrow("create_sync_run", trigger, scheduled_for, requested)
                run_id, started_at, progress = row["id"], row["started_at"], Progress()
            await self.database.execute("interrupt_other_runs", run_id)
        except BaseException:
            await stack.aclose()
            raise
        self._run_id = run_id
        self._task = asyncio.create_task(self._execute(run_id, started_at, packages, progress, stack))
        return run_id, True

    async def wait(self) -> None:
        if self._task is not None:
            await asyncio.shield(self._task)

    async def close(self) -> None:
        """Stop a run in progress; it stays 'running' in the database and is resumed later."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _execute(
        self,
        run_id: int,
        started_at: dt.datetime,
        packages: list[names.PackageRef] | None,
        progress: Progress,
        stack: contextlib.AsyncExitStack,
    ) -> None:
        async with stack:
            progress.run_id = run_id
            reporter = asyncio.create_task(self._report(run_id, progress))
            state, error = "succeeded", None
            try:
                if packages:
                    await self._sync(run_id, packages, progress)
                else:
                    seen: set[tuple[str, str]] = set()
                    for _ in range(self.options.depth + 1):
                        rows = await self.database.fetch(
                            "sync_due", self.options.depth, started_at, self.clock() - self.options.retention
                        )
                        due = [names.PackageRef(r["ecosystem"], r["name"]) for r in rows if (r["ecosystem"], r["name"]) not in seen]
                        if not due:
                            break
                        seen.update((ref.ecosystem, ref.name) for ref in due)
                        await self._sync(run_id, due, progress)
                progress.phase = "advisories"
                await self._advisories(progress.succeeded)
                progress.phase = "repositories"
                await self._repositories(progress.succeeded, progress)
                if self.downloads is not None:
                    progress.phase = "downloads"
                    report = await downloads.run(
                        self.database, sources=self.downloads, refs=progress.succeeded, now=self.clock(), run_id=run_id
                    )
                    progress.counts.update({name: SourceCounts(**c) for name, c in report.counts.items()})
                progress.phase = "scores"
                await self.compute_scores()
                if not packages:
                    progress.phase = "cleanup"
                    await self.cleanup()
            except asyncio.CancelledError:
                reporter.cancel()
                await self._write_progress(run_id, progress)
                raise
            except Exception as err:  # a run must end with a state, whatever happened
                logger.exception("sync run %s failed", run_id, extra={"action": "sync", "run": run_id})
                state, error = "failed", f"{type(err).__name__}: {err}"
            reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reporter
            await self.database.execute("finish_sync_run", run_id, state, progress.total, progress.as_json(), error)
            # Scores move for every package after a run, so every cached answer is stale.
            await self.catalog.cache.clear()
            await self._broadcast_clear()
            logger.info(
                "sync run %s %s: %s", run_id, state, progress.as_json(),
                extra={"action": "sync", "run": run_id, "state": state},
            )

    async def _report(self, run_id: int, progress: Progress) -> None:
        while True:
            await asyncio.sleep(self.options.progress_interval)
            await self._write_progress(run_id, progress)

    async def _write_progress(self, run_id: int, progress: Progress) -> None:
        with contextlib.suppress(errors.DatabaseError):
            await self.database.execute(
                "update_sync_progress", run_id, progress.total, progress.as_json(), progress.phase
            )

    async def _sync(self, run_id: int, refs: list[names.PackageRef], progress: Progress) -> None:
        progress.total += len(refs)
        gates = {eco: asyncio.Semaphore(n) for eco, n in self.options.concurrency.items()}
        known: dict[tuple[str, str], tuple[str | None, str | None]] = {}
        for start in range(0, len(refs), 5000):
            chunk = refs[start : start + 5000]
            for row in await self.database.fetch(
                "validators_many", [r.ecosystem for r in chunk], [r.name for r in chunk]
            ):
                known[(row["ecosystem"], row["name"])] = (row["etag"], row["last_modified"])
        unchanged: list[names.PackageRef] = []

        async def flush() -> None:
            batch, unchanged[:] = list(unchanged), []
            if batch:
                await self.database.execute(
                    "touch_packages", [r.ecosystem for r in batch], [r.name for r in batch]
                )

        async def one(ref: names.PackageRef) -> None:
            gate = gates.setdefault(ref.ecosystem, asyncio.Semaphore(4))
            counts = progress.counts[ref.ecosystem]
            async with gate:
                try:
                    outcome = await self.catalog.refresh(
                        ref, conditional=True, validators=known.get((ref.ecosystem, ref.name), (None, None)),
                        touch=False,
                    )
                except errors.CentralCloudError as err:
                    await self._failed(run_id, ref, str(err.details.get("source", ref.ecosystem)), err.message, counts)
                    return
                except Exception as err:  # isolation: one package never fails the run
                    logger.exception("sync of %s/%s crashed", ref.ecosystem, ref.name, extra={"action": "sync"})
                    await self._failed(run_id, ref, ref.ecosystem, f"internal error: {type(err).__name__}: {err}", counts)
                    return
            counts.checked += 1
            if outcome == "updated":
                counts.updated += 1
            else:
                counts.unchanged += 1
                unchanged.append(ref)
                if len(unchanged) >= 500:
                    await flush()
            progress.succeeded.append(ref)

        try:
            await asyncio.gather(*(one(ref) for ref in refs))
        finally:
            # Also when cancelled: what was found unchanged is not checked again on resume.
            await asyncio.shield(flush())

    async def _note(self, progress: Progress, source: str, reason: str) -> None:
        """A failure of a side source, kept with the run (as a failure row without a package)."""
        if progress.run_id is not None:
            with contextlib.suppress(errors.DatabaseError):
                await self.database.execute("record_sync_failure", progress.run_id, "-", "-", source, reason)

    async def _failed(self, run_id: int, ref: names.PackageRef, source: str, reason: str, counts: SourceCounts) -> None:
        counts.checked += 1
        counts.failed += 1
        logger.warning(
            "sync of %s/%s failed: %s", ref.ecosystem, ref.name, reason,
            extra={"action": "sync", "ecosystem": ref.ecosystem, "package": ref.name, "source": source},
        )
        with contextlib.suppress(errors.DatabaseError):
            await self.database.execute("record_sync_failure", run_id, ref.ecosystem, ref.name, source, reason)
            await self.database.execute("mark_sync_error", ref.ecosystem, ref.name, reason)

    async def _advisories(self, refs: list[names.PackageRef]) -> None:
        """OSV batch query for the synced packages, then fetch only advisories that changed;
        then the npm registry's own advisories for npm packages, a hundred packages a request."""
        npm_names = [ref.name for ref in refs if ref.ecosystem == "npm"]
        for start in range(0, len(npm_names), 100):
            try:
                await self.catalog.refresh_npm_audit(npm_names[start : start + 100])
            except errors.CentralCloudError as err:
                logger.warning("npm advisories skipped: %s", err.message, extra={"action": "sync_advisories", "source": "npm-audit"})
                break
        osv = self.catalog.osv
        if osv is None or not refs:
            return
        try:
            batches = await osv.query_batch([(ref.ecosystem, ref.name) for ref in refs])
        except errors.CentralCloudError as err:
            logger.warning("advisory refresh skipped: %s", err.message, extra={"action": "sync_advisories", "source": "osv"})
            return
        wanted: dict[str, dt.datetime | None] = {}
        for hits in batches:
            for advisory_id, modified in hits:
                wanted[advisory_id] = modified
        stored: dict[str, dt.datetime | None] = {}
        if wanted:
            for row in await self.database.fetch("advisory_modified", list(wanted)):
                for key in (row["id"], row["alias"]):
                    if key:
                        stored[key] = row["modified_at"]
        changed = [
            advisory_id for advisory_id, modified in wanted.items()
            if advisory_id not in stored or modified is None or stored[advisory_id] is None or modified > stored[advisory_id]
        ]
        gate = asyncio.Semaphore(8)

        async def fetch(advisory_id: str) -> None:
            async with gate:
                try:
                    await advisories.save(self.database, await osv.get(advisory_id))
                except errors.CentralCloudError as err:
                    logger.warning("advisory %s not refreshed: %s", advisory_id, err.message,
                                   extra={"action": "sync_advisories", "source": "osv"})

        await asyncio.gather(*(fetch(advisory_id) for advisory_id in changed))
        # No cache invalidation here: the run drops every cached answer when it ends.
        await self.database.execute(
            "mark_many_advisories_synced", [r.ecosystem for r in refs], [r.name for r in refs]
        )

    async def _repositories(self, refs: list[names.PackageRef], progress: Progress) -> None:
        if self.catalog.github is None or not refs:
            return
        cutoff = self.clock() - self.options.repository_max_age
        rows = await self.database.fetch(
            "stale_repositories", [r.ecosystem for r in refs], [r.name for r in refs], cutoff
        )
        failures = 0
        counts = progress.counts["github"]
        for row in rows:
            # Sequential on purpose: GitHub's budget is small and shared.
            outcome = await self.catalog.refresh_repository(row["repository_url"])
            if outcome is None:
                continue  # not a GitHub repository
            counts.checked += 1
            if outcome == "failed":
                counts.failed += 1
            elif outcome == "updated":
                counts.updated += 1
            else:
                counts.unchanged += 1
            failures = failures + 1 if outcome == "failed" else 0
            if failures >= self.options.max_consecutive_failures:
                github = self.catalog.github
                budget = (
                    f"; budget {github.budget_remaining} left, resets {github.budget_reset:%Y-%m-%d %H:%M} UTC"
                    if github.budget_remaining is not None and github.budget_reset is not None else ""
                )
                reason = f"GitHub failed {failures} times in a row{budget}; the rest wait for the next run"
                logger.warning(reason, extra={"action": "sync_repositories", "source": "github"})
                await self._note(progress, "github", reason)
                return

    async def compute_scores(self, ecosystems: Iterable[str] = ("npm", "pypi", "cargo", "hex")) -> int:
        ecosystems = list(ecosystems)
        rows = await self.database.fetch("quality_signals", ecosystems)
        if not rows:
            return 0
        latest_advisories: dict[int, tuple[float | None, ...]] = {}
        fix_days: dict[int, list[float]] = defaultdict(list)
        for row in await self.database.fetch("advisory_fix_days", ecosystems):
            fix_days[row["package_id"]].append(float(row["days"]))
        for row in rows:
            latest = row["latest_version"]
            if latest and row["has_advisories"]:
                try:
                    found, _ = await advisories.for_package(
                        self.database, ecosystem=row["ecosystem"], name=row["name"], version=latest
                    )
                except errors.BadRequest:
                    found = []
                latest_advisories[row["id"]] = tuple(a.score for a in found)
        signals = [
            quality.Signals(
                ecosystem=row["ecosystem"],
                name=row["name"],
                downloads=row["downloads"],
                recent_downloads=row["recent_downloads"],
                stars=row["stars"],
                forks=row["forks"],
                open_issues=row["open_issues"],
                dependents=row["dependents"],
                instances=row["instances"],
                releases=tuple(row["releases"] or ()),
                latest_release_at=(row["releases"] or [None])[-1],
                archived=row["archived"],
                deprecated=row["deprecated"],
                advisories_latest=latest_advisories.get(row["id"], ()),
                fix_days=tuple(fix_days.get(row["id"], ())),
                has_repository=row["has_repository"],
                has_license=row["has_license"],
                has_documentation=row["has_documentation"],
            )
            for row in rows
        ]
        scores = quality.compute(signals, now=self.clock())  # in the order of `signals`, so of `rows`
        await self.database.execute(
            "upsert_scores",
            [row["id"] for row in rows],
            [s.score for s in scores],
            [s.popularity for s in scores],
            [s.maintenance for s in scores],
            [s.security for s in scores],
            [s.community for s in scores],
            [json.dumps(s.parts, default=str) for s in scores],
        )
        return len(scores)

    async def cleanup(self) -> dict[str, int]:
        cutoff = self.clock() - self.options.retention
        await self.database.execute("forget_stale_requests", cutoff)
        removed = await self.database.fetch("cleanup_packages", cutoff, self.options.depth)
        gone_advisories = await self.database.fetch("cleanup_advisories", cutoff)
        gone_repositories = await self.database.fetch("cleanup_repositories")
        for row in removed:
            await self.catalog.cache.invalidate_package(row["ecosystem"], row["name"])
        if removed:
            logger.info("removed %d unused packages", len(removed), extra={"action": "cleanup"})
        return {"packages": len(removed), "advisories": len(gone_advisories), "repositories": len(gone_repositories)}

    async def _broadcast_clear(self) -> None:
        """Tell every replica to drop its cached answers."""
        if self.publish is None:
            return
        with contextlib.suppress(Exception):
            await self.publish(INVALIDATE_SUBJECT, msgspec.json.encode({"all": True}))

    async def scheduler(self, plan: schedule.Schedule, stop: asyncio.Event) -> None:
        """The cron loop: resume an interrupted run, then start each due tick once."""
        with contextlib.suppress(errors.CentralCloudError):
            stale = await self.database.fetchrow("stale_running_run")
            if stale is not None:
                await self.start(trigger=stale["trigger"])
        first_start = self.clock()
        while not stop.is_set():
            now = self.clock()
            try:
                # A new installation has missed nothing: its first run is the next tick.
                last = await self.database.fetchval("last_scheduled_tick") or plan.previous_tick(first_start)
                tick = plan.due(now=now, last_tick=last)
                if tick is not None and self.running is None:
                    await self.start(trigger="schedule", scheduled_for=tick, scheduler=plan)
            except errors.CentralCloudError as err:
                logger.warning("scheduler: %s", err.message, extra={"action": "schedule"})
            wait = min(max((plan.next_tick(now) - self.clock()).total_seconds(), 0.5), 60.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)

    async def status(self, run_id: int | None, *, limit: int = 10, failures: int = 50) -> list[dict[str, Any]]:
        rows = [await self.database.fetchrow("get_sync_run", run_id)] if run_id is not None else await self.database.fetch("list_sync_runs", limit)
        runs = []
        for row in rows:
            if row is None:
                raise errors.NotFound(f"no sync run {run_id}")
            failed = await self.database.fetch("list_sync_failures", row["id"], failures)
            runs.append({**dict(row), "failures": [dict(f) for f in failed]})
        return runs
