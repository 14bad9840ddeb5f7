"""npm's downloads API, replayed in its documented shapes.

The API is not reachable from where these tests were written, so the saved answers under
fixtures/npm-downloads/ were written by hand in the documented shape (bulk objects keyed by
name with null for an unknown package; point and range bodies), with counts of roughly the
size npm reports for these packages.
"""

from __future__ import annotations

import datetime as dt
import os
import time

import pytest

import replay
from centralcloud.core import errors
from centralcloud.sources import http, npm_downloads

FAST = http.HttpPolicy(timeout=2.0, max_attempts=2, backoff_base=0.01, backoff_max=0.02)
END = dt.date(2026, 5, 31)
START = END - dt.timedelta(days=83)


def source(server: replay.ReplayServer, session) -> npm_downloads.NpmDownloadsSource:
    return npm_downloads.NpmDownloadsSource(session=session, base_url=server.url, policy=FAST)


async def test_bulk_point_maps_counts_and_a_missing_package(server, session) -> None:
    path = "/downloads/point/last-week/express,left-pad,request,brand-new-pkg"
    server.add(path, replay.Reply.fixture("npm-downloads/point-last-week-bulk.json"))
    found = await source(server, session).points("last-week", ["express", "left-pad", "request", "brand-new-pkg"])
    assert len(server.requests) == 1
    express = found["express"]
    assert isinstance(express, npm_downloads.Point)
    assert express.downloads == 37_800_000
    assert (express.start, express.end) == (dt.date(2026, 5, 25), END)
    assert found["brand-new-pkg"] is None


async def test_bulk_is_used_whenever_two_or_more_unscoped_packages_are_due(server, session) -> None:
    def answer(names: list[str]) -> dict:
        return {name: {"downloads": len(name), "start": "2026-05-25", "end": "2026-05-31", "package": name}
                for name in names}

    unscoped = [f"pkg-{index}" for index in range(130)]
    scoped = ["@acme/one", "@acme/two"]
    # 130 names make two bulk requests of 65: neither is left with a lone name.
    server.add("/downloads/point/last-week/" + ",".join(unscoped[:65]), replay.Reply.json(answer(unscoped[:65])))
    server.add("/downloads/point/last-week/" + ",".join(unscoped[65:]), replay.Reply.json(answer(unscoped[65:])))
    for name in scoped:
        server.add(f"/downloads/point/last-week/{name}", replay.Reply.json(answer([name])[name]))
    found = await source(server, session).points("last-week", [*unscoped, *scoped])
    paths = [request.raw_path for request in server.requests]
    assert len(paths) == 4
    assert sum("," in path for path in paths) == 2
    assert sorted(path.removeprefix("/downloads/point/last-week/") for path in paths if "@" in path) == scoped
    assert all(isinstance(found[name], npm_downloads.Point) for name in [*unscoped, *scoped])
    assert found["pkg-129"].downloads == len("pkg-129")  # type: ignore[union-attr]

    server.requests.clear()
    server.add("/downloads/point/last-week/express,request", replay.Reply.fixture("npm-downloads/point-last-week-bulk.json"))
    two = await source(server, session).points("last-week", ["express", "request"])
    assert [request.raw_path for request in server.requests] == ["/downloads/point/last-week/express,request"]
    assert two["request"].downloads == 16_100_000  # type: ignore[union-attr]


async def test_one_unscoped_package_uses_the_single_form(server, session) -> None:
    body = replay.fixture_json("npm-downloads/point-last-week-bulk.json")["express"]
    server.add("/downloads/point/last-week/express", replay.Reply.json(body))
    found = await source(server, session).points("last-week", ["express"])
    assert found["express"].downloads == 37_800_000  # type: ignore[union-attr]


async def test_a_scoped_package_npm_does_not_know_is_none(server, session) -> None:
    server.add("/downloads/point/last-week/@acme/ghost", replay.Reply.fixture("npm-downloads/not-found.json", status=404))
    server.add("/downloads/point/last-week/@types/node", replay.Reply.fixture("npm-downloads/point-last-week-types-node.json"))
    found = await source(server, session).points("last-week", ["@acme/ghost", "@types/node"])
    assert found["@acme/ghost"] is None
    assert found["@types/node"].downloads == 28_086_419  # type: ignore[union-attr]


async def test_a_429_is_retried_after_the_time_it_asks_for(server, session) -> None:
    path = "/downloads/point/last-week/express,request"
    server.add(
        path,
        replay.Reply(status=429, body=b'{"error": "rate limited"}', headers={"Retry-After": "1"}),
        replay.Reply.fixture("npm-downloads/point-last-week-bulk.json"),
    )
    started = time.monotonic()
    found = await source(server, session).points("last-week", ["express", "request"])
    assert time.monotonic() - started >= 1.0
    assert len(server.received(path)) == 2
    assert found["express"].downloads == 37_800_000  # type: ignore[union-attr]


async def test_a_source_that_stays_down_is_not_asked_again_within_the_call(server, session) -> None:
    server.add("/downloads/point/last-week/express,request", replay.Reply(status=503, body=b"down"))
    found = await source(server, session).points("last-week", ["express", "request", "@acme/one"])
    assert all(isinstance(value, errors.SourceUnavailable) for value in found.values())
    # Two attempts at the bulk request; the scoped package gets the same error unsent.
    assert len(server.requests) == 2


@pytest.mark.parametrize("body", [b"<html>oops</html>", b"[1, 2, 3]"])
async def test_garbage_fails_the_packages_of_that_request(server, session, body: bytes) -> None:
    server.add("/downloads/point/last-week/express,request", replay.Reply(body=body, headers={"Content-Type": "application/json"}))
    found = await source(server, session).points("last-week", ["express", "request"])
    assert all(isinstance(value, errors.BadResponse) for value in found.values())


async def test_an_unreadable_entry_fails_alone(server, session) -> None:
    answer = replay.fixture_json("npm-downloads/point-last-week-bulk.json")
    answer["request"]["downloads"] = "lots"
    server.add("/downloads/point/last-week/express,request", replay.Reply.json(answer))
    found = await source(server, session).points("last-week", ["express", "request"])
    assert isinstance(found["request"], errors.BadResponse)
    assert found["express"].downloads == 37_800_000  # type: ignore[union-attr]


async def test_bulk_range_gives_daily_counts(server, session) -> None:
    path = f"/downloads/range/{START}:{END}/express,left-pad,request,brand-new-pkg"
    server.add(path, replay.Reply.fixture("npm-downloads/range-bulk.json"))
    found = await source(server, session).ranges(START, END, ["express", "left-pad", "request", "brand-new-pkg"])
    express = found["express"]
    assert isinstance(express, npm_downloads.Series)
    assert len(express.days) == 84 and min(express.days) == START and max(express.days) == END
    # The last 7 days of the range are what the point endpoint calls last-week.
    last_week = sum(count for day, count in express.days.items() if day > END - dt.timedelta(days=7))
    assert last_week == 37_800_000
    assert found["brand-new-pkg"] is None


def test_a_range_longer_than_npm_answers_is_refused() -> None:
    with pytest.raises(ValueError):
        npm_downloads.range_period(dt.date(2025, 1, 1), dt.date(2026, 1, 1))


@pytest.mark.online
@pytest.mark.skipif(os.environ.get("CENTRALCLOUD_ONLINE_TESTS") != "1", reason="set CENTRALCLOUD_ONLINE_TESTS=1")
async def test_live_bulk_point(session) -> None:
    live = npm_downloads.NpmDownloadsSource(session=session, base_url=npm_downloads.DEFAULT_URL)
    found = await live.points("last-week", ["express", "left-pad"])
    assert all(isinstance(value, npm_downloads.Point) and value.downloads > 0 for value in found.values())
