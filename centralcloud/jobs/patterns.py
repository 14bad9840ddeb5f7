"""Phase: pattern learning. Recompute usage counts, co-usage pairs and learned patterns from
the current reports (ingest also recomputes shortly after reports change)."""

from __future__ import annotations

import logging

from centralcloud.jobs import progress

logger = logging.getLogger(__name__)

NAME = "patterns"


async def run(job: progress.Run) -> None:
    if job.knowledge is None:
        return
    transactions = await job.knowledge.recompute()
    logger.info("patterns recomputed over %s projects", transactions, extra={"action": "sync_patterns"})
