"""Phase: npm and PyPI download counts, fetched in the background.

The downloads phase of a sync: npm and PyPI download counts, fetched in the background.

npm and PyPI leave download counts out of the documents we read, so this phase asks npm's
downloads API and pypistats for the packages a run synced: last week, last month, and a
12-week series for the trend. It runs only inside a sync, never on a request. A failing
package is counted and recorded with the run, and the run goes on; a source that is down
is left alone for the rest of the run.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime as dt
import logging
from collections.abc import Iterable, Mapping, Sequence

from centralcloud.core import errors, names
from centralcloud.jobs import progress as run_progress
from centralcloud.sources import npm_downloads, pypistats
from centralcloud.store import db, runs
from centralcloud.store import downloads as store_downloads

log = logging.getLogger(__name__)

NAME = "downloads"

SERIES_WEEKS = 12
NPM = npm_downloads.NpmDownloadsSource.name
PYPI = pypistats.PypiStatsSource.name
SOURCES: tuple[str, ...] = (NPM, PYPI)
"""Names the phase counts under in a run's counts."""
# Counts change daily, so a nightly run refreshes them; the slack lets a run that starts a
# little earlier than the last one still find them due.
COUNTS_MAX_AGE = dt.timedelta(hours=20)
SERIES_MAX_AGE = dt.timedelta(days=6, hours=20)
MAX_CONSECUTIVE_FAILURES = 3
_FLUSH_EVERY = 50


@dataclasses.dataclass(frozen=True, kw_only=True)
class Sources:
    """The download sources a sync uses; None leaves that ecosystem's counts alone."""

    npm: npm_downloads.NpmDownloadsSource | None = None
    """npm's downloads API."""
    pypi: pypistats.PypiStatsSource | None = None
    """pypistats; None when switched off."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Failure:
    """One package whose counts could not be fetched, or a source left alone (package "-")."""

    ecosystem: str
    name: str
    source: str
    reason: str


@dataclasses.dataclass
class Report:
    """The phase's outcome for one run."""

    counts: dict[str, collections.Counter[str]] = dataclasses.field(default_factory=dict)
    """Per source name: packages checked, and of those unchanged, updated and failed (a run's counts)."""
    failures: list[Failure] = dataclasses.field(default_factory=list)
    """Per package, and one per source that was left alone for the rest of the run."""


def weekly(days: Mapping[dt.date, int], *, end: dt.date, weeks: int = SERIES_WEEKS) -> list[int]:
    """Sums of `days` over `weeks` consecutive 7-day weeks ending on `end`, oldest first; missing days count 0."""
    first = end - dt.timedelta(days=7 * weeks - 1)
    sums = [0] * weeks
    for day, count in days.items():
        if first <= day <= end:
            sums[(day - first).days // 7] += count
    return sums


async def run(job: run_progress.Run) -> None:
    """The due counts of the packages the run synced; each source's outcome counted with the run."""
    if job.downloads is None:
        return
    report = await fetch(job.database, sources=job.downloads, refs=job.progress.succeeded, now=job.clock(),
                         run_id=job.progress.run_id)
    for source, counts in report.counts.items():
        job.progress.counts[source] = run_progress.SourceCounts(**counts)


async def fetch(
    database: db.Database,
    *,
    sources: Sources,
    refs: Sequence[names.PackageRef],
    now: dt.datetime,
    run_id: int | None = None,
) -> Report:
    """Fetch the due download counts of `refs`; failures are counted and (with `run_id`) recorded."""
    report = Report()
    wanted = [ref for ref in refs if ref.ecosystem in ("npm", "pypi")]
    if not wanted:
        return report
    rows = await store_downloads.due(
        database, wanted, counts_before=now - COUNTS_MAX_AGE, series_before=now - SERIES_MAX_AGE
    )
    npm_rows = [row for row in rows if row["ecosystem"] == "npm"]
    pypi_rows = [row for row in rows if row["ecosystem"] == "pypi"]
    if sources.npm is not None and npm_rows:
        await _npm(database, sources.npm, npm_rows, now=now, report=report)
    if sources.pypi is not None and pypi_rows:
        await _pypi(database, sources.pypi, pypi_rows, now=now, report=report)
    if run_id is not None:
        for failure in report.failures:
            with contextlib.suppress(errors.DatabaseError):
                await runs.record_failure(
                    database, run_id, ecosystem=failure.ecosystem, name=failure.name, source=failure.source,
                    reason=failure.reason,
                )
    return report


class _Writes:
    """Rows to store for one source, written in batches."""

    def __init__(self, database: db.Database, source: str, *, now: dt.datetime) -> None:
        self.database = database
        self.source = source
        self.now = now
        self.counts: list[tuple[int, int | None, int | None, int | None, str | None]] = []
        self.series: list[tuple[int, str | None, dt.date | None, str | None]] = []
        self.unchanged_counts: list[int] = []
        self.unchanged_series: list[int] = []

    def pending(self) -> int:
        return len(self.counts) + len(self.series) + len(self.unchanged_counts) + len(self.unchanged_series)

    async def flush(self) -> None:
        await store_downloads.save_counts(self.database, source=self.source, rows=self.counts, fetched_at=self.now)
        await store_downloads.save_series(self.database, source=self.source, rows=self.series, fetched_at=self.now)
        await store_downloads.touch(
            self.database, counts=self.unchanged_counts, series=self.unchanged_series, checked_at=self.now
        )
        self.counts, self.series, self.unchanged_counts, self.unchanged_series = [], [], [], []


def _literal(series: list[int] | None) -> str | None:
    return None if series is None else "{" + ",".join(str(value) for value in series) + "}"


async def _npm(
    database: db.Database,
    source: npm_downloads.NpmDownloadsSource,
    rows: Sequence[Mapping[str, object]],
    *,
    now: dt.datetime,
    report: Report,
) -> None:
    counts = report.counts.setdefault(NPM, collections.Counter())
    by_name = {str(row["name"]): row for row in rows}
    due_counts = [name for name, row in by_name.items() if row["counts_due"]]
    due_series = [name for name, row in by_name.items() if row["series_due"]]
    # npm's counts lag a day: a range ending yesterday is complete.
    end = now.date() - dt.timedelta(days=1)
    weeks = await source.points("last-week", due_counts) if due_counts else {}
    # Once npm is unavailable, the other questions of this run are not sent at all.
    down = _down(weeks.values())
    if down is None and due_counts:
        months = await source.points("last-month", due_counts)
        down = _down(months.values())
    else:
        months = dict.fromkeys(due_counts, down)
    if down is None and due_series:
        start = end - dt.timedelta(days=7 * SERIES_WEEKS - 1)
        ranges = await source.ranges(start, end, due_series)
    else:
        ranges = dict.fromkeys(due_series, down)
    writes = _Writes(database, NPM, now=now)
    for name, row in by_name.items():
        package_id = int(row["id"])  # type: ignore[call-overload]
        problems = [
            value for value in (weeks.get(name), months.get(name), ranges.get(name))
            if isinstance(value, errors.CentralCloudError)
        ]
        counts["checked"] += 1
        if problems:
            counts["failed"] += 1
            report.failures.append(Failure(ecosystem="npm", name=name, source=NPM, reason=problems[0].message))
            continue
        if name in weeks or name in months:
            week, month = weeks.get(name), months.get(name)
            assert not isinstance(week, errors.CentralCloudError) and not isinstance(month, errors.CentralCloudError)
            writes.counts.append(
                (package_id, week.downloads if week else None, month.downloads if month else None, None, None)
            )
        if name in ranges:
            series = ranges[name]
            assert not isinstance(series, errors.CentralCloudError)
            values = weekly(series.days, end=series.end or end) if series else None
            writes.series.append((package_id, _literal(values), (series.end or end) if series else None, None))
        counts["updated"] += 1
    await writes.flush()
    down = _down([*weeks.values(), *months.values(), *ranges.values()])
    if down is not None:
        report.failures.append(
            Failure(ecosystem="npm", name="-", source=NPM, reason=f"left alone for this run: {down.message}")
        )


def _down(values: Iterable[object]) -> errors.SourceUnavailable | None:
    return next((value for value in values if isinstance(value, errors.SourceUnavailable)), None)


async def _pypi(
    database: db.Database,
    source: pypistats.PypiStatsSource,
    rows: Sequence[Mapping[str, object]],
    *,
    now: dt.datetime,
    report: Report,
) -> None:
    counts = report.counts.setdefault(PYPI, collections.Counter())
    source.start_run()
    writes = _Writes(database, PYPI, now=now)
    in_a_row = 0
    try:
        for index, row in enumerate(rows):
            name, package_id = str(row["name"]), int(row["id"])  # type: ignore[call-overload]
            try:
                changed = await _one_pypi(source, row, name=name, package_id=package_id, writes=writes)
            except errors.SourceUnavailable as err:
                in_a_row += 1
                spent = source.remaining <= 0 and "budget" in err.details
                if spent or in_a_row >= MAX_CONSECUTIVE_FAILURES:
                    left = len(rows) - index
                    reason = f"{err.message}; {left} packages wait for the next run"
                    log.warning(reason, extra={"action": "sync_downloads", "source": PYPI})
                    report.failures.append(Failure(ecosystem="pypi", name="-", source=PYPI, reason=reason))
                    return
                counts["checked"] += 1
                counts["failed"] += 1
                report.failures.append(Failure(ecosystem="pypi", name=name, source=PYPI, reason=err.message))
                continue
            except errors.CentralCloudError as err:
                counts["checked"] += 1
                counts["failed"] += 1
                report.failures.append(Failure(ecosystem="pypi", name=name, source=PYPI, reason=err.message))
                continue
            in_a_row = 0
            counts["checked"] += 1
            if changed:
                counts["updated"] += 1
            else:
                counts["unchanged"] += 1
            if writes.pending() >= _FLUSH_EVERY:
                await writes.flush()
    finally:
        await writes.flush()


async def _one_pypi(
    source: pypistats.PypiStatsSource,
    row: Mapping[str, object],
    *,
    name: str,
    package_id: int,
    writes: _Writes,
) -> bool:
    """Fetch what is due of one package into `writes`; True when anything changed."""
    changed = False
    if row["counts_due"]:
        try:
            recent, etag = await source.recent(name, etag=row["etag"])  # type: ignore[arg-type]
        except errors.NotFound:  # pypistats has not counted this package (yet)
            recent, etag = pypistats.Recent(last_day=None, last_week=None, last_month=None), None
        if recent is None:
            writes.unchanged_counts.append(package_id)
        else:
            writes.counts.append((package_id, recent.last_week, recent.last_month, None, etag))
            changed = True
    if row["series_due"]:
        try:
            days, etag = await source.overall(name, etag=row["weekly_etag"])  # type: ignore[arg-type]
        except errors.NotFound:
            days, etag = {}, None
        if days is None:
            writes.unchanged_series.append(package_id)
        else:
            end = max(days) if days else None
            writes.series.append((package_id, _literal(weekly(days, end=end)) if end else None, end, etag))
            changed = True
    return changed
