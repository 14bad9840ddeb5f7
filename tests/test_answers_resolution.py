"""Cargo and Hex trees over NATS: the Cargo book's "Dependency Resolution" examples and Hex's
requirement rules, served as crates.io sparse index files and API documents and as hex.pm
package and release documents (their documented shapes), read by the real adapters."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from nats.aio.client import Client

import replay
import test_answers_service as service_tests
from centralcloud.answers import bundle, service
from centralcloud.facts import cache, catalog
from centralcloud.sources import cargo, hex as hexpm, limits
from centralcloud.store import db
from centralcloud.wire import subjects

RELEASED = "2024-01-01T00:00:00Z"

# crate: {version: {dependency: requirement}}: the Cargo book's examples under one root crate.
CRATES = {
    "app": {"0.1.0": {"a": "^1", "b": "^1"}},
    # "Package A": bitflags = "1.0" and rand = "0.7"; "Package B": bitflags = "1.1" and rand = "0.6".
    "a": {"1.0.0": {"bitflags": "1.0", "rand": "0.7"}},
    "b": {"1.0.0": {"bitflags": "1.1", "rand": "0.6"}},
    "bitflags": {"1.0.0": {}, "1.1.0": {}, "1.2.1": {}},
    "rand": {"0.6.0": {}, "0.6.5": {}, "0.7.0": {}, "0.7.3": {}},
}
# package: {release: {requirement name: (requirement, optional)}}: Hex's "~>" rules.
HEX = {
    "app": {"1.0.0": {"phoenix": ("~> 1.7", False), "plug_cowboy": ("~> 2.6", False)}},
    "phoenix": {"1.7.14": {"plug": ("~> 1.14", False), "jason": ("~> 1.0", True)}},
    "plug_cowboy": {"2.6.0": {"plug": ("~> 1.15.0", False), "cowboy": ("~> 2.7", False)}},
    "plug": {"1.14.2": {}, "1.15.3": {}, "1.16.1": {}},
    "cowboy": {"2.12.0": {"ranch": ("~> 1.8", False)}},
    "ranch": {"1.8.0": {}, "2.1.0": {}},
    "jason": {"1.4.4": {}},
}


def serve_cargo(registry: replay.ReplayServer) -> None:
    for name, versions in CRATES.items():
        lines = [
            {"name": name, "vers": number, "cksum": "0" * 64, "features": {}, "yanked": False,
             "deps": [{"name": dep, "req": req, "features": [], "optional": False, "default_features": True,
                       "target": None, "kind": "normal"} for dep, req in deps.items()]}
            for number, deps in versions.items()
        ]  # fmt: skip
        index = "".join(json.dumps(line) + "\n" for line in lines).encode()
        registry.add(f"/index/{cargo.index_path(name)}", replay.Reply(body=index, headers={"Content-Type": "text/plain"}))
        newest = list(versions)[-1]
        registry.add(f"/api/v1/crates/{name}", replay.Reply.json({
            "crate": {"id": name, "name": name, "max_version": newest, "max_stable_version": newest, "description": name},
            "versions": [{"num": number, "created_at": RELEASED} for number in versions],
        }))  # fmt: skip


def serve_hex(registry: replay.ReplayServer) -> None:
    for name, releases in HEX.items():
        newest = list(releases)[-1]
        registry.add(f"/api/packages/{name}", replay.Reply.json({
            "name": name, "meta": {"description": name}, "retirements": {}, "downloads": {},
            "releases": [{"version": number, "inserted_at": RELEASED} for number in reversed(releases)],
            "latest_version": newest, "latest_stable_version": newest,
        }))  # fmt: skip
        for number, requirements in releases.items():
            registry.add(f"/api/packages/{name}/releases/{number}", replay.Reply.json({
                "name": name, "version": number, "inserted_at": RELEASED, "retired": None, "meta": {"elixir": "~> 1.14"},
                "requirements": {dep: {"app": dep, "optional": optional, "requirement": req}
                                 for dep, (req, optional) in requirements.items()},
            }))  # fmt: skip


@pytest.fixture
async def client(database: db.Database, nats_url: str) -> AsyncIterator[Client]:
    async with replay.ReplayServer() as registry, aiohttp.ClientSession() as session:
        serve_cargo(registry)
        serve_hex(registry)
        sources = {
            "cargo": cargo.CargoSource(session=session, base_url=registry.url, policy=service_tests.POLICY,
                                       index_url=f"{registry.url}/index", api_limiter=limits.RateLimiter(per_second=1000.0)),
            "hex": hexpm.HexSource(session=session, base_url=registry.url, policy=service_tests.POLICY),
        }  # fmt: skip
        the_catalog = catalog.Catalog(
            database=database, sources=sources, read_cache=cache.ReadCache(ttl=60, max_size=1000), request_timeout=10,
        )
        answers = bundle.build(the_catalog, options=service.Options(deadline=10))
        async with service_tests.over_nats(the_catalog, answers, nats_url) as connected:
            yield connected


async def tree(client: Client, payload: dict) -> dict:
    status, reply = await service_tests.ask(client, subjects.PACKAGES_DEPENDENCIES, payload)
    assert status is None, reply
    assert reply["complete"] and not reply["missing"], reply
    return reply


def pairs(reply: dict) -> set[tuple[str, str]]:
    return {(node["name"], node["version"]) for node in reply["nodes"]}


async def test_cargo_book_examples_over_nats(client: Client) -> None:
    reply = await tree(client, {"purl": "pkg:cargo/app@0.1.0", "target": "pkg:cargo/rand"})
    # bitflags "1.0" and "1.1" are one compatibility range: both get its greatest, 1.2.1.
    # rand "0.7" and "0.6" are two: one version each, the greatest of each range.
    assert pairs(reply) == {
        ("app", "0.1.0"), ("a", "1.0.0"), ("b", "1.0.0"), ("bitflags", "1.2.1"), ("rand", "0.7.3"), ("rand", "0.6.5"),
    }  # fmt: skip
    assert reply["chains"] == [["app@0.1.0", "a@1.0.0", "rand@0.7.3"], ["app@0.1.0", "b@1.0.0", "rand@0.6.5"]]
    assert not reply["conflicts"]


async def test_hex_requirements_over_nats(client: Client) -> None:
    reply = await tree(client, {"purl": "pkg:hex/app@1.0.0", "target": "pkg:hex/ranch"})
    # "~> 1.15.0" is >= 1.15.0 and < 1.16.0, so one plug meets it and phoenix's "~> 1.14": 1.15.3.
    assert pairs(reply) == {
        ("app", "1.0.0"), ("phoenix", "1.7.14"), ("plug_cowboy", "2.6.0"), ("plug", "1.15.3"), ("cowboy", "2.12.0"),
        ("ranch", "1.8.0"),
    }  # fmt: skip
    assert reply["chains"] == [["app@1.0.0", "plug_cowboy@2.6.0", "cowboy@2.12.0", "ranch@1.8.0"]]
    # phoenix's optional jason comes in only when optional dependencies are asked for.
    with_optional = await tree(client, {"purl": "pkg:hex/app@1.0.0", "include": ["optional"]})
    assert ("jason", "1.4.4") in pairs(with_optional)
