"""Benchmark: dependency reports through JetStream into PostgreSQL, and the pattern answers.

The data set of issue 8: reports with 50 direct and 200 dependencies in all, from 200
instances and 2,000 projects, drawn from a pool of packages with a long-tailed popularity.
Reports are published into the stream first and then taken in by the real consumer
(`edge.streams.ReportConsumer` → `facts.knowledge`), so the rate is the consumer's alone.
It prints:

  * ingest rate of new reports, and of unchanged re-reports (digest equal: "last seen" only);
  * the pairs recompute time after growing to 10,000 projects;
  * p50/p95 of usage, pairs and popular computed from PostgreSQL (the read cache off; a
    cached answer is a dictionary lookup);
  * the bytes the pattern tables take per project.

    python bench/bench_reports.py [--projects 2000] [--instances 200] [--grow-to 10000]

Uses CENTRALCLOUD_TEST_DATABASE_URL's server (a database of its own) or embedded PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import time
import urllib.parse
import uuid

import asyncpg
import nats

import servers
from centralcloud.edge import streams
from centralcloud.facts import cache, knowledge
from centralcloud.store import db, migrations
from centralcloud.store import patterns as store_patterns

POOL = 3000


def package_pool(rng: random.Random) -> list[str]:
    ecosystems = ["npm"] * 6 + ["pypi"] * 2 + ["cargo", "hex"]
    # Hex names take no hyphen.
    return [f"pkg:{ecosystem}/lib{'_' if ecosystem == 'hex' else '-'}{i}"
            for i, ecosystem in ((i, ecosystems[i % len(ecosystems)]) for i in range(POOL))]


def report(rng: random.Random, pool: list[str], project: str) -> bytes:
    # Long tail: a few packages in most projects, most packages in few.
    chosen: set[int] = set()
    while len(chosen) < 200:
        chosen.add(min(int(rng.paretovariate(0.6)) - 1, POOL - 1))
    ordered = sorted(chosen)
    rng.shuffle(ordered)
    deps = [{"purl": f"{pool[i]}@1.{i % 7}.0", "direct": n < 50} for n, i in enumerate(ordered)]
    return json.dumps({"project": project, "dependencies": deps}).encode()


async def fresh_database(stack: contextlib.AsyncExitStack) -> db.Database:
    dsn = os.environ.get("CENTRALCLOUD_TEST_DATABASE_URL")
    if not dsn:
        return await servers.database(stack, max_size=12)
    name = f"cc_bench_reports_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')

    async def drop() -> None:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()

    stack.push_async_callback(drop)
    parts = urllib.parse.urlsplit(dsn)
    database = await db.Database.connect(urllib.parse.urlunsplit(parts._replace(path="/" + name)), max_size=12)
    stack.push_async_callback(database.close)
    await migrations.migrate(database)
    return database


async def ingest(js: object, database: db.Database, the_knowledge: knowledge.Knowledge, bodies: list[tuple[str, bytes]],
                 options: streams.Settings, *, done_sql: str, target: int) -> float:
    for subject, body in bodies:
        await js.publish(subject, body)  # type: ignore[attr-defined]
    stop = asyncio.Event()
    consumer = streams.ReportConsumer(js=js, the_knowledge=the_knowledge, settings=options)
    started = time.perf_counter()
    task = asyncio.create_task(consumer.run(stop))
    while await database.pool.fetchval(done_sql) < target:
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - started
    stop.set()
    await task
    return elapsed


async def timed(calls: int, work: object) -> tuple[float, float]:
    times = []
    for i in range(calls):
        begin = time.perf_counter()
        await work(i)  # type: ignore[operator]
        times.append((time.perf_counter() - begin) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


async def main(args: argparse.Namespace) -> None:
    rng = random.Random(8)
    pool = package_pool(rng)
    async with contextlib.AsyncExitStack() as stack:
        database = await fresh_database(stack)
        url = await servers.nats_url(stack)
        client = await nats.connect(url)
        stack.push_async_callback(client.close)
        js = client.jetstream()
        options = streams.Settings(concurrency=args.concurrency)
        await streams.ensure_streams(js, options)
        uncached = knowledge.Knowledge(database=database, read_cache=cache.ReadCache(ttl=0, max_size=1))
        subject = "centralcloud.patterns.report.inst-{}"
        bodies = [(subject.format(p % args.instances), report(rng, pool, f"proj-{p}")) for p in range(args.projects)]
        seconds = await ingest(js, database, uncached, bodies, options,
                               done_sql="SELECT count(*) FROM reported_projects", target=args.projects)
        print(f"ingest, new reports: {args.projects / seconds:,.0f} reports/s ({args.projects} in {seconds:.1f} s; "
              f"{args.projects * 200 / seconds:,.0f} dependency rows/s)")
        # Every project reports its unchanged set three times over, so the run outlasts the
        # consumer's start by far.
        last = await database.pool.fetchval("SELECT max(stream_seq) FROM reported_projects")
        seconds = await ingest(js, database, uncached, bodies * 3, options,
                               done_sql=f"SELECT count(*) FROM reported_projects WHERE stream_seq > {last + 2 * args.projects}",
                               target=args.projects)
        print(f"ingest, unchanged re-reports: {3 * args.projects / seconds:,.0f} reports/s")

        begin = time.perf_counter()
        await uncached.recompute()
        print(f"recompute at {args.projects} projects: {time.perf_counter() - begin:.2f} s")
        size = await store_patterns.storage_bytes(database)
        print(f"pattern tables: {size / args.projects / 1024:.1f} KiB per project ({size / 2**20:.0f} MiB)")

        hot = [("npm", "lib-0"), ("pypi", "lib-6"), ("npm", "lib-30"), ("cargo", "lib-8"), ("npm", "lib-301")]
        for name, work in (
            ("usage", lambda i: uncached.usage(hot[i % len(hot)])),
            ("pairs", lambda i: uncached.pairs(hot[i % len(hot)], limit=10)),
            ("popular packages", lambda i: uncached.popular(kind="packages", ecosystem=None if i % 2 else "npm", limit=20)),
            ("popular pairs", lambda i: uncached.popular(kind="pairs", ecosystem=None, limit=20)),
        ):
            p50, p95 = await timed(200, work)
            print(f"{name} from PostgreSQL: p50 {p50:.2f} ms, p95 {p95:.2f} ms")

        if args.grow_to > args.projects:
            more = [(subject.format(p % args.instances), report(rng, pool, f"proj-{p}")) for p in range(args.projects, args.grow_to)]
            await ingest(js, database, uncached, more, options, done_sql="SELECT count(*) FROM reported_projects", target=args.grow_to)
            begin = time.perf_counter()
            transactions = await uncached.recompute()
            pairs = await database.pool.fetchval("SELECT count(*) FROM package_pairs")
            print(f"pairs recompute at {transactions} projects: {time.perf_counter() - begin:.2f} s ({pairs:,} pairs kept)")
            size = await store_patterns.storage_bytes(database)
            print(f"pattern tables: {size / args.grow_to / 1024:.1f} KiB per project ({size / 2**20:.0f} MiB)")
    print("(the machine is shared with other work: figures are noisy)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=2000)
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--grow-to", type=int, default=10000)
    parser.add_argument("--concurrency", type=int, default=4)
    asyncio.run(main(parser.parse_args()))
