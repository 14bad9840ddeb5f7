"""Benchmark: `centralcloud.packages.search` over a large store, and typo-tolerant name search.

For each size, seeds a database of its own with that many packages (bulk COPY), whose
descriptions and keywords draw on a Zipf-distributed vocabulary where "web", "framework",
"http", "client", "async" and "parser" are among the commonest words, with log-normal
downloads, GitHub stars for a third of them and a few deprecated ones. Then starts the real
service handlers over NATS and sends distinct one- to three-word queries one at a time
(each query once, so the read cache cannot help), printing p50 and p95.

Last, at the largest size, the in-memory name index used where pg_trgm is missing: how long
it takes to build, its memory, and typo queries over NATS through the same handlers.

Uses the PostgreSQL server of CENTRALCLOUD_TEST_DATABASE_URL when set (a database of its own
is created there and dropped after), else embedded PostgreSQL.

    python bench/bench_search.py [--sizes 100000,1000000] [--queries 300]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import statistics
import time
import tracemalloc
import urllib.parse
import uuid

import asyncpg
import nats

import servers
from nats.micro import request as micro_request

from centralcloud.facts import name_index
from centralcloud.edge import endpoint, handlers
from centralcloud.facts import cache, catalog
from centralcloud.store import db, migrations

SEARCH = "centralcloud.packages.search"
COMMON = ["web", "framework", "http", "client", "async", "parser"]
ECOSYSTEMS = ["npm"] * 5 + ["pypi"] * 3 + ["cargo"] * 2 + ["hex"]
SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"] + ["qu", "th", "sh", "ch", "xy"]


def vocabulary(size: int, rng: random.Random) -> list[str]:
    """Words by rank: a handful of real ones on top (the common ones among them), then made-up ones."""
    real = ["the", "for", *COMMON[:2], "library", "fast", *COMMON[2:4], "simple", "tool", *COMMON[4:],
            "server", "json", "api", "data", "test", "react", "plugin", "database", "cli", "rust", "python"]
    words = list(dict.fromkeys(real))
    seen = set(words)
    while len(words) < size:
        word = "".join(rng.choices(SYLLABLES, k=rng.randint(2, 4)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def zipf_weights(size: int, exponent: float = 1.0) -> list[float]:
    return list(itertools.accumulate(1.0 / (rank**exponent) for rank in range(1, size + 1)))


def package_rows(count: int, words: list[str], rng: random.Random) -> tuple[list[tuple], list[tuple]]:
    """(repositories, packages) rows for COPY; package names are unique per ecosystem."""
    weights = zipf_weights(len(words))
    lengths = [rng.randint(4, 14) for _ in range(count)]
    drawn = iter(rng.choices(words, cum_weights=weights, k=sum(lengths) + 4 * count))
    repositories: list[tuple] = []
    packages: list[tuple] = []
    for index in range(count):
        stem = "".join(rng.choices(SYLLABLES, k=rng.randint(2, 4)))
        name = f"{stem}-{next(drawn)}-{index}" if rng.random() < 0.5 else f"{stem}{index}"
        description = " ".join(next(drawn) for _ in range(lengths[index])).capitalize()
        keywords = sorted({next(drawn) for _ in range(3)})
        repository_id = None
        if rng.random() < 0.33:
            repository_id = len(repositories) + 1
            stars = int(rng.lognormvariate(3, 2.2))
            repositories.append((repository_id, f"https://github.com/bench/{name}", "github.com", stars))
        downloads = int(rng.lognormvariate(6, 3))
        deprecated = rng.random() < 0.03
        packages.append((rng.choice(ECOSYSTEMS), name, name, description, keywords, downloads, deprecated, repository_id))
    famous = [
        ("pypi", "django", "A high-level Python web framework that encourages rapid development and clean, pragmatic design.",
         ["django", "web", "framework"], 30_000_000),
        ("pypi", "flask", "A simple framework for building complex web applications.", ["flask", "wsgi", "web"], 90_000_000),
        ("npm", "express", "Fast, unopinionated, minimalist web framework", ["express", "framework", "web", "http"], 150_000_000),
    ]
    for ecosystem, name, description, keywords, downloads in famous:
        packages.append((ecosystem, name, name, description, keywords, downloads, False, None))
    return repositories, packages


async def seed(database: db.Database, count: int, rng: random.Random) -> list[str]:
    """Load `count` packages in bulk; returns the vocabulary by rank."""
    words = vocabulary(20_000, rng)
    repositories, packages = package_rows(count, words, rng)
    async with database.pool.acquire() as connection:
        await connection.copy_records_to_table(
            "repositories", records=repositories, columns=["id", "url", "host", "stars"]
        )
        await connection.execute(
            "CREATE TEMPORARY TABLE seed (ecosystem text, name text, display_name text, description text,"
            " keywords text[], downloads bigint, deprecated boolean, repository_id bigint)"
        )
        await connection.copy_records_to_table(
            "seed", records=packages,
            columns=["ecosystem", "name", "display_name", "description", "keywords", "downloads", "deprecated",
                     "repository_id"],
        )
        # The same document save_package builds, through the schema's own function.
        await connection.execute(
            "INSERT INTO packages (ecosystem, name, display_name, description, keywords, downloads, deprecated,"
            " repository_id, latest_version, search_vector)"
            " SELECT ecosystem, name, display_name, description, keywords, downloads, deprecated, repository_id,"
            " '1.0.0', package_search_vector(display_name, keywords, description) FROM seed",
            timeout=3600,
        )
        await connection.execute("DROP TABLE seed")
        await connection.execute("SELECT setval('repositories_id_seq', (SELECT max(id) FROM repositories))")
        await connection.execute("VACUUM ANALYZE packages", timeout=3600)
        await connection.execute("VACUUM ANALYZE repositories", timeout=3600)
    return words


def queries(words: list[str], count: int, rng: random.Random) -> list[str]:
    """Distinct one- to three-word queries, words drawn by the same Zipf law as the documents
    (so most queries carry common words, as users' do) from the 2,000 commonest words."""
    head = words[:2000]
    weights = zipf_weights(len(head))
    found: dict[str, None] = {}
    while len(found) < count:
        query = " ".join(rng.choices(head, cum_weights=weights, k=rng.choice([1, 2, 2, 3])))
        if len(set(query.split())) == len(query.split()):
            found[query] = None
    return list(found)


def typo(name: str, rng: random.Random) -> str:
    """One edit a person makes: a swap of neighbours, a dropped, doubled or replaced letter."""
    position = rng.randrange(1, len(name) - 1)
    kind = rng.choice(["swap", "drop", "double", "replace"])
    if kind == "swap":
        return name[:position] + name[position + 1] + name[position] + name[position + 2:]
    if kind == "drop":
        return name[:position] + name[position + 1:]
    if kind == "double":
        return name[:position] + name[position] + name[position:]
    return name[:position] + rng.choice("aeioubcdfgklmnprst") + name[position + 1:]


def percentiles(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    return f"p50 {statistics.median(ordered) * 1000:7.2f} ms   p95 {p95 * 1000:7.2f} ms   max {ordered[-1] * 1000:7.2f} ms"


async def ask_all(client: nats.NATS, payloads: list[bytes]) -> tuple[list[float], list[dict]]:
    latencies, replies = [], []
    for payload in payloads:
        started = time.perf_counter()
        reply = await client.request(SEARCH, payload, timeout=60)
        latencies.append(time.perf_counter() - started)
        if reply.headers and reply.headers.get(micro_request.ERROR_CODE_HEADER):
            raise RuntimeError(f"error reply: {reply.data[:200]!r}")
        replies.append(json.loads(reply.data))
    return latencies, replies


@contextlib.asynccontextmanager
async def own_database(stack: contextlib.AsyncExitStack, *, label: str):
    """A migrated database of this run's own on the test server, or a fresh embedded server."""
    dsn = os.environ.get("CENTRALCLOUD_TEST_DATABASE_URL")
    if not dsn:
        async with contextlib.AsyncExitStack() as inner:
            yield await servers.database(inner)
        return
    name = f"cc_bench_search_{label}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        database = await db.Database.connect(urllib.parse.urlsplit(dsn)._replace(path="/" + name).geturl())
        try:
            await migrations.migrate(database)
            yield database
        finally:
            await database.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def run_size(nats_url: str, count: int, query_count: int, *, typos: bool) -> None:
    rng = random.Random(count)
    async with contextlib.AsyncExitStack() as stack:
        database = await stack.enter_async_context(own_database(stack, label=str(count)))
        started = time.perf_counter()
        words = await seed(database, count, rng)
        size = await database.pool.fetchval("SELECT pg_size_pretty(pg_database_size(current_database()))")
        print(f"\n{count:,} packages seeded in {time.perf_counter() - started:.1f} s (database {size})")

        the_catalog = catalog.Catalog(
            database=database, sources={}, read_cache=cache.ReadCache(ttl=3600, max_size=10000), request_timeout=10
        )
        client = await nats.connect(nats_url)
        stack.push_async_callback(client.close)
        limits = endpoint.Limits()
        svc = await endpoint.start(client, handlers=handlers.Handlers(the_catalog).table(), limits=limits,
                                  queue_group=f"bench-{count}")
        stack.push_async_callback(endpoint.stop, svc, limits)

        texts = queries(words, query_count, rng)
        payloads = [json.dumps({"query": text, "limit": 20}).encode() for text in texts]
        await ask_all(client, [json.dumps({"query": w, "limit": 20}).encode() for w in words[2000:2010]])  # warm-up
        latencies, replies = await ask_all(client, payloads)
        empty = sum(1 for reply in replies if not reply["hits"])
        print(f"search, {len(texts)} distinct queries   {percentiles(latencies)}   ({empty} found nothing)")
        for text in ("web framework", "http client", "async parser"):
            _, [reply] = await ask_all(client, [json.dumps({"query": text, "limit": 5}).encode()])
            print(f"  {text!r}: {', '.join(hit['name'] for hit in reply['hits'])}")

        if not typos:
            return
        tracemalloc.start()
        started = time.perf_counter()
        index = await name_index.NameIndex.load(database)
        built = time.perf_counter() - started
        current, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"name index over {len(index):,} names: built in {built:.1f} s, {current / 2**20:.0f} MiB")
        the_catalog.names = index
        the_catalog.fuzzy_search = False
        names = await database.pool.fetch(
            "SELECT name FROM packages WHERE length(name) BETWEEN 6 AND 14 ORDER BY random() LIMIT $1", query_count
        )
        misspelt = list(dict.fromkeys(typo(row["name"], rng) for row in names))
        wanted = {typo_text: row["name"] for typo_text, row in zip(misspelt, names)}
        typo_payloads = [json.dumps({"query": text, "limit": 10}).encode() for text in misspelt]
        latencies, replies = await ask_all(client, typo_payloads)
        hit = sum(1 for text, reply in zip(misspelt, replies) if wanted[text] in {h["name"] for h in reply["hits"]})
        print(f"typo search over NATS, {len(misspelt)} misspelt names   {percentiles(latencies)}   "
              f"(intended package found for {hit})")
        started_each = []
        for text in misspelt:
            started = time.perf_counter()
            index.match(text, ecosystem=None, limit=10)
            started_each.append(time.perf_counter() - started)
        print(f"name index match alone                  {percentiles(started_each)}")


async def main(sizes: list[int], query_count: int) -> None:
    async with contextlib.AsyncExitStack() as stack:
        nats_url = await servers.nats_url(stack)
        for count in sizes:
            await run_size(nats_url, count, query_count, typos=count == max(sizes))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated package counts")
    parser.add_argument("--queries", type=int, default=300)
    arguments = parser.parse_args()
    asyncio.run(main([int(size) for size in arguments.sizes.split(",")], arguments.queries))
