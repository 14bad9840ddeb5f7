"""The downloads phase against replayed registries and download APIs, with real PostgreSQL.

The npm packuments of express, request and left-pad are saved registry answers; the download
counts are the hand-written answers of fixtures/npm-downloads/ (see test_sources_npm_downloads).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import msgspec
import pytest

import replay
from centralcloud.jobs import downloads
from centralcloud.core import model, names
from centralcloud.facts import cache, catalog
from centralcloud.store import db, search
from centralcloud.wire import messages
from centralcloud.store import packages as store
from centralcloud.jobs import runner as sync
from centralcloud.sources import http, npm, npm_downloads, pypistats

FAST = http.HttpPolicy(timeout=2.0, max_attempts=2, backoff_base=0.01, backoff_max=0.02)
NOW = dt.datetime(2026, 6, 1, 3, 0, tzinfo=dt.timezone.utc)
END = dt.date(2026, 5, 31)
START = END - dt.timedelta(days=83)
SAVED = ("express", "left-pad", "request")
# Stored packages that depend on request, so request has dependents in the store and express none.
APPS = ("app-1", "app-2", "app-3")


def packument(name: str, deps: dict[str, str] | None = None) -> dict:
    return {
        "name": name,
        "dist-tags": {"latest": "1.0.0"},
        "versions": {"1.0.0": {"name": name, "version": "1.0.0", "license": "MIT", "dependencies": deps or {}}},
        "time": {"1.0.0": "2026-05-01T00:00:00.000Z"},
    }


def bulk(fixture: str, wanted: list[str]) -> replay.Reply:
    """A saved bulk answer widened to `wanted`: npm answers null for packages it has no counts for."""
    saved = replay.fixture_json(fixture)
    return replay.Reply.json({name: saved.get(name) for name in wanted})


@dataclass
class World:
    database: db.Database
    api: replay.ReplayServer
    session: aiohttp.ClientSession

    def npm_source(self) -> npm_downloads.NpmDownloadsSource:
        return npm_downloads.NpmDownloadsSource(session=self.session, base_url=self.api.url, policy=FAST)

    def serve_npm(self, wanted: list[str]) -> None:
        joined = ",".join(wanted)
        self.api.add(f"/downloads/point/last-week/{joined}", bulk("npm-downloads/point-last-week-bulk.json", wanted))
        self.api.add(f"/downloads/point/last-month/{joined}", bulk("npm-downloads/point-last-month-bulk.json", wanted))
        self.api.add(f"/downloads/range/{START}:{END}/{joined}", bulk("npm-downloads/range-bulk.json", wanted))


@pytest.fixture
async def world(database: db.Database) -> AsyncIterator[World]:
    async with replay.ReplayServer() as registry, replay.ReplayServer() as api, aiohttp.ClientSession() as session:
        for name in SAVED:
            registry.add(f"/{name}", replay.Reply.fixture(f"npm/{name}.json"))
        for name in APPS:
            registry.add(f"/{name}", replay.Reply.json(packument(name, {"request": "^2.88.0"})))
        registry.add("/lonely-pkg", replay.Reply.json(packument("lonely-pkg")))
        source = npm.NpmSource(session=session, base_url=registry.url, policy=FAST)
        for name in (*SAVED, *APPS, "lonely-pkg"):
            fetched = await source.fetch(name)
            assert fetched.package is not None
            await store.save_package(database, fetched.package, etag=None, last_modified=None)
        yield World(database=database, api=api, session=session)


def refs(*packages: str, ecosystem: str = "npm") -> list[names.PackageRef]:
    return [names.PackageRef(ecosystem, name) for name in packages]


async def scores(database: db.Database) -> None:
    the_catalog = catalog.Catalog(
        database=database, sources={}, read_cache=cache.ReadCache(ttl=60, max_size=10), request_timeout=5
    )
    job = sync.SyncJob(database=database, the_catalog=the_catalog, options=sync.Options(), clock=lambda: NOW)
    await job.compute_scores()


async def test_npm_counts_in_three_bulk_requests_then_quality_and_get(world: World) -> None:
    everything = sorted((*SAVED, *APPS, "lonely-pkg"))
    world.serve_npm(everything)
    report = await downloads.fetch(
        world.database, sources=downloads.Sources(npm=world.npm_source()), refs=refs(*everything), now=NOW
    )
    # Last week, last month and the 12-week range: one bulk request each for seven packages.
    assert len(world.api.requests) == 3
    assert dict(report.counts["npm-downloads"]) == {"checked": 7, "updated": 7}
    assert report.failures == []

    row = await world.database.pool.fetchrow(
        "SELECT d.* FROM package_downloads d JOIN packages p ON p.id = d.package_id WHERE p.name = 'express'"
    )
    assert (row["last_week"], row["last_month"], row["total"]) == (37_800_000, 157_140_000, None)
    assert len(row["weekly"]) == 12 and row["weekly"][-1] == 37_800_000 and row["weekly_end"] == END

    express = await store.load_package(world.database, ecosystem="npm", name="express")
    assert express is not None
    assert express.downloads == messages.DownloadsInfo(last_week=37_800_000, last_month=157_140_000)
    lonely = await store.load_package(world.database, ecosystem="npm", name="lonely-pkg")
    assert lonely is not None and lonely.downloads is None

    await scores(world.database)
    quality = {}
    for name in (*SAVED, "lonely-pkg"):
        loaded = await store.load_package(world.database, ecosystem="npm", name=name)
        assert loaded is not None and loaded.quality is not None
        quality[name] = loaded.quality
    assert quality["request"].parts["dependents"] == 3 and quality["express"].parts["dependents"] == 0
    for other in ("left-pad", "request"):
        assert quality["express"].popularity >= quality[other].popularity + 25  # type: ignore[operator]
    assert quality["lonely-pkg"].popularity is None
    assert quality["lonely-pkg"].parts["popularity_unknown"]
    assert quality["lonely-pkg"].parts["score_over"] == "maintenance, security, community"
    assert json.loads(msgspec.json.encode(quality["lonely-pkg"]))["popularity"] is None

    # Nothing is due again the same night: no request goes out.
    world.api.requests.clear()
    again = await downloads.fetch(
        world.database, sources=downloads.Sources(npm=world.npm_source()), refs=refs(*everything), now=NOW
    )
    assert world.api.requests == [] and again.counts == {}


async def test_search_ranks_with_download_counts(world: World) -> None:
    world.serve_npm(["app-1", "left-pad"])
    await downloads.fetch(world.database, sources=downloads.Sources(npm=world.npm_source()), refs=refs("app-1", "left-pad"), now=NOW)
    await world.database.pool.execute(
        "UPDATE packages SET search_vector = to_tsvector('simple', 'pad') WHERE name IN ('app-1', 'left-pad', 'lonely-pkg')"
    )
    hits = await search.Searcher(world.database).search(query="pad", ecosystem="npm", limit=5)
    # Equal text relevance: without counts the order would be by name, app-1 first.
    assert [hit.name for hit in hits] == ["left-pad", "app-1", "lonely-pkg"]
    assert hits[0].downloads == messages.DownloadsInfo(last_week=1_890_000, last_month=7_857_000)
    assert hits[1].downloads is None


async def test_failures_are_counted_per_package_and_recorded_with_the_run(world: World) -> None:
    wanted = ["express", "left-pad"]
    answer = replay.fixture_json("npm-downloads/point-last-week-bulk.json")
    answer["left-pad"] = {"downloads": -3}
    joined = ",".join(wanted)
    world.api.add(f"/downloads/point/last-week/{joined}", replay.Reply.json({name: answer[name] for name in wanted}))
    world.api.add(f"/downloads/point/last-month/{joined}", bulk("npm-downloads/point-last-month-bulk.json", wanted))
    world.api.add(f"/downloads/range/{START}:{END}/{joined}", replay.Reply(body=b"<html>busy</html>"))
    run_id = await world.database.fetchval("create_sync_run", "request", None, None)
    report = await downloads.fetch(
        world.database, sources=downloads.Sources(npm=world.npm_source()), refs=refs(*wanted), now=NOW, run_id=run_id
    )
    assert dict(report.counts["npm-downloads"]) == {"checked": 2, "failed": 2}
    failed = await world.database.pool.fetch("SELECT name, source, reason FROM sync_failures WHERE run_id = $1", run_id)
    assert sorted(row["name"] for row in failed) == wanted
    assert {row["source"] for row in failed} == {"npm-downloads"}


async def test_pypistats_with_etag_budget_and_an_unknown_package(world: World) -> None:
    for name in ("django", "flask", "zope"):
        await store.save_package(
            world.database, model.PackageFacts(ecosystem="pypi", name=name, display_name=name), etag=None, last_modified=None
        )
    world.api.add("/api/packages/django/recent", replay.Reply.fixture("pypistats/django-recent.json", etag='"d1"'))
    world.api.add("/api/packages/django/overall", replay.Reply.fixture("pypistats/django-overall.json"))
    # flask is unknown to pypistats (404): its counts stay unknown, which is no failure.
    stats = pypistats.PypiStatsSource(session=world.session, base_url=world.api.url, policy=FAST, per_second=1000, budget=4)
    sources = downloads.Sources(pypi=stats)
    report = await downloads.fetch(world.database, sources=sources, refs=refs("django", "flask", "zope", ecosystem="pypi"), now=NOW)
    # django 2 requests, flask 2, then the budget is spent before zope.
    assert len(world.api.requests) == 4
    assert dict(report.counts["pypistats"]) == {"checked": 2, "updated": 2}
    [note] = report.failures
    assert note.name == "-" and "budget" in note.reason and "1 packages wait" in note.reason
    django = await store.load_package(world.database, ecosystem="pypi", name="django")
    assert django is not None
    assert django.downloads == messages.DownloadsInfo(last_week=3_501_877, last_month=14_803_412)

    # The next night: django's counts are unchanged (304), its series not yet due; zope's turn comes.
    world.api.requests.clear()
    world.api.add("/api/packages/zope/recent", replay.Reply.fixture("pypistats/django-recent.json"))
    world.api.add("/api/packages/zope/overall", replay.Reply.fixture("pypistats/django-overall.json"))
    later = await downloads.fetch(
        world.database, sources=sources, refs=refs("django", "zope", ecosystem="pypi"), now=NOW + dt.timedelta(days=1)
    )
    assert dict(later.counts["pypistats"]) == {"checked": 2, "unchanged": 1, "updated": 1}
    assert world.api.received("/api/packages/django/recent")[0].headers["If-None-Match"] == '"d1"'
    assert world.api.received("/api/packages/django/overall") == []


async def test_a_sync_run_fetches_download_counts_after_repositories(world: World) -> None:
    async with replay.ReplayServer() as registry:
        for name in SAVED:
            registry.add(f"/{name}", replay.Reply.fixture(f"npm/{name}.json"))
        the_catalog = catalog.Catalog(
            database=world.database,
            sources={"npm": npm.NpmSource(session=world.session, base_url=registry.url, policy=FAST)},
            read_cache=cache.ReadCache(ttl=60, max_size=10),
            request_timeout=5,
        )
        world.serve_npm(["express", "left-pad"])
        job = sync.SyncJob(
            database=world.database,
            the_catalog=the_catalog,
            options=sync.Options(depth=0),
            clock=lambda: NOW,
            download_sources=downloads.Sources(npm=world.npm_source()),
        )
        try:
            run_id, started = await job.start(trigger="request", packages=refs("express", "left-pad"))
            assert started
            await job.wait()
            [status] = await job.status(run_id)
        finally:
            await the_catalog.close()
    assert status["state"] == "succeeded", status["error"]
    assert status["counts"]["npm-downloads"] == {"checked": 2, "unchanged": 0, "updated": 2, "failed": 0}
    express = await store.load_package(world.database, ecosystem="npm", name="express")
    assert express is not None and express.downloads is not None and express.downloads.last_week == 37_800_000


async def test_npm_down_is_asked_once_and_every_package_fails(world: World) -> None:
    world.api.add("/downloads/point/last-week/express,left-pad", replay.Reply(status=503, body=b"down"))
    report = await downloads.fetch(
        world.database, sources=downloads.Sources(npm=world.npm_source()), refs=refs("express", "left-pad"), now=NOW
    )
    assert len(world.api.requests) == 2  # two attempts at the first question, none at the others
    assert dict(report.counts["npm-downloads"]) == {"checked": 2, "failed": 2}
    assert [failure.name for failure in report.failures] == ["express", "left-pad", "-"]
