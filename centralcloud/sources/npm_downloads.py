"""npm's public downloads API: how often each package was downloaded.

Two documented endpoints, each with a single and a bulk form:

- `GET /downloads/point/{period}/{package}` answers `{"downloads", "start", "end", "package"}`;
- `GET /downloads/range/{period}/{package}` answers the same with `downloads` as a list of
  `{"day", "downloads"}`, one per day.

`period` is `last-day`, `last-week`, `last-month` or `YYYY-MM-DD:YYYY-MM-DD`. Up to 128
unscoped names joined by commas make one bulk request, answered as an object keyed by
name whose value is null for a package npm has no counts for; scoped names are not
accepted in bulk and go one request each. A single unknown package is a 404.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import urllib.parse
from collections.abc import Iterator, Sequence
from typing import Any

from centralcloud.core import errors
from centralcloud.sources import http, readers

DEFAULT_URL = "https://api.npmjs.org"
BULK_LIMIT = 128
"""Most unscoped names npm accepts in one bulk request."""
MAX_RANGE_DAYS = 365
"""Longest range npm answers in one bulk request."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Point:
    """Downloads of one package over one period."""

    downloads: int
    """Downloads counted in the period."""
    start: dt.date | None
    """First day of the period, as npm says."""
    end: dt.date | None
    """Last day of the period, as npm says."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Series:
    """Daily downloads of one package."""

    days: dict[dt.date, int]
    """Downloads per day; days npm left out are absent."""
    start: dt.date | None
    """First day asked for, as npm says."""
    end: dt.date | None
    """Last day asked for, as npm says."""


def is_scoped(name: str) -> bool:
    return name.startswith("@")


def chunks(names: Sequence[str], limit: int = BULK_LIMIT) -> Iterator[list[str]]:
    """`names` in as few bulk-sized chunks as possible, of even sizes.

    Even sizes keep a lone name out of a last chunk: npm answers a one-name "bulk" request
    in the single-package shape, so every chunk of a list of two or more holds two or more.
    """
    if not names:
        return
    count = math.ceil(len(names) / limit)
    size, extra = divmod(len(names), count)
    start = 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        yield list(names[start:end])
        start = end


def range_period(start: dt.date, end: dt.date) -> str:
    """The period segment for the days from `start` to `end`, both included."""
    if end < start or (end - start).days >= MAX_RANGE_DAYS:
        raise ValueError(f"npm answers ranges of 1 to {MAX_RANGE_DAYS} days, not {start}..{end}")
    return f"{start.isoformat()}:{end.isoformat()}"


class NpmDownloadsSource(http.HttpSource):
    """Download counts of npm packages."""

    name = "npm-downloads"
    ecosystem = "npm"

    async def points(self, period: str, packages: Sequence[str]) -> dict[str, Point | None | errors.CentralCloudError]:
        """Downloads of each package over `period`; None for a package npm has no counts for.

        Unscoped names go in bulk requests whenever two or more are asked for. Nothing raises:
        a package whose entry cannot be read maps to its BadResponse, the packages of a failed
        request to its error; once npm is unavailable, the rest get that error unsent.
        """
        return await self._each(packages, kind="point", period=period, parse=self._point)

    async def ranges(
        self, start: dt.date, end: dt.date, packages: Sequence[str]
    ) -> dict[str, Series | None | errors.CentralCloudError]:
        """Daily downloads of each package from `start` to `end`; None where npm has none (as `points`)."""
        return await self._each(packages, kind="range", period=range_period(start, end), parse=self._series)

    async def _each(self, packages: Sequence[str], *, kind: str, period: str, parse: Any) -> dict[str, Any]:
        wanted = list(dict.fromkeys(packages))
        unscoped = [name for name in wanted if not is_scoped(name)]
        # One request per list: a bulk chunk of unscoped names, or a single name.
        requests = [[unscoped[0]]] if len(unscoped) == 1 else list(chunks(unscoped))
        requests += [[name] for name in wanted if is_scoped(name)]
        found: dict[str, Any] = {}
        down: errors.SourceUnavailable | None = None
        for names in requests:
            if down is not None:
                found.update(dict.fromkeys(names, down))
                continue
            try:
                if len(names) == 1:
                    found.update(await self._single(kind, period, names[0], parse))
                else:
                    found.update(await self._bulk(kind, period, names, parse))
            except errors.SourceUnavailable as err:
                down = err
                found.update(dict.fromkeys(names, err))
            except errors.CentralCloudError as err:
                found.update(dict.fromkeys(names, err))
        return found

    async def _single(self, kind: str, period: str, package: str, parse: Any) -> dict[str, Any]:
        # One package per request, so an unreadable answer fails that package alone.
        try:
            response = await self.get_json(f"downloads/{kind}/{period}/{_segment(package)}")
            with readers.mapping_errors(source=self.name, ecosystem=self.ecosystem, package=package):
                return {package: parse(package, response.json)}
        except errors.NotFound:
            return {package: None}
        except errors.BadResponse as err:
            return {package: err}

    async def _bulk(self, kind: str, period: str, packages: list[str], parse: Any) -> dict[str, Any]:
        joined = ",".join(_segment(name) for name in packages)
        response = await self.get_json(f"downloads/{kind}/{period}/{joined}")
        answer = readers.expect(response.json, dict, source=self.name, what="the bulk downloads answer")
        found: dict[str, Any] = {}
        for package in packages:
            item = answer.get(package)
            # A package missing from the answer, or null in it, has no counts (yet).
            try:
                with readers.mapping_errors(source=self.name, ecosystem=self.ecosystem, package=package):
                    found[package] = None if item is None else parse(package, item)
            except errors.BadResponse as err:
                found[package] = err
        return found

    def _point(self, package: str, doc: Any) -> Point:
        doc = readers.expect(doc, dict, source=self.name, what=f"downloads of {package!r}")
        return Point(
            downloads=_count(doc.get("downloads"), source=self.name, package=package),
            start=_day(doc.get("start")),
            end=_day(doc.get("end")),
        )

    def _series(self, package: str, doc: Any) -> Series:
        doc = readers.expect(doc, dict, source=self.name, what=f"downloads of {package!r}")
        items = readers.required(doc, "downloads", list, source=self.name)
        days: dict[dt.date, int] = {}
        for item in items:
            item = readers.expect(item, dict, source=self.name, what=f"a day of {package!r}")
            day = _day(item.get("day"))
            if day is None:
                raise errors.BadResponse(f"a day of {package!r} has no readable date", source=self.name)
            days[day] = _count(item.get("downloads"), source=self.name, package=package)
        return Series(days=days, start=_day(doc.get("start")), end=_day(doc.get("end")))


def _segment(name: str) -> str:
    # The API takes a scoped name with its slash as is; everything else is percent-encoded.
    return urllib.parse.quote(name, safe="@/")


def _count(value: object, *, source: str, package: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise errors.BadResponse(f"downloads of {package!r} are not a count: {value!r}", source=source)
    return value


def _day(value: object) -> dt.date | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None
