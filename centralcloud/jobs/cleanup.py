"""Phase: remove what nobody uses any more (full runs only)."""

from __future__ import annotations

import logging

from centralcloud.jobs import progress as run_progress
from centralcloud.store import cleanup as store_cleanup

logger = logging.getLogger(__name__)

NAME = "cleanup"


async def run(job: run_progress.Run) -> None:
    if job.packages:
        return  # a run for some packages only says nothing about what the rest are used for
    await remove_unused(job)


async def remove_unused(job: run_progress.Run) -> dict[str, int]:
    removed, advisories, repositories = await store_cleanup.run(
        job.database, cutoff=job.clock() - job.options.retention, depth=job.options.depth
    )
    for ecosystem, name in removed:
        await job.cache.invalidate_package(ecosystem, name)
    if removed:
        logger.info("removed %d unused packages", len(removed), extra={"action": "cleanup"})
    return {"packages": len(removed), "advisories": advisories, "repositories": repositories}
