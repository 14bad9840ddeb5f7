"""pypistats' API, replayed in its documented shapes.

pypistats.org is not reachable from where these tests were written, so the saved answers
under fixtures/pypistats/ were written by hand in the documented shape.
"""

from __future__ import annotations

import datetime as dt
import os
import time

import pytest

import replay
from centralcloud.core import errors
from centralcloud.sources import http, pypistats

FAST = http.HttpPolicy(timeout=2.0, max_attempts=2, backoff_base=0.01, backoff_max=0.02)
RECENT = "/api/packages/django/recent"
OVERALL = "/api/packages/django/overall"


def source(server: replay.ReplayServer, session, **kwargs: object) -> pypistats.PypiStatsSource:
    return pypistats.PypiStatsSource(
        session=session, base_url=server.url, policy=FAST, **{"per_second": 1000.0, **kwargs}  # type: ignore[arg-type]
    )


async def test_recent_counts_and_the_etag_round_trip(server, session) -> None:
    server.add(RECENT, replay.Reply.fixture("pypistats/django-recent.json", etag='"r1"'))
    stats = source(server, session)
    recent, etag = await stats.recent("django")
    assert recent == pypistats.Recent(last_day=512_301, last_week=3_501_877, last_month=14_803_412)
    assert etag == '"r1"'
    again, etag = await stats.recent("django", etag=etag)
    assert again is None and etag == '"r1"'
    assert server.received(RECENT)[1].headers["If-None-Match"] == '"r1"'


async def test_overall_counts_downloads_without_mirrors(server, session) -> None:
    server.add(OVERALL, replay.Reply.fixture("pypistats/django-overall.json"))
    days, _ = await source(server, session).overall("django")
    assert days is not None and len(days) == 90
    assert days[dt.date(2026, 5, 29)] == 480_000  # a Friday, the with_mirrors entry left out
    assert server.received(OVERALL)[0].raw_path.endswith("?mirrors=false")


async def test_the_budget_refuses_without_sending(server, session) -> None:
    server.add(RECENT, replay.Reply.fixture("pypistats/django-recent.json"))
    stats = source(server, session, budget=2)
    await stats.recent("django")
    await stats.recent("django")
    with pytest.raises(errors.SourceUnavailable, match="budget"):
        await stats.recent("django")
    assert len(server.requests) == 2
    stats.start_run()
    await stats.recent("django")
    assert len(server.requests) == 3


async def test_requests_are_spaced(server, session) -> None:
    server.add(RECENT, replay.Reply.fixture("pypistats/django-recent.json"))
    stats = source(server, session, per_second=10.0)
    started = time.monotonic()
    for _ in range(4):
        await stats.recent("django")
    # Four requests at ten a second: the last goes out 0.3 s after the first.
    assert time.monotonic() - started >= 0.29


async def test_a_429_waits_for_retry_after(server, session) -> None:
    server.add(
        RECENT,
        replay.Reply(status=429, body=b"slow down", headers={"Retry-After": "1"}),
        replay.Reply.fixture("pypistats/django-recent.json"),
    )
    started = time.monotonic()
    recent, _ = await source(server, session).recent("django")
    assert time.monotonic() - started >= 1.0
    assert recent is not None and recent.last_week == 3_501_877


@pytest.mark.parametrize(
    "body",
    [b"<html>502</html>", b'{"data": [1, 2]}', b'{"data": {"last_week": 1}, "package": "django"}'],
)
async def test_garbage_is_a_bad_response(server, session, body: bytes) -> None:
    server.add(OVERALL, replay.Reply(body=body, headers={"Content-Type": "application/json"}))
    with pytest.raises(errors.BadResponse):
        await source(server, session).overall("django")


async def test_an_unknown_package_is_not_found(server, session) -> None:
    with pytest.raises(errors.NotFound):
        await source(server, session).recent("no-such-package")


@pytest.mark.online
@pytest.mark.skipif(os.environ.get("CENTRALCLOUD_ONLINE_TESTS") != "1", reason="set CENTRALCLOUD_ONLINE_TESTS=1")
async def test_live_recent(session) -> None:
    live = pypistats.PypiStatsSource(session=session)
    recent, _ = await live.recent("django")
    assert recent is not None and recent.last_month is not None and recent.last_month > 0
