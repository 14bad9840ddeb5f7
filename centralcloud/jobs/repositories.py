"""Phase: GitHub facts for the repositories of the packages just synced, oldest first."""

from __future__ import annotations

import logging

from centralcloud.jobs import progress as run_progress
from centralcloud.store import repositories as store_repositories

logger = logging.getLogger(__name__)

NAME = "repositories"


async def run(job: run_progress.Run) -> None:
    refs = job.progress.succeeded
    facts = job.repositories
    if facts.github is None or not refs:
        return
    urls = await store_repositories.stale_urls(
        job.database, [(r.ecosystem, r.name) for r in refs],
        refreshed_before=job.clock() - job.options.repository_max_age,
    )
    failures = 0
    counts = job.progress.counts["github"]
    for url in urls:
        # Sequential on purpose: GitHub's budget is small and shared.
        outcome = await facts.refresh(url)
        if outcome is None:
            continue  # not a GitHub repository
        counts.add(outcome)
        failures = failures + 1 if outcome == "failed" else 0
        if failures >= job.options.max_consecutive_failures:
            github = facts.github
            budget = (
                f"; budget {github.budget_remaining} left, resets {github.budget_reset:%Y-%m-%d %H:%M} UTC"
                if github.budget_remaining is not None and github.budget_reset is not None else ""
            )
            reason = f"GitHub failed {failures} times in a row{budget}; the rest wait for the next run"
            logger.warning(reason, extra={"action": "sync_repositories", "source": "github"})
            await job.note("github", reason)
            return
