"""Phase: refresh the packages in use (or the ones asked for) from their registries."""

from __future__ import annotations

import asyncio
import logging
import time

from centralcloud.core import errors, names
from centralcloud.jobs import progress as run_progress
from centralcloud.store import packages as store
from centralcloud.store import runs

logger = logging.getLogger(__name__)

NAME = "syncing"
ANALYZE_AFTER = 1000
"""Packages stored or changed in one run after which the facts tables are analyzed at once."""
_VALIDATOR_CHUNK = 5000
_TOUCH_BATCH = 500
_TOUCH_INTERVAL = 1.0
"""Seconds at most between writes of unchanged packages, so a killed run loses at most that much."""


async def run(job: run_progress.Run) -> None:
    """The asked-for packages, or everything in use; then fresh planner statistics after a large write."""
    before = sum(counts.updated for counts in job.progress.counts.values())
    await refresh(job)
    written = sum(counts.updated for counts in job.progress.counts.values()) - before
    if written >= ANALYZE_AFTER:
        # PostgreSQL's statistics follow a large write only when autovacuum comes round, which a
        # server may do late or never; plans made on stale ones (a table thought empty after a
        # first bulk load) cost the next run's every write.
        await store.analyze(job.database)


async def refresh(job: run_progress.Run) -> None:
    """The asked-for packages; otherwise everything in use, a dependency level at a time."""
    if job.packages:
        # A resumed run does not fetch again what it stored (or found unchanged) before it stopped.
        done = await runs.synced_since(job.database, [(r.ecosystem, r.name) for r in job.packages], job.started_at)
        await sync(job, [ref for ref in job.packages if (ref.ecosystem, ref.name) not in done])
        return
    seen: set[tuple[str, str]] = set()
    for _ in range(job.options.depth + 1):
        due = await runs.due_packages(
            job.database,
            depth=job.options.depth,
            synced_before=job.started_at,
            requested_since=job.clock() - job.options.retention,
            not_found_since=job.clock() - job.options.not_found_for,
            max_unknown=job.options.max_unknown,
        )
        fresh = [names.PackageRef(eco, name) for eco, name in due if (eco, name) not in seen]
        if not fresh:
            break
        seen.update((ref.ecosystem, ref.name) for ref in fresh)
        await sync(job, fresh)


async def sync(job: run_progress.Run, refs: list[names.PackageRef]) -> None:
    """Fetch each package conditionally, within its ecosystem's concurrency; one failure never
    fails the run. Unchanged packages are marked in bulk."""
    progress = job.progress
    progress.total += len(refs)
    gates = {eco: asyncio.Semaphore(n) for eco, n in job.options.concurrency.items()}
    known: dict[tuple[str, str], tuple[str | None, str | None]] = {}
    for start in range(0, len(refs), _VALIDATOR_CHUNK):
        chunk = refs[start : start + _VALIDATOR_CHUNK]
        known.update(await store.validators_many(job.database, [(r.ecosystem, r.name) for r in chunk]))
    unchanged: list[tuple[str, str]] = []
    flushed = [time.monotonic()]

    async def flush() -> None:
        batch, unchanged[:] = list(unchanged), []
        flushed[0] = time.monotonic()
        await store.touch(job.database, batch)

    async def one(ref: names.PackageRef) -> None:
        gate = gates.setdefault(ref.ecosystem, asyncio.Semaphore(4))
        async with gate:
            try:
                outcome = await job.catalog.refresh(
                    ref, conditional=True, validators=known.get((ref.ecosystem, ref.name), (None, None)), touch=False,
                )
            except errors.CentralCloudError as err:
                if isinstance(err, errors.NotFound):
                    await store.remember_not_found(job.database, [ref])
                await job.failed(ref, source=str(err.details.get("source", ref.ecosystem)), reason=err.message)
                return
            except Exception as err:  # isolation: one package never fails the run
                logger.exception("sync of %s/%s crashed", ref.ecosystem, ref.name, extra={"action": "sync"})
                await job.failed(ref, source=ref.ecosystem, reason=f"internal error: {type(err).__name__}: {err}")
                return
        progress.counts[ref.ecosystem].add(outcome)
        if outcome == "unchanged":
            unchanged.append((ref.ecosystem, ref.name))
            if len(unchanged) >= _TOUCH_BATCH or time.monotonic() - flushed[0] >= _TOUCH_INTERVAL:
                await flush()
        progress.succeeded.append(ref)

    try:
        await asyncio.gather(*(one(ref) for ref in refs))
    finally:
        # Also when cancelled: what was found unchanged is not checked again on resume.
        await asyncio.shield(flush())
