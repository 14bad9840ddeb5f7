"""PackageSyncJob: the scheduled smart sync, run as a sequence of phases.

It refreshes exactly the packages instances use or asked about (and their runtime
dependencies to a configured depth), never a whole registry; then advisories, repository
facts, quality scores, and clean-up of what nobody uses any more. Each phase is a module
of this package with one entry point, `run(job)`; this runner owns what they share:
the lock, resume, progress and the run's record.

One run at a time across all replicas: a run holds a PostgreSQL advisory lock on a
connection of its own for as long as it runs, and a scheduled run re-reads the last
scheduled tick under that lock, so a tick runs once however many replicas see it.
A run killed midway is resumed under its own id by the next process that takes the
lock; packages already synced since the run started are not fetched again.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import msgspec

from centralcloud.core import clock, deadlines, ecosystems, errors, names
from centralcloud.facts import alerts as facts_alerts
from centralcloud.facts import catalog
from centralcloud.facts import knowledge as facts_knowledge
from centralcloud.jobs import (
    advisories, alerts, cleanup, downloads, packages, patterns, progress, repositories, schedule, scores,
)
from centralcloud.store import db, runs
from centralcloud.wire import messages, subjects

logger = logging.getLogger(__name__)

PHASES = (packages, advisories, alerts, repositories, downloads, patterns, scores, cleanup)
"""The phases of a run, in order; each has a NAME and `async def run(job)`."""

Options = progress.Options


class SyncJob:
    def __init__(
        self,
        *,
        database: db.Database,
        the_catalog: catalog.Catalog,
        options: Options,
        publish: Callable[[str, bytes], Awaitable[None]] | None = None,
        clock: Callable[[], dt.datetime] = clock.utcnow,
        download_sources: downloads.Sources | None = None,
        knowledge: facts_knowledge.Knowledge | None = None,
        alerts: facts_alerts.Alerts | None = None,
    ) -> None:
        self.knowledge = knowledge
        self.alerts = alerts
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

    def _context(
        self, state: progress.Progress, *, started_at: dt.datetime, packages: list[names.PackageRef] | None
    ) -> progress.Run:
        return progress.Run(
            database=self.database, catalog=self.catalog, options=self.options, progress=state,
            started_at=started_at, packages=packages, clock=self.clock, downloads=self.downloads,
            knowledge=self.knowledge, alerts=self.alerts,
        )

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
            if not await runs.try_lock(connection):
                await stack.aclose()
                stale = await runs.stale_running(self.database)
                return (stale["id"] if stale else None), False
            stack.push_async_callback(runs.unlock, connection)
            if trigger == "schedule" and scheduler is not None and scheduled_for is not None:
                # Another replica may have run this tick between our look and the lock.
                last = await runs.last_scheduled_tick(self.database)
                if last is not None and last >= scheduled_for:
                    await stack.aclose()
                    return None, False
            stale = await runs.stale_running(self.database)
            requested = [[ref.ecosystem, ref.name] for ref in packages] if packages else None
            if stale is not None and packages is None:
                # Nobody holds the lock, so that run's process is gone: finish its work under its id.
                run_id, started_at = stale["id"], stale["started_at"]
                state = progress.Progress.from_json(stale["total"], stale["counts"])
                # What is left is selected again below; count only what is already done.
                state.total = state.done
                if stale["requested"]:
                    packages = [names.PackageRef(e, n) for e, n in stale["requested"]]
                logger.info("resuming sync run %s", run_id, extra={"action": "sync_resume", "run": run_id})
            else:
                run_id, started_at = await runs.create(
                    self.database, trigger=trigger, scheduled_for=scheduled_for, requested=requested
                )
                state = progress.Progress()
            await runs.interrupt_others(self.database, run_id)
        except BaseException:
            await stack.aclose()
            raise
        self._run_id = run_id
        state.run_id = run_id
        job = self._context(state, started_at=started_at, packages=packages)
        # A run outlives the request that started it: no request deadline applies to it.
        self._task = asyncio.get_running_loop().create_task(self._execute(job, stack), context=deadlines.detached())
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

    async def _execute(self, job: progress.Run, stack: contextlib.AsyncExitStack) -> None:
        state = job.progress
        assert state.run_id is not None
        run_id = state.run_id
        async with stack:
            reporter = asyncio.create_task(self._report(state))
            outcome, error = "succeeded", None
            try:
                for phase in PHASES:
                    state.phase = phase.NAME
                    await phase.run(job)
            except asyncio.CancelledError:
                reporter.cancel()
                await self._write_progress(state)
                raise
            except Exception as err:  # a run must end with a state, whatever happened
                logger.exception("sync run %s failed", run_id, extra={"action": "sync", "run": run_id})
                outcome, error = "failed", f"{type(err).__name__}: {err}"
            reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reporter
            await runs.finish(
                self.database, run_id, state=outcome, total=state.total, counts=state.as_json(), error=error
            )
            # Scores move for every package after a run, so every cached answer is stale.
            await self.catalog.cache.clear()
            await self._broadcast_clear()
            logger.info(
                "sync run %s %s: %s", run_id, outcome, state.as_json(),
                extra={"action": "sync", "run": run_id, "state": outcome},
            )

    async def _report(self, state: progress.Progress) -> None:
        while True:
            await asyncio.sleep(self.options.progress_interval)
            await self._write_progress(state)

    async def _write_progress(self, state: progress.Progress) -> None:
        assert state.run_id is not None
        with contextlib.suppress(errors.DatabaseError):
            await runs.write_progress(
                self.database, state.run_id, total=state.total, counts=state.as_json(), phase=state.phase
            )

    async def compute_scores(self, ecosystems: Iterable[str] = ecosystems.KEYS) -> int:
        """Score every stored package now, outside a run."""
        job = self._context(progress.Progress(), started_at=self.clock(), packages=None)
        return await scores.compute(job, ecosystems)

    async def cleanup(self) -> dict[str, int]:
        """Remove what nobody uses now, outside a run."""
        job = self._context(progress.Progress(), started_at=self.clock(), packages=None)
        return await cleanup.remove_unused(job)

    async def _broadcast_clear(self) -> None:
        """Tell every replica to drop its cached answers."""
        if self.publish is None:
            return
        with contextlib.suppress(Exception):
            await self.publish(subjects.CACHE_INVALIDATE.name, msgspec.json.encode(messages.CacheInvalidation(all=True)))

    async def scheduler(self, plan: schedule.Schedule, stop: asyncio.Event) -> None:
        """The cron loop: resume an interrupted run, then start each due tick once."""
        with contextlib.suppress(errors.CentralCloudError):
            stale = await runs.stale_running(self.database)
            if stale is not None:
                await self.start(trigger=stale["trigger"])
        first_start = self.clock()
        while not stop.is_set():
            now = self.clock()
            try:
                # A new installation has missed nothing: its first run is the next tick.
                last = await runs.last_scheduled_tick(self.database) or plan.previous_tick(first_start)
                tick = plan.due(now=now, last_tick=last)
                if tick is not None and self.running is None:
                    await self.start(trigger="schedule", scheduled_for=tick, scheduler=plan)
            except errors.CentralCloudError as err:
                logger.warning("scheduler: %s", err.message, extra={"action": "schedule"})
            wait = min(max((plan.next_tick(now) - self.clock()).total_seconds(), 0.5), 60.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)

    async def status(self, run_id: int | None, *, limit: int = 10, failures: int = 50) -> list[dict[str, Any]]:
        rows = [await runs.get(self.database, run_id)] if run_id is not None else await runs.newest(self.database, limit=limit)
        found = []
        for row in rows:
            if row is None:
                raise errors.NotFound(f"no sync run {run_id}")
            failed = await runs.failures(self.database, row["id"], limit=failures)
            found.append({**dict(row), "failures": [dict(f) for f in failed]})
        return found
