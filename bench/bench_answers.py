"""Benchmark: the answers with their packages stored, in process (no NATS hop), cache off.

Issue 9's targets: `recommend` at most 5 ms at p95; `dependencies` for a 70-package npm tree at
most 30 ms; `recommendations` at most 50 ms over 100,000 stored packages without discovery.

It stores the express 4.21.2 tree (66 packages) from the saved registry documents in
tests/fixtures/answers/ through the service's own on-demand fetching, adds 100,000 generated
packages whose descriptions mix a small vocabulary, then times each answer with the read cache
off (every call reads PostgreSQL) and, for comparison, with it on. Uses a database of its own on
CENTRALCLOUD_TEST_DATABASE_URL's server (dropped after), else embedded PostgreSQL.

    python bench/bench_answers.py [--rounds 200] [--packages 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import pathlib
import statistics
import sys
import time
import urllib.parse
import uuid

import aiohttp
import asyncpg
import msgspec

import servers
from centralcloud.answers import bundle, service
from centralcloud.facts import cache, catalog
from centralcloud.sources import http, npm
from centralcloud.store import db, migrations
from centralcloud.wire import messages

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests"))
import replay  # noqa: E402

PACKUMENTS = replay.FIXTURES / "answers" / "npm" / "packuments"
WORDS = ("task", "scheduler", "async", "runtime", "web", "framework", "http", "client", "parser", "json",
         "logging", "queue", "cron", "database", "driver", "orm", "testing", "mock", "cache", "template")  # fmt: skip


@contextlib.asynccontextmanager
async def own_database():
    dsn = os.environ.get("CENTRALCLOUD_TEST_DATABASE_URL")
    async with contextlib.AsyncExitStack() as stack:
        if not dsn:
            yield await servers.database(stack)
            return
        name = f"cc_bench_answers_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(dsn)
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            parts = urllib.parse.urlsplit(dsn)
            database = await db.Database.connect(urllib.parse.urlunsplit(parts._replace(path="/" + name)))
            try:
                await migrations.migrate(database)
                yield database
            finally:
                await database.close()
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()


async def fill(database: db.Database, count: int) -> None:
    """`count` generated npm and cargo packages with one version each, described by three vocabulary words."""
    script = f"""
    WITH made AS (
        INSERT INTO packages (ecosystem, name, display_name, description, latest_version, downloads, search_vector)
        SELECT CASE WHEN g % 2 = 0 THEN 'npm' ELSE 'cargo' END, 'gen-' || g, 'gen-' || g, d.text, '1.0.0', g * 7 % 100000,
               setweight(to_tsvector('simple', 'gen-' || g), 'A') || setweight(to_tsvector('english', d.text), 'C')
        FROM generate_series(1, {count}) AS g,
             LATERAL (SELECT (ARRAY{list(WORDS)!r})[1 + g % {len(WORDS)}] || ' ' ||
                             (ARRAY{list(WORDS)!r})[1 + (g / 7) % {len(WORDS)}] || ' ' ||
                             (ARRAY{list(WORDS)!r})[1 + (g / 49) % {len(WORDS)}] || ' library' AS text) d
        RETURNING id
    )
    INSERT INTO versions (package_id, number, published_at, dependencies) SELECT id, '1.0.0', now(), '[]' FROM made;
    ANALYZE;
    """
    await database.execute_script(script)


async def timed(call, rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def summary(label: str, samples: list[float], target: float) -> str:
    ordered = sorted(samples)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    verdict = "within" if p95 <= target else "OVER"
    return f"{label:<52} p50 {statistics.median(ordered):7.2f} ms  p95 {p95:7.2f} ms  ({verdict} {target:g} ms)"


async def main(rounds: int, packages: int) -> None:
    async with own_database() as database, replay.ReplayServer() as registry, aiohttp.ClientSession() as session:
        for path in PACKUMENTS.glob("*.json"):
            registry.add(f"/{path.stem}", replay.Reply(body=path.read_bytes(), headers={"Content-Type": "application/json"}))
        policy = http.HttpPolicy(timeout=10)
        results = []
        for ttl, label in ((0.0, "cache off"), (300.0, "cache on")):
            the_catalog = catalog.Catalog(
                database=database, sources={"npm": npm.NpmSource(session=session, base_url=registry.url, policy=policy)},
                read_cache=cache.ReadCache(ttl=ttl, max_size=10000), request_timeout=30,
            )
            answers = bundle.build(the_catalog, options=service.Options(deadline=30))
            deps = messages.DependenciesRequest(purl="pkg:npm/express@4.21.2")
            tree = msgspec.json.decode(await answers.answers.dependencies(deps))
            if ttl == 0.0:
                print(f"stored the express tree: {len(tree['nodes'])} packages, complete={tree['complete']}")
                started = time.perf_counter()
                await fill(database, packages)
                print(f"generated {packages} packages in {time.perf_counter() - started:.1f} s")
            gc.freeze()  # as the service does once it serves (runtime/app.py)
            recommend = messages.RecommendRequest(purl="pkg:npm/express", requirement="^4")
            needs = messages.RecommendationsRequest(need="task scheduler", discover=False)
            results.append(summary(f"recommend express ^4 ({label})", await timed(lambda: answers.answers.recommend(recommend), rounds), 5))
            results.append(summary(f"dependencies express@4.21.2, {len(tree['nodes'])} packages ({label})",
                                   await timed(lambda: answers.answers.dependencies(deps), max(rounds // 4, 10)), 30))  # fmt: skip
            results.append(summary(f"recommendations 'task scheduler', {packages} stored ({label})",
                                   await timed(lambda: answers.needs.recommendations(needs), max(rounds // 4, 10)), 50))  # fmt: skip
            await answers.close()
            await the_catalog.close()
        print("\n".join(results))
        print("(2 shared cores: figures are noisy while other work runs)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--packages", type=int, default=100_000)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.rounds, arguments.packages))
