"""Benchmark: PackageSyncJob throughput against a local replay registry.

A registry process (separate from the service, so both get a core) serves npm packuments:
most of realistic size (the saved express packument under other names), a few of several
megabytes with thousands of versions. The job then runs three times over the same requested set:

  * new:             every package is new, so fetched, parsed and written;
  * unchanged:       the registry answers 304 to every conditional request;
  * one new version: every package has published one more version (the usual change), so
                     each is fetched and parsed again, and only what changed is written.

It prints packages per second for each, the rows each wrote per package, where the time goes
(HTTP, JSON decoding, mapping, writing to PostgreSQL) as shares of the summed per-package
time, and at the end the bytes stored per package (database size over stored packages, and
per table).

    python bench/bench_sync.py [--packages 2000] [--big 5] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import copy
import cProfile
import json
import multiprocessing
import pathlib
import pstats
import sys
import time

import aiohttp
import aiohttp.web

import servers
from centralcloud.facts import cache, catalog
from centralcloud.store import packages as store
from centralcloud.jobs import cleanup, scores
from centralcloud.jobs import runner as sync
from centralcloud.sources import http, npm

FIXTURE = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "npm" / "express.json"


def big_packument(name: str, versions: int) -> dict:
    template = json.loads(FIXTURE.read_text())
    manifest = template["versions"][template["dist-tags"]["latest"]]
    doc = {"name": name, "dist-tags": {"latest": f"1.{versions - 1}.0"}, "versions": {}, "time": {}}
    for i in range(versions):
        number = f"1.{i}.0"
        entry = copy.deepcopy(manifest)
        entry["name"], entry["version"] = name, number
        entry["readme"] = "x" * 200
        doc["versions"][number] = entry
        doc["time"][number] = f"2020-01-01T00:00:{i % 60:02d}.000Z"
    return doc


def with_new_version(doc: dict) -> dict:
    """The packument after one more release: a new latest version, like the one before it."""
    doc = copy.deepcopy(doc)
    latest = doc["dist-tags"]["latest"]
    number = "9999.0.0"
    doc["versions"][number] = dict(doc["versions"][latest], version=number)
    doc["time"][number] = "2030-01-01T00:00:00.000Z"
    doc["dist-tags"]["latest"] = number
    return doc


def serve_registry(port_queue: multiprocessing.Queue, packages: int, big: int, big_versions: int) -> None:
    template = json.loads(FIXTURE.read_text())
    documents: dict[str, dict] = {}
    for i in range(packages):
        name = f"pkg-{i}"
        documents[name] = big_packument(name, big_versions) if i < big else dict(template, name=name)
    bodies = {name: json.dumps(doc).encode() for name, doc in documents.items()}
    revision = 1

    async def handle(request: aiohttp.web.Request) -> aiohttp.web.Response:
        name = request.match_info["name"]
        body = bodies.get(name)
        if body is None:
            return aiohttp.web.Response(status=404)
        etag = f'"{name}-v{revision}"'
        if request.headers.get("If-None-Match") == etag:
            return aiohttp.web.Response(status=304, headers={"ETag": etag})
        return aiohttp.web.Response(body=body, content_type="application/json", headers={"ETag": etag})

    async def release(request: aiohttp.web.Request) -> aiohttp.web.Response:
        """Every package publishes one new version."""
        nonlocal revision
        for name, doc in documents.items():
            bodies[name] = json.dumps(with_new_version(doc)).encode()
        revision += 1
        return aiohttp.web.Response(text="ok")

    async def main() -> None:
        app = aiohttp.web.Application()
        app.router.add_post("/-/release", release)
        app.router.add_get("/{name}", handle)
        runner = aiohttp.web.AppRunner(app, access_log=None)
        await runner.setup()
        site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port_queue.put(runner.addresses[0][1])
        await asyncio.Event().wait()

    asyncio.run(main())


class Stopwatch:
    """Sums the wall time of every call to a wrapped coroutine or function, per stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = collections.defaultdict(float)

    def wrap_async(self, owner: object, attribute: str, stage: str) -> None:
        original = getattr(owner, attribute)

        async def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                self.seconds[stage] += time.perf_counter() - started

        setattr(owner, attribute, timed)

    def wrap(self, owner: object, attribute: str, stage: str) -> None:
        original = getattr(owner, attribute)

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[stage] += time.perf_counter() - started

        setattr(owner, attribute, timed)


async def run(job: sync.SyncJob) -> tuple[float, dict]:
    started = time.perf_counter()
    run_id, _ = await job.start(trigger="request")
    await job.wait()
    elapsed = time.perf_counter() - started
    [status] = await job.status(run_id)
    return elapsed, status


async def main(packages: int, big: int, big_versions: int, concurrency: int, profile: bool) -> None:
    queue: multiprocessing.Queue = multiprocessing.Queue()
    registry = multiprocessing.Process(target=serve_registry, args=(queue, packages, big, big_versions), daemon=True)
    registry.start()
    port = queue.get(timeout=120)
    registry_url = f"http://127.0.0.1:{port}"
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(registry.terminate)
        database = await servers.database(stack, max_size=20)
        await database.pool.execute("TRUNCATE packages, package_requests, sync_runs CASCADE")
        await database.pool.execute(
            "INSERT INTO package_requests (ecosystem, name) SELECT 'npm', 'pkg-' || i FROM generate_series(0, $1 - 1) AS i",
            packages,
        )
        connector = aiohttp.TCPConnector(limit=concurrency)
        session = aiohttp.ClientSession(connector=connector)
        stack.push_async_callback(session.close)
        source = npm.NpmSource(session=session, base_url=registry_url, policy=http.HttpPolicy())
        the_catalog = catalog.Catalog(
            database=database, sources={"npm": source},
            read_cache=cache.ReadCache(ttl=60, max_size=1000), request_timeout=30,
        )
        watch = Stopwatch()
        watch.wrap_async(http.HttpSource, "_request", "http (incl. JSON decoding)")
        watch.wrap(http.HttpSource, "_decode", "json decoding")
        watch.wrap_async(npm.NpmSource, "fetch", "fetch (http + decoding + mapping)")
        watch.wrap_async(store, "save_package", "writing to PostgreSQL")
        watch.wrap_async(scores, "compute", "scores")
        watch.wrap_async(cleanup, "remove_unused", "cleanup")
        # All requested packages are fetched in the first run (by default a run takes 1,000 never-stored ones).
        options = sync.Options(depth=0, concurrency={"npm": concurrency}, max_unknown=packages)
        job = sync.SyncJob(database=database, the_catalog=the_catalog, options=options)

        sizes = f"{packages - big} packuments of {FIXTURE.stat().st_size // 1024} KB"
        if big:
            sizes += f", {big} of {len(json.dumps(big_packument('x', big_versions))) / 1e6:.1f} MB ({big_versions} versions)"
        print(f"{packages} requested npm packages: {sizes}; concurrency {concurrency}")
        for label in ("new", "unchanged", "one new version"):
            if label == "one new version":
                async with session.post(f"{registry_url}/-/release") as response:
                    response.raise_for_status()
            watch.seconds.clear()
            mark = await transaction_mark(database)
            profiler = cProfile.Profile() if profile and label == "one new version" else None
            if profiler:
                profiler.enable()
            elapsed, status = await run(job)
            if profiler:
                profiler.disable()
            counts = status["counts"]["npm"]
            written = await rows_written(database, mark)
            print(
                f"{label:<16} {packages / elapsed:8.0f} packages/s  ({elapsed:.2f} s; updated {counts['updated']}, "
                f"unchanged {counts['unchanged']}, failed {counts['failed']})"
            )
            print("           rows written (inserted or updated) per package: " + ", ".join(
                f"{table} {count / packages:.1f}" for table, count in written.items() if count
            ))
            fetch = watch.seconds.get("fetch (http + decoding + mapping)", 0.0)
            http_seconds = watch.seconds.get("http (incl. JSON decoding)", 0.0)
            decode = watch.seconds.get("json decoding", 0.0)
            write = watch.seconds.get("writing to PostgreSQL", 0.0)
            stages = {
                "http": http_seconds - decode,
                "json decoding": decode,
                "mapping": max(fetch - http_seconds, 0.0),
                "writing": write,
            }
            total = sum(stages.values()) or 1.0
            after = watch.seconds.get("scores", 0.0) + watch.seconds.get("cleanup", 0.0)
            print(f"           of the run's {elapsed:.2f} s, {after:.2f} s went to quality scores and clean-up after syncing")
            print("           summed per-package time: " + ", ".join(
                f"{name} {seconds:.1f} s ({100 * seconds / total:.0f}%)" for name, seconds in stages.items()
            ))
            if profiler:
                print("           where this process spent its time (cProfile, own time, top 12):")
                stats = pstats.Stats(profiler, stream=sys.stdout)
                stats.sort_stats("tottime").print_stats(12)
                print("           and in the sync's stages (cumulative):")
                stats.sort_stats("cumulative").print_stats(r"\((_request|_facts|save_package|version_list|_read)\)")
        await storage(database)


TABLES = ("packages", "versions", "dependencies", "package_version_lists")


async def transaction_mark(database) -> int:
    """A transaction id below every row version written from now on (a fresh database: no wraparound)."""
    return await database.pool.fetchval("SELECT pg_current_xact_id()::text::bigint")


async def rows_written(database, since: int) -> dict[str, int]:
    """Rows whose current version was written (inserted or updated) after `since`, per table."""
    return {
        table: await database.pool.fetchval(f"SELECT count(*) FROM {table} WHERE xmin::text::bigint > $1", since)
        for table in TABLES
        if await database.pool.fetchval("SELECT to_regclass($1) IS NOT NULL", table)
    }


async def storage(database) -> None:
    """Bytes per stored package: the whole database, and each table with its indexes and TOAST."""
    await database.pool.execute("VACUUM ANALYZE")
    stored = await database.pool.fetchval("SELECT count(*) FROM packages")
    size = await database.pool.fetchval("SELECT pg_database_size(current_database())")
    print(f"storage: {size / stored:,.0f} bytes per package (database size {size / 1e6:.1f} MB / {stored} packages)")
    rows = await database.pool.fetch(
        "SELECT c.relname, pg_total_relation_size(c.oid) AS total, pg_relation_size(c.oid) AS heap"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY 2 DESC LIMIT 6"
    )
    print("           by table (with indexes and TOAST): " + ", ".join(
        f"{row['relname']} {row['total'] / stored:,.0f}" for row in rows
    ))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packages", type=int, default=2000)
    parser.add_argument("--big", type=int, default=5, help="multi-megabyte packuments among them")
    parser.add_argument("--big-versions", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--profile", action="store_true", help="profile the one-new-version run (cProfile)")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop (pip install uvloop) instead of asyncio's loop, which `centralcloud serve` runs on")
    arguments = parser.parse_args()
    if arguments.uvloop:
        import uvloop

        uvloop.install()
    asyncio.run(main(
        arguments.packages, arguments.big, arguments.big_versions, arguments.concurrency, arguments.profile
    ))
