"""The NATS service end to end: real nats-server, real PostgreSQL, registries replayed locally."""

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
from nats.micro import service as micro

from centralcloud.core import names
from centralcloud.edge import endpoint, handlers
from centralcloud.facts import cache, catalog
from centralcloud.store import db
from centralcloud.sources import http, npm, pypi
from centralcloud.wire import subjects
import replay
from replay import Reply, ReplayServer

GET = "centralcloud.packages.get"
SEARCH = "centralcloud.packages.search"
REQUEST = "centralcloud.packages.request"
ADVISORIES = "centralcloud.packages.advisories"


@dataclass
class Running:
    client: Client
    registry: ReplayServer
    catalog: catalog.Catalog
    service: object


@pytest.fixture
async def running(database: db.Database, nats_url: str) -> AsyncIterator[Running]:
    async with ReplayServer() as registry, aiohttp.ClientSession() as session:
        registry.add("/express", Reply.fixture("npm/express.json"))
        registry.add("/@types%2fnode", Reply.fixture("npm/types-node.json"))
        registry.add("/pypi/django/json", Reply.fixture("pypi/django.json"))
        policy = http.HttpPolicy(timeout=2, max_attempts=2, backoff_base=0.01, backoff_max=0.05)
        the_catalog = catalog.Catalog(
            database=database,
            sources={
                "npm": npm.NpmSource(session=session, base_url=registry.url, policy=policy),
                "pypi": pypi.PypiSource(session=session, base_url=registry.url, policy=policy),
            },
            read_cache=cache.ReadCache(ttl=60, max_size=100),
            request_timeout=1.5,
        )
        client = await nats.connect(nats_url)
        limits = endpoint.Limits(max_request_bytes=4096, max_concurrency=16)
        svc = await endpoint.start(client, handlers=handlers.Handlers(the_catalog).table(), limits=limits, queue_group="test")
        try:
            yield Running(client=client, registry=registry, catalog=the_catalog, service=svc)
        finally:
            await endpoint.stop(svc, limits)
            await the_catalog.close()
            await client.close()


async def ask(client: Client, subject: str, payload: object, *, raw: bytes | None = None) -> tuple[str | None, dict]:
    data = raw if raw is not None else json.dumps(payload).encode()
    reply = await client.request(subject, data, timeout=10)
    status = (reply.headers or {}).get(micro_request.ERROR_CODE_HEADER)
    return status, json.loads(reply.data)


async def test_discoverable_through_the_service_protocol(running: Running) -> None:
    reply = await running.client.request("$SRV.INFO.centralcloud", b"", timeout=5)
    info = json.loads(reply.data)
    assert info["name"] == "centralcloud"
    assert info["description"]
    assert {e["subject"] for e in info["endpoints"]} == {GET, SEARCH, REQUEST, ADVISORIES, "centralcloud.sync.run", "centralcloud.sync.status",
        "centralcloud.patterns.usage", "centralcloud.patterns.pairs", "centralcloud.patterns.popular", "centralcloud.patterns.instance",
    }
    assert all(e["metadata"] is not None and e["queue_group"] == "test" for e in info["endpoints"])
    ping = json.loads((await running.client.request("$SRV.PING", b"", timeout=5)).data)
    assert ping["name"] == "centralcloud" and ping["version"]


async def test_get_fetches_on_demand_then_serves_from_store(running: Running) -> None:
    status, body = await ask(running.client, GET, {"ecosystem": "npm", "name": "express", "max_versions": 3})
    assert status is None, body
    assert body["latest_version"] == "5.3.0"
    assert body["purl"] == "pkg:npm/express"
    assert body["licenses"] == ["MIT"]
    assert body["repository_url"] == "https://github.com/expressjs/express"
    assert len(body["versions"]) == 3 and body["versions_total"] == 10
    assert {d["name"] for d in body["dependencies"]} >= {"accepts", "body-parser"}
    again = await ask(running.client, GET, {"purl": "pkg:npm/express", "max_versions": 3})
    assert again == (None, body)
    assert len(running.registry.received("/express")) == 1
    rows = await running.catalog.database.pool.fetch("SELECT origin FROM package_requests WHERE name = 'express'")
    assert [r["origin"] for r in rows] == ["on_demand"]


async def test_scoped_npm_names_and_pypi(running: Running) -> None:
    status, body = await ask(running.client, GET, {"purl": "pkg:npm/%40types/node"})
    assert status is None, body
    assert body["name"] == "@types/node" and body["purl"] == "pkg:npm/%40types/node"
    status, body = await ask(running.client, GET, {"ecosystem": "pypi", "name": "Django"})
    assert status is None, body
    assert body["name"] == "django" and body["latest_version"] == "6.1.3"


async def test_search_lists_what_was_fetched(running: Running) -> None:
    await ask(running.client, GET, {"ecosystem": "pypi", "name": "django"})
    await ask(running.client, GET, {"ecosystem": "npm", "name": "express"})
    status, body = await ask(running.client, SEARCH, {"query": "web framework"})
    assert status is None, body
    assert {hit["name"] for hit in body["hits"]} >= {"django", "express"}
    status, body = await ask(running.client, SEARCH, {"query": "web framework", "ecosystem": "pypi", "limit": 1})
    assert [hit["purl"] for hit in body["hits"]] == ["pkg:pypi/django"]


MALFORMED: list[tuple[str, bytes, str]] = [
    (GET, b"", "bad_request"),
    (GET, b"{", "bad_request"),
    (GET, b"[]", "bad_request"),
    (GET, b"null", "bad_request"),
    (GET, b'{"ecosystem": 5, "name": "x"}', "bad_request"),
    (GET, b'{"ecosystem": "npm"}', "bad_request"),
    (GET, b'{"ecosystem": "maven", "name": "junit"}', "unknown_ecosystem"),
    (GET, b'{"ecosystem": "npm", "name": "../admin"}', "invalid_name"),
    (GET, b'{"ecosystem": "npm", "name": "a b"}', "invalid_name"),
    (GET, b'{"ecosystem": "pypi", "name": "-bad-"}', "invalid_name"),
    (GET, b'{"purl": "not a purl"}', "bad_request"),
    (GET, b'{"purl": "pkg:npm/express", "ecosystem": "npm", "name": "express"}', "bad_request"),
    (GET, b'{"ecosystem": "npm", "name": "express", "surprise": 1}', "bad_request"),
    (GET, b'{"ecosystem": "npm", "name": "express", "max_versions": -1}', "bad_request"),
    (GET, b"\xff\xfe\x00garbage", "bad_request"),
    (SEARCH, b'{"query": ""}', "bad_request"),
    (SEARCH, b'{"query": "x", "limit": 0}', "bad_request"),
    (SEARCH, b'{"query": "x", "ecosystem": "cobol"}', "unknown_ecosystem"),
    (REQUEST, b'{"packages": []}', "bad_request"),
    (REQUEST, b'{"packages": "express"}', "bad_request"),
    (GET, b'{"ecosystem": "npm", "name": "' + b"x" * 5000 + b'"}', "payload_too_large"),
]


async def test_a_hundred_malformed_requests_get_400s_and_service_keeps_answering(running: Running) -> None:
    cases = [MALFORMED[i % len(MALFORMED)] for i in range(100)]
    replies = await asyncio.gather(*(running.client.request(s, data, timeout=10) for s, data, _ in cases))
    for (subject, data, code), reply in zip(cases, replies):
        assert reply.headers[micro_request.ERROR_CODE_HEADER] == "400", (data, reply.data)
        assert reply.headers[micro_request.ERROR_HEADER]
        body = json.loads(reply.data)
        assert body["error"]["code"] == code, (data, body)
        assert body["error"]["status"] == 400 and body["error"]["message"]
    status, body = await ask(running.client, GET, {"ecosystem": "npm", "name": "express"})
    assert status is None and body["name"] == "express"
    stats = json.loads((await running.client.request("$SRV.STATS.centralcloud", b"", timeout=5)).data)
    get_stats = next(e for e in stats["endpoints"] if e["subject"] == GET)
    assert get_stats["num_errors"] == sum(1 for s, _, _ in cases if s == GET)
    assert get_stats["num_requests"] == get_stats["num_errors"] + 1


async def test_registry_failures_map_to_404_503_504(running: Running) -> None:
    status, body = await ask(running.client, GET, {"ecosystem": "npm", "name": "no-such-package"})
    assert status == "404" and body["error"]["code"] == "not_found"
    running.registry.add("/broken", Reply(status=503, body=b"<html>down</html>"))
    status, body = await ask(running.client, GET, {"ecosystem": "npm", "name": "broken"})
    assert status == "503" and body["error"]["details"]["source"] == "npm"
    running.registry.add("/garbage", Reply(status=200, body=b"<html>not json</html>", headers={"Content-Type": "text/html"}))
    status, body = await ask(running.client, GET, {"ecosystem": "npm", "name": "garbage"})
    assert status == "503" and body["error"]["code"] == "bad_response"
    running.registry.add("/slow", Reply.fixture("npm/express.json", delay=3))
    status, body = await ask(running.client, GET, {"ecosystem": "npm", "name": "slow"})
    assert status in {"503", "504"} and body["error"]["code"] in {"deadline_exceeded", "source_unavailable"}


async def test_slow_fetch_does_not_hold_up_other_requests(running: Running) -> None:
    await ask(running.client, GET, {"ecosystem": "npm", "name": "express"})
    running.registry.add("/sluggish", Reply.fixture("npm/express.json", delay=1.0))
    slow = asyncio.create_task(ask(running.client, GET, {"ecosystem": "npm", "name": "sluggish"}))
    await asyncio.sleep(0.1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    status, _ = await ask(running.client, GET, {"ecosystem": "npm", "name": "express"})
    assert status is None
    assert loop.time() - started < 0.5
    assert not slow.done()
    await slow


async def test_concurrent_requests_for_one_package_share_one_fetch(running: Running) -> None:
    running.registry.add("/shared", Reply.fixture("npm/express.json", delay=0.3))
    results = await asyncio.gather(*(ask(running.client, GET, {"ecosystem": "npm", "name": "shared"}) for _ in range(10)))
    assert all(status is None for status, _ in results)
    assert len(running.registry.received("/shared")) == 1


async def test_request_accepts_and_rejects_with_reasons(running: Running) -> None:
    status, body = await ask(running.client, REQUEST, {"packages": [
        {"ecosystem": "npm", "name": "react"},
        {"purl": "pkg:pypi/Flask"},
        {"ecosystem": "npm", "name": "../admin"},
        {"ecosystem": "gems", "name": "rails"},
        {"ecosystem": "npm", "name": "react"},
    ]})
    assert status is None, body
    assert [a["purl"] for a in body["accepted"]] == ["pkg:npm/react", "pkg:pypi/flask"]
    assert [(r["index"], r["error"]["code"]) for r in body["rejected"]] == [(2, "invalid_name"), (3, "unknown_ecosystem")]
    rows = await running.catalog.database.pool.fetch("SELECT ecosystem, name, origin FROM package_requests ORDER BY name")
    assert [(r["ecosystem"], r["name"], r["origin"]) for r in rows] == [("pypi", "flask", "request"), ("npm", "react", "request")]


async def test_refresh_invalidates_the_cache(running: Running) -> None:
    _, first = await ask(running.client, GET, {"ecosystem": "npm", "name": "express"})
    changed = replay.fixture_json("npm/express.json")
    changed["versions"]["5.3.0"]["description"] = "Changed upstream"
    running.registry.add("/express", Reply.json(changed))
    assert await running.catalog.refresh(names.PackageRef("npm", "express")) == "updated"
    _, second = await ask(running.client, GET, {"ecosystem": "npm", "name": "express"})
    assert first["description"] != "Changed upstream" and second["description"] == "Changed upstream"


async def test_the_nats_micro_internals_the_endpoint_relies_on_exist() -> None:
    # Fails naming each private name an upgrade of nats-py removed (see endpoint.MICRO_INTERNALS).
    probe = micro.Service(Client(), micro.ServiceConfig(name="probe", version="0.0.0"))
    plain = micro.Endpoint(probe, micro.EndpointConfig(name="probe", handler=_unused_handler))
    assert endpoint.missing_internals(probe, plain) == []


def test_missing_internals_are_named() -> None:
    lacking = endpoint.missing_internals(object(), object())  # type: ignore[arg-type]
    assert "nats.micro.Service._client" in lacking and "nats.micro.Endpoint._subscription" in lacking
    assert len(lacking) == len(endpoint.MICRO_INTERNALS)


async def _unused_handler(request: micro_request.Request) -> None:  # pragma: no cover - never started
    raise AssertionError("the probe endpoint is never started")


def test_every_subject_has_a_handler() -> None:
    table = handlers.Handlers(the_catalog=None).table()  # type: ignore[arg-type]
    assert [subject.name for subject in table] == [subject.name for subject in subjects.REQUESTS]
    assert all(callable(handler) for handler in table.values())
