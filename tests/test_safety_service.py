"""Issue 11 at the NATS edge: input defects, limits, refusals with retry hints, health."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import nats
import pytest
from nats.aio.client import Client
from nats.micro import request as micro_request

from centralcloud.edge import endpoint, handlers, rates
from centralcloud.facts import cache, catalog, health
from centralcloud.jobs import runner as sync
from centralcloud.sources import http, npm
from centralcloud.store import db
from replay import Reply, ReplayServer

GET = "centralcloud.packages.get"
SEARCH = "centralcloud.packages.search"
REQUEST = "centralcloud.packages.request"


@dataclass
class Service:
    client: Client
    registry: ReplayServer
    catalog: catalog.Catalog
    limits: endpoint.Limits


def packument(name: str) -> dict:
    return {"name": name, "dist-tags": {"latest": "1.0.0"},
            "versions": {"1.0.0": {"name": name, "version": "1.0.0", "description": f"{name} pads strings"}}}


@pytest.fixture
async def service(database: db.Database, nats_url: str) -> AsyncIterator[Service]:
    async with ReplayServer() as registry, aiohttp.ClientSession() as session:
        registry.add("/left-pad", Reply.json(packument("left-pad")))
        policy = http.HttpPolicy(timeout=2, max_attempts=1)
        the_catalog = catalog.Catalog(
            database=database, sources={"npm": npm.NpmSource(session=session, base_url=registry.url, policy=policy)},
            read_cache=cache.ReadCache(ttl=60, max_size=100), request_timeout=1.5,
        )
        job = sync.SyncJob(database=database, the_catalog=the_catalog, options=sync.Options())
        client = await nats.connect(nats_url)
        checks = health.Health(database=database, sources=the_catalog.sources, nats=None)
        table = handlers.Handlers(
            the_catalog, job, checks=checks, request_rate=rates.Buckets(per_minute=60, burst=5),
        )
        limits = endpoint.Limits(max_request_bytes=4096, max_concurrency=2, deadline=3.0, queue_wait=0.2)
        svc = await endpoint.start(
            client, handlers=table.table(), cached=table.cached_table(), limits=limits, queue_group="test"
        )
        try:
            yield Service(client=client, registry=registry, catalog=the_catalog, limits=limits)
        finally:
            await endpoint.stop(svc, limits)
            await job.close()
            await the_catalog.close()
            await client.close()


async def ask(client: Client, subject: str, payload: object, *, headers: dict | None = None) -> tuple[str | None, dict]:
    reply = await client.request(subject, json.dumps(payload).encode(), timeout=10, headers=headers)
    return (reply.headers or {}).get(micro_request.ERROR_CODE_HEADER), json.loads(reply.data)


async def test_out_of_range_run_id_is_a_400(service: Service) -> None:
    status, body = await ask(service.client, "centralcloud.sync.status", {"run": 9223372036854775808})
    assert status == "400" and body["error"]["code"] == "bad_request", body
    status, body = await ask(service.client, "centralcloud.sync.status", {"run": 0})
    assert status == "400"
    status, body = await ask(service.client, "centralcloud.sync.status", {"run": 9223372036854775807})
    assert status == "404", body  # in range, just unknown


async def test_an_empty_package_list_starts_no_run(service: Service) -> None:
    status, body = await ask(service.client, "centralcloud.sync.run", {"packages": []})
    assert status == "400" and "packages" in body["error"]["message"], body
    assert await service.catalog.database.pool.fetchval("SELECT count(*) FROM sync_runs") == 0


async def test_cached_search_echoes_each_callers_query(service: Service) -> None:
    status, first = await ask(service.client, GET, {"ecosystem": "npm", "name": "left-pad"})
    assert status is None, first
    status, plain = await ask(service.client, SEARCH, {"query": "pad"})
    assert status is None and plain["query"] == "pad" and plain["hits"], plain
    status, shouted = await ask(service.client, SEARCH, {"query": "PAD!!"})
    assert status is None and shouted["query"] == "PAD!!", shouted
    assert shouted["hits"] == plain["hits"]


@pytest.mark.parametrize("query", ["!!!", "?", " -- ", "\u0000", "..."])
async def test_punctuation_only_queries_get_a_clean_400(service: Service, query: str) -> None:
    status, body = await ask(service.client, SEARCH, {"query": query})
    assert status == "400" and body["error"]["code"] == "bad_request", body
    assert "\u0000" not in body["error"]["message"]


@pytest.mark.parametrize("name", ["left-pad\n", "\u017fix"])
async def test_names_that_only_look_valid_are_400s(service: Service, name: str) -> None:
    status, body = await ask(service.client, GET, {"ecosystem": "npm", "name": name})
    assert status == "400" and body["error"]["code"] == "invalid_name", body
    assert await service.catalog.database.pool.fetchval("SELECT count(*) FROM packages") == 0


async def test_packages_request_is_rate_limited_per_caller(service: Service) -> None:
    many = {"packages": [{"ecosystem": "npm", "name": f"made-up-{i}"} for i in range(5)]}
    status, body = await ask(service.client, REQUEST, many, headers={endpoint.CALLER_HEADER: "team-a"})
    assert status is None and len(body["accepted"]) == 5
    status, body = await ask(service.client, REQUEST, many, headers={endpoint.CALLER_HEADER: "team-a"})
    assert status == "429" and body["error"]["code"] == "rate_limited", body
    assert body["error"]["details"]["retry_after"] > 0
    # Another caller has its own share.
    status, body = await ask(service.client, REQUEST, many, headers={endpoint.CALLER_HEADER: "team-b"})
    assert status is None, body
    assert await service.catalog.database.pool.fetchval("SELECT count(*) FROM package_requests") == 5


async def test_too_many_packages_in_one_request_is_a_400(service: Service) -> None:
    flood = {"packages": [{"ecosystem": "npm", "name": f"x{i}"} for i in range(1001)]}
    reply = await service.client.request(REQUEST, json.dumps(flood).encode(), timeout=10)
    assert reply.headers[micro_request.ERROR_CODE_HEADER] == "400"


async def test_a_full_service_refuses_at_once_but_cached_answers_still_come(service: Service) -> None:
    status, _ = await ask(service.client, GET, {"ecosystem": "npm", "name": "left-pad"})
    assert status is None
    service.registry.add("/slow-a", Reply.json(packument("slow-a"), delay=2.5))
    service.registry.add("/slow-b", Reply.json(packument("slow-b"), delay=2.5))
    busy = [asyncio.create_task(ask(service.client, GET, {"ecosystem": "npm", "name": n})) for n in ("slow-a", "slow-b")]
    await asyncio.sleep(0.2)  # both slots are taken now
    loop = asyncio.get_running_loop()
    started = loop.time()
    status, body = await ask(service.client, GET, {"ecosystem": "npm", "name": "slow-c"})
    assert status == "503" and body["error"]["code"] == "overloaded", body
    assert body["error"]["details"]["retry_after"] > 0
    assert loop.time() - started < 1.0  # refused after queue_wait, not after the slow ones
    started = loop.time()
    status, body = await ask(service.client, GET, {"ecosystem": "npm", "name": "left-pad"})
    assert status is None and body["name"] == "left-pad"
    assert loop.time() - started < 0.5
    for task in busy:
        status, body = await task
        assert status == "504", body  # the fetch outlived request_timeout


async def test_health_reports_database_and_sources(service: Service) -> None:
    await ask(service.client, GET, {"ecosystem": "npm", "name": "left-pad"})
    status, body = await ask(service.client, "centralcloud.health", {})
    assert status is None, body
    parts = {c["name"]: c for c in body["components"]}
    assert parts["postgresql"]["state"] == "up" and parts["postgresql"]["latency_ms"] >= 0
    assert parts["npm"]["state"] == "up" and parts["npm"]["latency_ms"] is not None
    assert body["state"] == "up"
    status, body = await ask(service.client, "centralcloud.health", {"extra": 1})
    assert status == "400"
