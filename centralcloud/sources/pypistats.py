"""pypistats.org's API: download counts of PyPI packages.

- `GET /api/packages/{name}/recent` answers `{"data": {"last_day", "last_week", "last_month"},
  "package", "type": "recent_downloads"}`;
- `GET /api/packages/{name}/overall?mirrors=false` answers `{"data": [{"category", "date",
  "downloads"}, ...], "package", "type": "overall_downloads"}`, one entry per day and category
  (`with_mirrors`, `without_mirrors`) over the last 180 days.

Its operators ask for light use: this source is only used by the sync, never on a request,
spaces its requests evenly, sends the ETag it was given, and refuses (without sending) once
the budget of requests for the current run is spent. Deployments that need exact all-time
totals read the public BigQuery dataset of PyPI downloads instead (see docs/quality.md).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import urllib.parse
from typing import Any

import aiohttp

from centralcloud.core import errors
from centralcloud.sources import http, limits, readers

DEFAULT_URL = "https://pypistats.org"
DEFAULT_PER_SECOND = 0.5
"""Requests a second: one every two seconds, so a run of a few hundred packages stays light."""
DEFAULT_BUDGET = 400
"""Requests a run may send at most (retries included)."""
# pypistats counts installers run by PyPI mirrors apart; those are not users.
CATEGORY = "without_mirrors"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Recent:
    """Downloads over pypistats' recent windows."""

    last_day: int | None
    last_week: int | None
    last_month: int | None


class PypiStatsSource(http.HttpSource):
    """Download counts of PyPI packages, paced and within a per-run budget."""

    name = "pypistats"
    ecosystem = "pypi"

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        base_url: str = DEFAULT_URL,
        policy: http.HttpPolicy = http.HttpPolicy(),
        per_second: float = DEFAULT_PER_SECOND,
        budget: int = DEFAULT_BUDGET,
    ) -> None:
        super().__init__(session=session, base_url=base_url, policy=policy)
        self.budget = budget
        """Requests allowed per run; `start_run` restores it."""
        self.remaining = budget
        """Requests left in the current run."""
        self._pace = limits.RateLimiter(per_second=per_second)
        # Checked before every attempt, so retries are paced and budgeted too.
        self.session = limits.GatedSession(session, before=self._gate)  # type: ignore[assignment]

    def start_run(self) -> None:
        """A new run: the whole budget is available again."""
        self.remaining = self.budget

    async def recent(self, package: str, *, etag: str | None = None) -> tuple[Recent | None, str | None]:
        """Recent counts and the ETag to send next time; counts are None when unchanged (304)."""
        response = await self.get_json(f"api/packages/{_segment(package)}/recent", etag=etag)
        if response.not_modified:
            return None, response.etag
        with readers.mapping_errors(source=self.name, ecosystem=self.ecosystem, package=package):
            doc = readers.expect(response.json, dict, source=self.name, what="the recent downloads")
            data = readers.required(doc, "data", dict, source=self.name)
            recent = Recent(
                last_day=_count(data.get("last_day")),
                last_week=_count(data.get("last_week")),
                last_month=_count(data.get("last_month")),
            )
        return recent, response.etag

    async def overall(
        self, package: str, *, etag: str | None = None
    ) -> tuple[dict[dt.date, int] | None, str | None]:
        """Daily downloads without mirrors and the ETag to send next time; None when unchanged (304)."""
        response = await self.get_json(f"api/packages/{_segment(package)}/overall?mirrors=false", etag=etag)
        if response.not_modified:
            return None, response.etag
        with readers.mapping_errors(source=self.name, ecosystem=self.ecosystem, package=package):
            doc = readers.expect(response.json, dict, source=self.name, what="the overall downloads")
            days = _days(readers.required(doc, "data", list, source=self.name), source=self.name)
        return days, response.etag

    async def _gate(self) -> None:
        if self.remaining <= 0:
            raise errors.SourceUnavailable(
                f"the budget of {self.budget} pypistats requests for this run is spent",
                source=self.name,
                budget=self.budget,
            )
        self.remaining -= 1
        await self._pace.acquire()


def _days(items: list[Any], *, source: str) -> dict[dt.date, int]:
    days: dict[dt.date, int] = {}
    for item in items:
        item = readers.expect(item, dict, source=source, what="a day of downloads")
        # Without `mirrors=false` a server sends both categories; only one is counted.
        if item.get("category", CATEGORY) != CATEGORY:
            continue
        day = dt.date.fromisoformat(readers.required(item, "date", str, source=source))
        count = _count(item.get("downloads"))
        if count is None:
            raise errors.BadResponse(f"downloads on {day} are not a count", source=source)
        days[day] = days.get(day, 0) + count
    return days


def _segment(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None

