"""What a sync run knows about itself while it runs: options, counts and the run's context."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from centralcloud.core import clock, ecosystems, errors, names
from centralcloud.facts import advisory_checks
from centralcloud.facts import alerts as facts_alerts
from centralcloud.facts import knowledge as facts_knowledge
from centralcloud.facts import catalog as facts_catalog
from centralcloud.facts import cache as read_cache
from centralcloud.facts import repositories as repository_facts
from centralcloud.sources import github, npm_downloads, pypistats
from centralcloud.store import db, runs

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class SourceCounts:
    checked: int = 0
    unchanged: int = 0
    updated: int = 0
    failed: int = 0

    def add(self, outcome: str) -> None:
        """Count one package or repository: "updated", "unchanged" or "failed"."""
        self.checked += 1
        setattr(self, outcome, getattr(self, outcome) + 1)


@dataclasses.dataclass
class Progress:
    total: int = 0
    counts: dict[str, SourceCounts] = dataclasses.field(default_factory=lambda: defaultdict(SourceCounts))
    phase: str = "syncing"
    run_id: int | None = None
    succeeded: list[names.PackageRef] = dataclasses.field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {source: dataclasses.asdict(counts) for source, counts in sorted(self.counts.items())}

    @property
    def done(self) -> int:
        return done(self.as_json())

    @classmethod
    def from_json(cls, total: int, value: dict[str, Any] | None) -> Progress:
        progress = cls(total=total)
        for source, counts in (value or {}).items():
            if isinstance(counts, dict):
                progress.counts[source] = SourceCounts(**{k: int(v) for k, v in counts.items() if k in SourceCounts.__dataclass_fields__})
        return progress


SIDE_SOURCES = (github.GithubSource.name, npm_downloads.NpmDownloadsSource.name, pypistats.PypiStatsSource.name)
"""Sources a run counts beside the registries: what they check are not the run's packages."""


def done(counts: dict[str, Any] | None) -> int:
    """Packages checked so far in a run's stored counts (side sources such as GitHub aside)."""
    return sum(int(c.get("checked", 0)) for source, c in (counts or {}).items() if source not in SIDE_SOURCES)


@dataclasses.dataclass
class Options:
    """How the job runs."""

    depth: int = 2
    """Levels of runtime dependencies synced below what instances use or asked for."""
    retention: dt.timedelta = dt.timedelta(days=90)
    """Packages nobody requested or reported for this long are removed."""
    concurrency: dict[str, int] = dataclasses.field(
        default_factory=lambda: {eco.key: eco.sync_concurrency for eco in ecosystems.ALL}
    )
    """Packages fetched at once, per ecosystem (politeness limits inside the adapters apply as well)."""
    repository_max_age: dt.timedelta = dt.timedelta(days=1)
    """Repository facts older than this are refreshed during a run."""
    progress_interval: float = 0.5
    """Seconds between progress writes while a run proceeds."""
    max_consecutive_failures: int = 3
    """A side source (GitHub) failing this many times in a row is left alone until the next run."""
    not_found_for: dt.timedelta = dt.timedelta(days=7)
    """A requested name the registry reported as not found is not asked about again for this long."""
    max_unknown: int = 1000
    """Requested names never stored (perhaps made up) fetched per run at most, most requested first."""


@dataclasses.dataclass
class Run:
    """One run as its phases see it: what to work on, with what, and where to count."""

    database: db.Database
    catalog: facts_catalog.Catalog
    options: Options
    progress: Progress
    started_at: dt.datetime
    packages: list[names.PackageRef] | None
    """The packages asked for, or None for a full run of everything in use."""
    clock: Callable[[], dt.datetime] = clock.utcnow
    downloads: Any = None
    """The download-count sources (jobs.downloads.Sources), or None to leave counts alone."""
    knowledge: facts_knowledge.Knowledge | None = None
    """Pattern knowledge, for the patterns phase (None: the phase does nothing)."""
    alerts: facts_alerts.Alerts | None = None
    """Alerts, for the alerts phase (None: the phase does nothing)."""

    @property
    def checks(self) -> advisory_checks.AdvisoryChecks:
        return self.catalog.checks

    @property
    def repositories(self) -> repository_facts.RepositoryFacts:
        return self.catalog.repositories

    @property
    def cache(self) -> read_cache.ReadCache:
        return self.catalog.cache

    async def note(self, source: str, reason: str) -> None:
        """A failure of a side source, kept with the run (as a failure row without a package)."""
        if self.progress.run_id is not None:
            with contextlib.suppress(errors.DatabaseError):
                await runs.record_failure(
                    self.database, self.progress.run_id, ecosystem="-", name="-", source=source, reason=reason
                )

    async def failed(self, ref: names.PackageRef, *, source: str, reason: str) -> None:
        """One package failed: counted, logged and kept with the run and the package."""
        self.progress.counts[ref.ecosystem].add("failed")
        logger.warning(
            "sync of %s/%s failed: %s", ref.ecosystem, ref.name, reason,
            extra={"action": "sync", "ecosystem": ref.ecosystem, "package": ref.name, "source": source},
        )
        if self.progress.run_id is None:
            return
        with contextlib.suppress(errors.DatabaseError):
            await runs.record_failure(
                self.database, self.progress.run_id, ecosystem=ref.ecosystem, name=ref.name, source=source, reason=reason
            )
            await runs.mark_package_error(self.database, ecosystem=ref.ecosystem, name=ref.name, reason=reason)
