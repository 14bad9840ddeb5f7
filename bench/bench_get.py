"""Benchmark: `centralcloud.packages.get` over NATS under many concurrent requesters, cached and cold.

Starts what it needs (embedded PostgreSQL and nats-server unless CENTRALCLOUD_TEST_DATABASE_URL
/ CENTRALCLOUD_TEST_NATS_URL are given), a local registry serving the saved express packument grown to
290 versions (as many as express has), and the
service in this process, then measures, in the same run:

  * baseline: a no-op nats.micro endpoint replying with the very bytes packages.get sends,
  * packages.get for a package already in the cache,
  * packages.get with the read cache off (cold: every request reads PostgreSQL), and
  * the same for 256 packages asked in turn (cold-distinct: the registry serves the same
    packument under each name, so replies differ from express's only in the name),

each driven by the same number of concurrent requesters over separate connections; then the
cold path again, served by `centralcloud serve --workers N` in processes of its own for each
N given (1 and 2 by default). Prints requests per second, p50/p99 latency, and the ratios
against the baseline.

    python bench/bench_get.py [--requests 20000] [--concurrency 64] [--paths cached,cold,cold-distinct] [--workers 1,2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import pathlib
import signal
import statistics
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import aiohttp.web
import nats
from nats.micro import request as micro_request
from nats.micro import service as micro

import servers
from centralcloud.edge import endpoint, handlers
from centralcloud.facts import cache, catalog
from centralcloud.sources import http, npm

DISTINCT = 256
"""Packages the cold-distinct path asks for in turn."""

FIXTURE = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "npm" / "express.json"


def packument(versions: int = 290) -> bytes:
    """The saved express packument grown to `versions` versions, as many as express has.

    The saved one keeps 10; the others copy a 4.x manifest under 4.<minor>.<patch> numbers,
    published a few days apart.
    """
    doc = json.loads(FIXTURE.read_text())
    template = doc["versions"]["4.21.2"]
    started = dt.datetime(2014, 4, 9, tzinfo=dt.timezone.utc)
    index = 0
    while len(doc["versions"]) < versions:
        number = f"4.{index // 10}.{index % 10}"
        if number not in doc["versions"]:
            doc["versions"][number] = dict(template, version=number)
            doc["time"][number] = (started + dt.timedelta(days=11 * index, seconds=index)).isoformat()
        index += 1
    return json.dumps(doc).encode()


async def registry() -> tuple[aiohttp.web.AppRunner, str]:
    body = packument()

    async def serve_packument(request: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.Response(body=body, content_type="application/json")

    app = aiohttp.web.Application()
    app.router.add_get("/{name}", serve_packument)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, f"http://127.0.0.1:{port}"


async def drive(
    url: str, subject: str, payload: bytes | list[bytes], *, requests: int, concurrency: int
) -> tuple[float, list[float]]:
    """Send `requests` requests from `concurrency` requesters; a list of payloads is sent in turn."""
    payloads = payload if isinstance(payload, list) else [payload]
    clients = [await nats.connect(url) for _ in range(min(concurrency, 8))]
    latencies: list[float] = []
    remaining = requests

    async def worker(index: int) -> None:
        nonlocal remaining
        client = clients[index % len(clients)]
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            reply = await client.request(subject, payloads[remaining % len(payloads)], timeout=30)
            latencies.append(time.perf_counter() - started)
            if reply.headers and reply.headers.get(micro_request.ERROR_CODE_HEADER):
                raise RuntimeError(f"error reply: {reply.data[:200]!r}")

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    elapsed = time.perf_counter() - started
    for client in clients:
        await client.close()
    return elapsed, latencies


def describe(label: str, elapsed: float, latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    figures = {
        "rps": len(ordered) / elapsed,
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[int(len(ordered) * 0.99) - 1] * 1000,
    }
    print(f"{label:<28} {figures['rps']:>10.0f} req/s   p50 {figures['p50_ms']:7.2f} ms   p99 {figures['p99_ms']:7.2f} ms")
    return figures


@contextlib.asynccontextmanager
async def service(client: nats.NATS, the_catalog: catalog.Catalog, *, concurrency: int) -> AsyncIterator[None]:
    """The packages endpoints over `the_catalog`, for the time of one scenario."""
    limits = endpoint.Limits(max_concurrency=concurrency)
    table = handlers.Handlers(the_catalog)
    # As `centralcloud serve` starts it: cached answers are sent before a task or a slot is taken.
    svc = await endpoint.start(
        client, handlers=table.table(), cached=table.cached_table(), limits=limits, queue_group="bench"
    )
    await client.flush()
    try:
        yield
    finally:
        await endpoint.stop(svc, limits)


@contextlib.asynccontextmanager
async def noop_service(client: nats.NATS, reply: bytes) -> AsyncIterator[None]:
    """A nats.micro endpoint that answers every request with `reply` and does nothing else."""

    async def noop(request: micro.Request) -> None:
        await request.respond(reply)

    baseline = micro.Service(client, micro.ServiceConfig(name="noop", version="0.0.1", description="baseline", metadata={}))
    await baseline.start()
    await baseline.add_endpoint(name="noop", subject="bench.noop", handler=noop, metadata={})
    await client.flush()
    try:
        yield
    finally:
        await baseline.stop()


@contextlib.asynccontextmanager
async def serve_processes(
    *, workers: int, database_url: str, nats_url: str, registry_url: str, cache_ttl: float, queue_group: str
) -> AsyncIterator[None]:
    """`centralcloud serve --workers N` on the bench's database and NATS, until every worker has joined."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CENTRALCLOUD_")} | {
        "CENTRALCLOUD_DATABASE_URL": database_url,
        "CENTRALCLOUD_NATS_URL": nats_url,
        "CENTRALCLOUD_NPM_URL": registry_url,
        "CENTRALCLOUD_CACHE_TTL": str(cache_ttl),
        "CENTRALCLOUD_QUEUE_GROUP": queue_group,
        "CENTRALCLOUD_SYNC_ENABLED": "false",
        "CENTRALCLOUD_LOG_LEVEL": "WARNING",
        # Nothing else is asked during the bench; unreachable so nothing waits on it.
        "CENTRALCLOUD_OSV_URL": "http://127.0.0.1:9",
        "CENTRALCLOUD_GITHUB_URL": "http://127.0.0.1:9",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "centralcloud", "serve", "--workers", str(workers), env=env
    )
    client = await nats.connect(nats_url)
    seen: set[str] = set()

    async def pong(msg: Any) -> None:
        if msg.data:  # an empty message says nobody answers yet
            seen.add(json.loads(msg.data)["id"])

    try:
        for _ in range(600):
            inbox = client.new_inbox()
            seen.clear()
            subscription = await client.subscribe(inbox, cb=pong)
            await client.publish("$SRV.PING.centralcloud", b"", reply=inbox)
            await asyncio.sleep(0.2)
            await subscription.unsubscribe()
            if len(seen) >= workers:
                break
        else:
            raise RuntimeError(f"only {len(seen)} of {workers} service processes came up")
        yield
    finally:
        await client.close()
        process.send_signal(signal.SIGTERM)
        await process.wait()


def ratio(label: str, figures: dict[str, float], baseline: dict[str, float]) -> None:
    print(
        f"ratio {label} / no-op: throughput {figures['rps'] / baseline['rps']:.2f}x, "
        f"p50 {figures['p50_ms'] / baseline['p50_ms']:.2f}x, p99 {figures['p99_ms'] / baseline['p99_ms']:.2f}x"
    )


async def main(requests: int, concurrency: int, max_versions: int, paths: list[str], worker_counts: list[int]) -> None:
    async with contextlib.AsyncExitStack() as stack:
        database = await servers.database(stack)
        await database.pool.execute("TRUNCATE packages CASCADE")  # fetched afresh from the local registry
        nats_url = await servers.nats_url(stack)
        runner, registry_url = await registry()
        stack.push_async_callback(runner.cleanup)
        session = aiohttp.ClientSession()
        stack.push_async_callback(session.close)

        def make_catalog(cache_ttl: float) -> catalog.Catalog:
            return catalog.Catalog(
                database=database,
                sources={"npm": npm.NpmSource(session=session, base_url=registry_url, policy=http.HttpPolicy())},
                read_cache=cache.ReadCache(ttl=cache_ttl, max_size=1000),
                request_timeout=10,
            )

        client = await nats.connect(nats_url)
        stack.push_async_callback(client.close)
        payload = json.dumps({"ecosystem": "npm", "name": "express", "max_versions": max_versions}).encode()
        # The same packument under other names: as many distinct packages as a batch can hold and more.
        distinct = [
            json.dumps({"ecosystem": "npm", "name": f"express-{i}", "max_versions": max_versions}).encode()
            for i in range(DISTINCT)
        ]
        async with service(client, make_catalog(0), concurrency=concurrency):
            warm = await client.request("centralcloud.packages.get", payload, timeout=30)  # fetched and stored
            assert not (warm.headers or {}).get(micro_request.ERROR_CODE_HEADER), warm.data
            warm = await client.request("centralcloud.packages.get", payload, timeout=30)
        reply = warm.data
        stored = json.loads(reply)

        print(
            f"requests per scenario: {requests}, concurrent requesters: {concurrency}, reply size: {len(reply)} bytes "
            f"({len(stored['versions'])} of {stored['versions_total']} versions)"
        )
        async with noop_service(client, reply):
            await drive(nats_url, "bench.noop", b"{}", requests=min(2000, requests), concurrency=concurrency)  # warm-up
            noop_figures = describe(
                "no-op, same bytes", *await drive(nats_url, "bench.noop", b"{}", requests=requests, concurrency=concurrency)
            )
        for path in paths:
            asked: bytes | list[bytes] = distinct if path == "cold-distinct" else payload
            async with service(client, make_catalog(3600 if path == "cached" else 0), concurrency=concurrency):
                if path == "cold-distinct":
                    for one in distinct:  # fetched and stored
                        stored_reply = await client.request("centralcloud.packages.get", one, timeout=30)
                        assert not (stored_reply.headers or {}).get(micro_request.ERROR_CODE_HEADER), stored_reply.data
                await drive(nats_url, "centralcloud.packages.get", asked, requests=min(500, requests), concurrency=concurrency)
                figures = describe(
                    f"packages.get ({path})",
                    *await drive(nats_url, "centralcloud.packages.get", asked, requests=requests, concurrency=concurrency),
                )
            ratio(f"packages.get ({path})", figures, noop_figures)
        for count in worker_counts:
            # Separate processes: the same service as `centralcloud serve --workers N` runs it.
            async with serve_processes(
                workers=count, database_url=database.dsn, nats_url=nats_url, registry_url=registry_url,
                cache_ttl=0, queue_group="bench-workers",
            ):
                await drive(nats_url, "centralcloud.packages.get", payload, requests=min(500, requests), concurrency=concurrency)
                figures = describe(
                    f"cold, serve --workers {count}",
                    *await drive(nats_url, "centralcloud.packages.get", payload, requests=requests, concurrency=concurrency),
                )
            ratio(f"cold, serve --workers {count}", figures, noop_figures)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--max-versions", type=int, default=1000, help="versions per reply (the request's default: all)")
    parser.add_argument(
        "--paths", default="cached,cold,cold-distinct",
        help="comma-separated, in this process: cached, cold (express every time), cold-distinct "
        f"({DISTINCT} packages asked in turn, each read from PostgreSQL)",
    )
    parser.add_argument(
        "--workers", default="1,2", help="comma-separated counts of `serve --workers N` to measure cold, or empty for none"
    )
    arguments = parser.parse_args()
    asyncio.run(main(
        arguments.requests, arguments.concurrency, arguments.max_versions,
        [p for p in arguments.paths.split(",") if p], [int(n) for n in arguments.workers.split(",") if n],
    ))
    sys.exit(0)
