"""Phase: quality scores for every stored package (docs/quality.md)."""

from __future__ import annotations

from collections.abc import Iterable

from centralcloud.core import ecosystems as known_ecosystems
from centralcloud.core import errors
from centralcloud.facts import advisories, quality, score_inputs
from centralcloud.jobs import progress as run_progress
from centralcloud.store import scores as store_scores

NAME = "scores"


async def run(job: run_progress.Run) -> None:
    await compute(job, known_ecosystems.KEYS)


async def compute(job: run_progress.Run, ecosystems: Iterable[str]) -> int:
    """Score every stored package of these ecosystems; returns how many were scored."""
    ecosystems = list(ecosystems)
    rows = await store_scores.signals(job.database, ecosystems)
    if not rows:
        return 0
    fix_days = await store_scores.fix_days(job.database, ecosystems)
    latest_advisories: dict[int, tuple[float | None, ...]] = {}
    for row in rows:
        latest = row["latest_version"]
        if latest and row["has_advisories"]:
            try:
                found, _ = await advisories.for_package(
                    job.database, ecosystem=row["ecosystem"], name=row["name"], version=latest
                )
            except errors.BadRequest:
                found = []
            latest_advisories[row["id"]] = tuple(a.score for a in found)
    signals = [
        score_inputs.Signals(
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
    scores = quality.compute(signals, now=job.clock())  # in the order of `signals`, so of `rows`
    await store_scores.save(job.database, [row["id"] for row in rows], scores)
    return len(scores)
