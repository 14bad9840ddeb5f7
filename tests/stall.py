"""The "PostgreSQL stalls" scenario, shared by tests/test_stall.py and bench/bench_stall.py.

Starts a PostgreSQL of its own (embedded, in a temporary directory: never the machine's
shared server), the service on a given NATS, and a replay registry; caches one answer;
stops PostgreSQL with SIGSTOP (the postmaster and every backend); sends `waiting` requests
that need the database and, while they wait, cached requests; then resumes PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import pathlib
import signal
import tempfile
import time
from collections.abc import Iterator

import aiohttp
import nats
import psutil
from nats.micro import request as micro_request

from centralcloud.edge import endpoint, handlers
from centralcloud.facts import cache, catalog
from centralcloud.runtime import embedded_postgres
from centralcloud.sources import http, npm
from centralcloud.store import db, migrations
from replay import Reply, ReplayServer

GET = "centralcloud.packages.get"


@dataclasses.dataclass
class Outcome:
    deadline: float
    """The service's request deadline in this run."""
    cached: list[tuple[str | None, float]] = dataclasses.field(default_factory=list)
    """(error status or None, seconds) of each cached request sent while PostgreSQL was stopped."""
    bound: list[tuple[str | None, str | None, float]] = dataclasses.field(default_factory=list)
    """(error status, error code, seconds) of each request that needed PostgreSQL."""
    after: str | None = "unset"
    """Error status of a database-bound request once PostgreSQL runs again (None: answered)."""


@contextlib.contextmanager
def stopped(pgdata: pathlib.Path) -> Iterator[None]:
    """SIGSTOP the postmaster of `pgdata` and all its children; SIGCONT them on leaving."""
    postmaster = psutil.Process(int((pgdata / "postmaster.pid").read_text().split()[0]))
    processes = [postmaster, *postmaster.children(recursive=True)]
    for process in processes:
        os.kill(process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGCONT)


async def timed(client: nats.aio.client.Client, subject: str, payload: dict) -> tuple[str | None, str | None, float]:
    started = time.perf_counter()
    reply = await client.request(subject, json.dumps(payload).encode(), timeout=10)
    took = time.perf_counter() - started
    status = (reply.headers or {}).get(micro_request.ERROR_CODE_HEADER)
    code = json.loads(reply.data)["error"]["code"] if status else None
    return status, code, took


async def run(nats_url: str, *, waiting: int = 200, cached: int = 100, deadline: float = 3.0) -> Outcome:
    outcome = Outcome(deadline=deadline)
    with tempfile.TemporaryDirectory(prefix="centralcloud-stall-") as directory:
        postgres = embedded_postgres.EmbeddedPostgres(data_dir=pathlib.Path(directory))
        dsn = await postgres.start()
        try:
            database = await db.Database.connect(dsn, query_timeout=deadline / 2)
            await migrations.migrate(database)
            async with ReplayServer() as registry, aiohttp.ClientSession() as session:
                registry.add("/left-pad", Reply.json({
                    "name": "left-pad", "dist-tags": {"latest": "1.0.0"},
                    "versions": {"1.0.0": {"name": "left-pad", "version": "1.0.0"}},
                }))
                the_catalog = catalog.Catalog(
                    database=database,
                    sources={"npm": npm.NpmSource(session=session, base_url=registry.url, policy=http.HttpPolicy(timeout=2))},
                    read_cache=cache.ReadCache(ttl=300, max_size=1000), request_timeout=2.0,
                )
                table = handlers.Handlers(the_catalog)
                limits = endpoint.Limits(max_concurrency=64, deadline=deadline, queue_wait=1.0)
                client = await nats.connect(nats_url)
                service = await endpoint.start(
                    client, handlers=table.table(), cached=table.cached_table(), limits=limits, queue_group="stall"
                )
                try:
                    status, _, _ = await timed(client, GET, {"ecosystem": "npm", "name": "left-pad"})
                    assert status is None, "warming the cache failed"
                    with stopped(postgres.pgdata):
                        bound = [
                            asyncio.create_task(timed(client, GET, {"ecosystem": "npm", "name": f"never-seen-{i}"}))
                            for i in range(waiting)
                        ]
                        await asyncio.sleep(0.3)  # they are all waiting on PostgreSQL now
                        for _ in range(cached):
                            status, _, took = await timed(client, GET, {"ecosystem": "npm", "name": "left-pad"})
                            outcome.cached.append((status, took))
                        outcome.bound = list(await asyncio.gather(*bound))
                    for _ in range(20):  # the pool replaces the connections it gave up on
                        status, _, _ = await timed(client, GET, {"ecosystem": "npm", "name": "left-pad", "max_versions": 1})
                        outcome.after = status
                        if status is None:
                            break
                        await asyncio.sleep(0.25)
                finally:
                    await endpoint.stop(service, limits)
                    await the_catalog.close()
                    await client.close()
            await database.close()
        finally:
            await postgres.stop()
    return outcome
