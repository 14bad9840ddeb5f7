"""PackageSyncJob against a replayed registry, with real PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest

from centralcloud.core import names
from centralcloud.facts import advisories, cache, catalog, knowledge
from centralcloud.jobs import schedule
from centralcloud.store import db
from centralcloud.store import packages as store
from centralcloud.jobs import packages as sync_packages
from centralcloud.jobs import runner as sync
from centralcloud.sources import http, npm
from centralcloud.wire import subjects
from replay import Reply, ReplayServer

FAST = http.HttpPolicy(timeout=2, max_attempts=2, backoff_base=0.01, backoff_max=0.05)


def packument(name: str, deps: dict[str, str] | None = None, *, description: str = "a test package") -> dict:
    return {
        "name": name,
        "dist-tags": {"latest": "1.0.0"},
        "versions": {"1.0.0": {"name": name, "version": "1.0.0", "description": description, "license": "MIT",
                               "dependencies": deps or {}}},
        "time": {"1.0.0": "2026-06-01T00:00:00.000Z"},
    }


@dataclass
class World:
    database: db.Database
    registry: ReplayServer
    catalog: catalog.Catalog

    def job(self, **options: object) -> sync.SyncJob:
        # With the pattern knowledge, so the patterns phase feeds the community score.
        the_knowledge = knowledge.Knowledge(database=self.database, read_cache=cache.ReadCache(ttl=0, max_size=1))
        return sync.SyncJob(database=self.database, the_catalog=self.catalog, options=sync.Options(**options),
                            knowledge=the_knowledge)


@pytest.fixture
async def world(database: db.Database) -> AsyncIterator[World]:
    async with ReplayServer() as registry, aiohttp.ClientSession() as session:
        # app-a -> lib-b -> lib-c -> lib-d: with depth 2, lib-d is out of reach.
        registry.add("/app-a", Reply.json(packument("app-a", {"lib-b": "^1.0.0"}), etag='"a1"'))
        registry.add("/lib-b", Reply.json(packument("lib-b", {"lib-c": "^1.0.0"}), etag='"b1"'))
        registry.add("/lib-c", Reply.json(packument("lib-c", {"lib-d": "^1.0.0"}), etag='"c1"'))
        registry.add("/lib-d", Reply.json(packument("lib-d"), etag='"d1"'))
        registry.add("/reported-x", Reply.json(packument("reported-x"), etag='"x1"'))
        registry.add("/broken", Reply(status=500, body=b"<html>oops</html>"))
        the_catalog = catalog.Catalog(
            database=database,
            sources={"npm": npm.NpmSource(session=session, base_url=registry.url, policy=FAST)},
            read_cache=cache.ReadCache(ttl=60, max_size=100),
            request_timeout=5,
        )
        try:
            yield World(database=database, registry=registry, catalog=the_catalog)
        finally:
            await the_catalog.close()


async def seed(database: db.Database) -> None:
    pool = database.pool
    await pool.execute("INSERT INTO package_requests (ecosystem, name) VALUES ('npm', 'app-a'), ('npm', 'broken')")
    await pool.execute("INSERT INTO instances (id) VALUES ('team-1')")
    project = await pool.fetchval(
        "INSERT INTO reported_projects (instance_id, project, digest, format, stream_seq, dependencies) "
        "VALUES ('team-1', 'app', 'd', 'native', 1, 1) RETURNING id"
    )
    package = await pool.fetchval("INSERT INTO reported_packages (ecosystem, name) VALUES ('npm', 'reported-x') RETURNING id")
    await pool.execute(
        "UPDATE reported_projects SET package_ids = ARRAY[$2::bigint], versions = ARRAY[''], requirements = ARRAY['^1'],"
        " kinds = ARRAY['runtime'], directs = ARRAY[true] WHERE id = $1",
        project, package,
    )
    # A package nobody has asked about for half a year.
    await pool.execute(
        "INSERT INTO packages (ecosystem, name, display_name, created_at, synced_at) "
        "VALUES ('npm', 'old-thing', 'old-thing', now() - interval '200 days', now() - interval '200 days')"
    )
    await pool.execute(
        "INSERT INTO package_requests (ecosystem, name, first_requested_at, last_requested_at) "
        "VALUES ('npm', 'old-thing', now() - interval '200 days', now() - interval '200 days')"
    )


async def run_once(job: sync.SyncJob, **kwargs: object) -> dict:
    run_id, started = await job.start(trigger="request", **kwargs)
    assert started
    await job.wait()
    [status] = await job.status(run_id)
    return status


async def test_a_whole_run(world: World) -> None:
    await seed(world.database)
    status = await run_once(world.job(depth=2))
    assert status["state"] == "succeeded", status
    npm_counts = status["counts"]["npm"]
    # app-a, broken, reported-x; then lib-b (depth 1); then lib-c (depth 2).
    assert npm_counts == {"checked": 5, "unchanged": 0, "updated": 4, "failed": 1}
    [failure] = status["failures"]
    assert (failure["name"], failure["source"]) == ("broken", "npm") and "500" in failure["reason"]

    stored = {r["name"] for r in await world.database.pool.fetch("SELECT name FROM packages")}
    assert stored == {"app-a", "lib-b", "lib-c", "reported-x"}  # lib-d beyond depth, old-thing cleaned up
    error = await world.database.pool.fetchval("SELECT sync_error FROM package_requests r LEFT JOIN packages p USING (ecosystem, name) WHERE r.name = 'broken'")
    assert error is None  # never stored, so nothing half-written

    scores = await world.database.pool.fetch(
        "SELECT p.name, s.score, s.parts FROM package_scores s JOIN packages p ON p.id = s.package_id ORDER BY p.name"
    )
    assert [s["name"] for s in scores] == ["app-a", "lib-b", "lib-c", "reported-x"]
    assert all(0 <= s["score"] <= 100 and s["parts"] for s in scores)
    community = {r["name"]: r["community"] for r in await world.database.pool.fetch(
        "SELECT p.name, s.community FROM package_scores s JOIN packages p ON p.id = s.package_id")}
    assert community["reported-x"] > community["app-a"]  # an instance reports using it

    # Second run: everything unchanged costs a 304 and writes nothing but synced_at.
    versions_before = await world.database.pool.fetchval("SELECT count(*) FROM versions")
    score_rows = "SELECT package_id, xmin::text AS written, score, parts FROM package_scores ORDER BY package_id"
    scores_before = await world.database.pool.fetch(score_rows)
    again = await run_once(world.job(depth=2))
    assert again["counts"]["npm"] == {"checked": 5, "unchanged": 4, "updated": 0, "failed": 1}
    assert await world.database.pool.fetchval("SELECT count(*) FROM versions") == versions_before
    # A score that came out the same was not written again. (Release ages are kept to 0.01 day, so
    # one may rarely move between the two runs; that one is rewritten.)
    scores_after = await world.database.pool.fetch(score_rows)
    assert [row["package_id"] for row in scores_after] == [row["package_id"] for row in scores_before]
    same = [(old, new) for old, new in zip(scores_before, scores_after)
            if (old["score"], old["parts"]) == (new["score"], new["parts"])]
    assert same and all(old["written"] == new["written"] for old, new in same)
    assert world.registry.received("/app-a")[-1].headers.get("If-None-Match") == '"a1"'


async def test_a_run_that_writes_many_packages_leaves_fresh_planner_statistics(world: World, monkeypatch) -> None:
    await seed(world.database)

    async def analyzed() -> int:
        return await world.database.pool.fetchval(
            "SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'versions'"
        )

    monkeypatch.setattr(sync_packages, "ANALYZE_AFTER", 4)
    before = await analyzed()
    status = await run_once(world.job(depth=2))
    assert status["counts"]["npm"]["updated"] == 4
    for _ in range(50):  # the statistics collector reports with a short delay
        if await analyzed() > before:
            break
        await asyncio.sleep(0.1)
    assert await analyzed() == before + 1
    planned = await world.database.pool.fetchval("SELECT reltuples FROM pg_class WHERE relname = 'versions'")
    assert planned == await world.database.pool.fetchval("SELECT count(*) FROM versions")
    # A run that changes fewer packages leaves it to autovacuum.
    again = await run_once(world.job(depth=2))
    assert again["counts"]["npm"]["updated"] == 0
    await asyncio.sleep(0.7)
    assert await analyzed() == before + 1


async def test_explicit_packages_only(world: World) -> None:
    status = await run_once(world.job(), packages=[names.PackageRef("npm", "lib-d")])
    assert status["counts"]["npm"]["updated"] == 1 and status["total"] == 1
    assert await world.database.pool.fetchval("SELECT count(*) FROM packages") == 1


async def test_killed_run_is_resumed_and_completed(world: World) -> None:
    await seed(world.database)
    world.registry.add("/lib-b", Reply.json(packument("lib-b", {"lib-c": "^1.0.0"}), etag='"b1"', delay=5))
    first = world.job(depth=2)
    run_id, _ = await first.start(trigger="request")
    for _ in range(100):  # wait until the first level is stored and lib-b hangs
        if len(world.registry.received("/lib-b")) >= 1:
            break
        await asyncio.sleep(0.05)
    await first.close()  # the process dies: the run stays 'running' and the lock is released
    [interrupted] = await first.status(run_id)
    assert interrupted["state"] == "running" and interrupted["finished_at"] is None
    fetched_before = {p: len(world.registry.received(p)) for p in ("/app-a", "/reported-x")}
    assert fetched_before == {"/app-a": 1, "/reported-x": 1}

    world.registry.add("/lib-b", Reply.json(packument("lib-b", {"lib-c": "^1.0.0"}), etag='"b1"'))
    second = world.job(depth=2)
    resumed, started = await second.start(trigger="request")
    assert started and resumed == run_id
    await second.wait()
    [done] = await second.status(run_id)
    assert done["state"] == "succeeded"
    # Nothing fetched twice, nothing duplicated.
    assert {p: len(world.registry.received(p)) for p in fetched_before} == fetched_before
    assert await world.database.pool.fetchval(
        "SELECT count(*) FROM (SELECT package_id, number FROM versions GROUP BY 1, 2 HAVING count(*) > 1) d") == 0
    assert {r["name"] for r in await world.database.pool.fetch("SELECT name FROM packages")} == {"app-a", "lib-b", "lib-c", "reported-x"}
    assert await world.database.pool.fetchval("SELECT count(*) FROM sync_runs") == 1


async def test_two_replicas_one_scheduled_run(world: World, database_url: str) -> None:
    await seed(world.database)
    plan = schedule.Schedule("0 2 * * *")
    tick = plan.previous_tick(dt.datetime.now(dt.timezone.utc))
    other_database = await db.Database.connect(database_url)
    try:
        replicas = [world.job(), sync.SyncJob(database=other_database, the_catalog=world.catalog, options=sync.Options())]
        results = await asyncio.gather(*(r.start(trigger="schedule", scheduled_for=tick, scheduler=plan) for r in replicas))
        assert sorted(started for _, started in results) == [False, True]
        for replica in replicas:
            await replica.wait()
        # Later looks at the same tick start nothing, on either replica.
        for replica in replicas:
            assert (await replica.start(trigger="schedule", scheduled_for=tick, scheduler=plan))[1] is False
        assert await world.database.pool.fetchval("SELECT count(*) FROM sync_runs WHERE trigger = 'schedule'") == 1
    finally:
        await other_database.close()


async def test_a_running_run_is_reported_not_duplicated(world: World) -> None:
    world.registry.add("/lib-d", Reply.json(packument("lib-d"), delay=0.5))
    job = world.job()
    run_id, started = await job.start(trigger="request", packages=[names.PackageRef("npm", "lib-d")])
    again, started_again = await job.start(trigger="request")
    assert started and not started_again and again == run_id
    await job.wait()


async def test_nothing_an_instance_reports_is_removed(world: World) -> None:
    await seed(world.database)
    await world.database.pool.execute(
        "UPDATE reported_projects SET last_reported_at = now() - interval '400 days', first_reported_at = now() - interval '400 days'"
    )
    await run_once(world.job())
    await world.database.pool.execute("UPDATE packages SET created_at = now() - interval '400 days'")
    removed = await world.job().cleanup()
    names = {r["name"] for r in await world.database.pool.fetch("SELECT name FROM packages")}
    assert "reported-x" in names
    assert removed["packages"] == 0  # app-a is still requested recently; its dependencies are kept with it


async def test_advisories_refreshed_by_batch_and_only_when_changed(world: World) -> None:
    import json as jsonlib

    import replay
    from centralcloud.sources import osv

    record = replay.fixture_json("osv/GHSA-rv95-896h-c2vc.json")
    record["affected"][0]["package"]["name"] = "lib-d"

    def batch(body: bytes) -> Reply:
        queries = jsonlib.loads(body)["queries"]
        return Reply.json({"results": [
            {"vulns": [{"id": record["id"], "modified": record["modified"]}]} if q["package"]["name"] == "lib-d" else {}
            for q in queries
        ]})

    world.registry.add_handler("/v1/querybatch", batch)
    world.registry.add(f"/v1/vulns/{record['id']}", Reply.json(record))
    async with aiohttp.ClientSession() as session:
        world.catalog.checks.osv = osv.OsvSource(session=session, base_url=world.registry.url, policy=FAST)
        for _ in range(2):
            await run_once(world.job(), packages=[names.PackageRef("npm", "lib-d")])
        world.catalog.checks.osv = None
    assert len(world.registry.received("/v1/querybatch")) == 2
    assert len(world.registry.received(f"/v1/vulns/{record['id']}")) == 1  # unchanged the second time
    found, _ = await advisories.for_package(world.database, ecosystem="npm", name="lib-d", version="1.0.0")
    assert [a.id for a in found] == [record["id"]]
    checked = await world.database.pool.fetchval("SELECT advisories_synced_at FROM packages WHERE name = 'lib-d'")
    assert checked is not None


async def test_github_down_costs_three_tries_not_the_run(world: World) -> None:
    from centralcloud.sources import github

    for i in range(6):
        doc = packument(f"repo-{i}")
        doc["versions"]["1.0.0"]["repository"] = f"https://github.com/example/repo-{i}"
        world.registry.add(f"/repo-{i}", Reply.json(doc))
        world.registry.add(f"/repos/example/repo-{i}", Reply(status=502, body=b"bad gateway"))
    async with aiohttp.ClientSession() as session:
        world.catalog.repositories.github = github.GithubSource(session=session, base_url=world.registry.url, policy=FAST)
        status = await run_once(world.job(), packages=[names.PackageRef("npm", f"repo-{i}") for i in range(6)])
        world.catalog.repositories.github = None
    assert status["state"] == "succeeded"
    assert status["counts"]["npm"]["updated"] == 6
    assert status["counts"]["github"] == {"checked": 3, "unchanged": 0, "updated": 0, "failed": 3}
    assert any(f["source"] == "github" and "3 times in a row" in f["reason"] for f in status["failures"])


async def test_scores_count_how_fast_advisories_were_fixed(world: World) -> None:
    from centralcloud.core import model
    from centralcloud.store import advisories as store_advisories

    job = world.job()
    await run_once(job, packages=[names.PackageRef("npm", "lib-d")])  # lib-d 1.0.0 published 2026-06-01
    await store_advisories.save(world.database, model.Advisory(
        id="GHSA-test-fast", published=dt.datetime(2026, 5, 21, tzinfo=dt.timezone.utc),
        affected=(model.AffectedPackage(ecosystem="npm", name="lib-d", ranges=(
            model.AffectedRange(type="SEMVER", events=({"introduced": "0"}, {"fixed": "1.0.0"})),)),),
    ))
    await job.compute_scores()
    parts = await world.database.pool.fetchval(
        "SELECT s.parts FROM package_scores s JOIN packages p ON p.id = s.package_id WHERE p.name = 'lib-d'"
    )
    assert parts["median_fix_days"] == 11
    reply = await store.load_package(world.database, ecosystem="npm", name="lib-d")
    assert reply is not None and reply.quality is not None
    assert reply.quality.parts["median_fix_days"] == 11 and 0 <= reply.quality.score <= 100


async def test_after_a_run_every_replica_drops_its_cache(world: World, nats_url: str) -> None:
    import nats

    from centralcloud.runtime import app

    other = cache.ReadCache(ttl=60, max_size=10)
    replica = catalog.Catalog(database=world.database, sources={}, read_cache=other, request_timeout=1)
    await other.set("pkg:npm:lib-d:1000", b"stale")
    client = await nats.connect(nats_url)
    try:
        subscription = await client.subscribe(subjects.CACHE_INVALIDATE.name, cb=app._invalidator(replica))
        await client.flush()
        job = sync.SyncJob(database=world.database, the_catalog=world.catalog, options=sync.Options(), publish=client.publish)
        await run_once(job, packages=[names.PackageRef("npm", "lib-d")])
        for _ in range(50):
            if await other.get("pkg:npm:lib-d:1000") is None:
                break
            await asyncio.sleep(0.02)
        assert await other.get("pkg:npm:lib-d:1000") is None
        await subscription.unsubscribe()
    finally:
        await client.close()
