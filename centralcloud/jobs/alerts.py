"""Phase: alerts about everything reported, now that advisories are fresh.

It only starts the check: publishing to many instances goes on in the background, so the
sync never waits for it.
"""

from __future__ import annotations

from centralcloud.jobs import progress

NAME = "alerts"


async def run(job: progress.Run) -> None:
    if job.alerts is not None:
        job.alerts.start_all()
