"""Phase: advisories for the packages just synced.

The npm registry's bulk endpoint first, a hundred packages a request; then one OSV batch
query, fetching in full only the advisories whose `modified` time changed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from centralcloud.core import errors
from centralcloud.jobs import progress as run_progress
from centralcloud.store import advisories as store_advisories

logger = logging.getLogger(__name__)

NAME = "advisories"
_NPM_BATCH = 100
_OSV_FETCHES = 8


async def run(job: run_progress.Run) -> None:
    refs = job.progress.succeeded
    checks = job.checks
    npm_names = [ref.name for ref in refs if ref.ecosystem == "npm"]
    for start in range(0, len(npm_names), _NPM_BATCH):
        try:
            await checks.refresh_npm_audit(npm_names[start : start + _NPM_BATCH])
        except errors.CentralCloudError as err:
            logger.warning("npm advisories skipped: %s", err.message, extra={"action": "sync_advisories", "source": "npm-audit"})
            break
    osv = checks.osv
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
    stored = await store_advisories.modified_times(job.database, list(wanted)) if wanted else {}
    changed = [
        advisory_id for advisory_id, modified in wanted.items()
        if advisory_id not in stored or modified is None or stored[advisory_id] is None or modified > stored[advisory_id]
    ]
    gate = asyncio.Semaphore(_OSV_FETCHES)

    async def fetch(advisory_id: str) -> None:
        async with gate:
            try:
                await store_advisories.save(job.database, await osv.get(advisory_id))
            except errors.CentralCloudError as err:
                logger.warning("advisory %s not refreshed: %s", advisory_id, err.message,
                               extra={"action": "sync_advisories", "source": "osv"})

    await asyncio.gather(*(fetch(advisory_id) for advisory_id in changed))
    # No cache invalidation here: the run drops every cached answer when it ends.
    await store_advisories.mark_checked(job.database, [(r.ecosystem, r.name) for r in refs])
