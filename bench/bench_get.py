"""Benchmark: cached `centralcloud.packages.get` over NATS under many concurrent requesters.

Starts what it needs (embedded PostgreSQL and nats-server unless CENTRALCLOUD_TEST_DATABASE_URL
/ CENTRALCLOUD_TEST_NATS_URL are given), a local registry serving a saved npm packument, and the
service in this process, then measures, in the same run:

  * baseline: a no-op nats.micro endpoint (replies with a fixed payload), and
  * packages.get for a package already in the cache,

each driven by the same number of concurrent requesters over separate connections. Prints
requests per second, p50/p99 latency, and the ratios against the baseline.

    python bench/bench_get.py [--requests 20000] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import pathlib
import statistics
import sys
import time

import aiohttp
import aiohttp.web
import nats
from nats.micro import request as micro_request
from nats.micro import service as micro

import servers
from centralcloud.edge import endpoint, handlers
from centralcloud.facts import cache, catalog
from centralcloud.sources import http, npm

FIXTURE = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "npm" / "express.json"


async def registry() -> tuple[aiohttp.web.AppRunner, str]:
    body = FIXTURE.read_bytes()

    async def packument(request: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.Response(body=body, content_type="application/json")

    app = aiohttp.web.Application()
    app.router.add_get("/{name}", packument)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, f"http://127.0.0.1:{port}"


async def drive(url: str, subject: str, payload: bytes, *, requests: int, concurrency: int) -> tuple[float, list[float]]:
    clients = [await nats.connect(url) for _ in range(min(concurrency, 8))]
    latencies: list[float] = []
    remaining = requests

    async def worker(index: int) -> None:
        nonlocal remaining
        client = clients[index % len(clients)]
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            reply = await client.request(subject, payload, timeout=30)
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


async def main(requests: int, concurrency: int) -> None:
    async with contextlib.AsyncExitStack() as stack:
        database = await servers.database(stack)
        nats_url = await servers.nats_url(stack)
        runner, registry_url = await registry()
        stack.push_async_callback(runner.cleanup)
        session = aiohttp.ClientSession()
        stack.push_async_callback(session.close)

        the_catalog = catalog.Catalog(
            database=database,
            sources={"npm": npm.NpmSource(session=session, base_url=registry_url, policy=http.HttpPolicy())},
            read_cache=cache.ReadCache(ttl=3600, max_size=1000),
            request_timeout=10,
        )
        client = await nats.connect(nats_url)
        stack.push_async_callback(client.close)
        limits = endpoint.Limits(max_concurrency=concurrency)
        svc = await endpoint.start(client, handlers=handlers.Handlers(the_catalog).table(), limits=limits, queue_group="bench")
        stack.push_async_callback(endpoint.stop, svc, limits)

        noop_reply = b'{"ok":true}'

        async def noop(request: micro.Request) -> None:
            await request.respond(noop_reply)

        baseline = micro.Service(client, micro.ServiceConfig(name="noop", version="0.0.1", description="baseline", metadata={}))
        await baseline.start()
        await baseline.add_endpoint(name="noop", subject="bench.noop", handler=noop, metadata={})
        stack.push_async_callback(baseline.stop)
        await client.flush()

        payload = json.dumps({"ecosystem": "npm", "name": "express", "max_versions": 20}).encode()
        warm = await client.request("centralcloud.packages.get", payload, timeout=30)
        assert not (warm.headers or {}).get(micro_request.ERROR_CODE_HEADER), warm.data
        reply_size = len(warm.data)

        print(f"requests per scenario: {requests}, concurrent requesters: {concurrency}, reply size: {reply_size} bytes")
        await drive(nats_url, "bench.noop", b"{}", requests=min(2000, requests), concurrency=concurrency)  # warm-up
        noop_figures = describe("no-op nats.micro endpoint", *await drive(nats_url, "bench.noop", b"{}", requests=requests, concurrency=concurrency))
        get_figures = describe("packages.get (cached)", *await drive(nats_url, "centralcloud.packages.get", payload, requests=requests, concurrency=concurrency))
        print(
            f"ratio packages.get / no-op: throughput {get_figures['rps'] / noop_figures['rps']:.2f}x, "
            f"p50 {get_figures['p50_ms'] / noop_figures['p50_ms']:.2f}x, p99 {get_figures['p99_ms'] / noop_figures['p99_ms']:.2f}x"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=64)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.requests, arguments.concurrency))
    sys.exit(0)
