"""The answers end to end over NATS: real nats-server, real PostgreSQL, registries replayed from
the saved responses the installer oracles were recorded with (tests/fixtures/answers/)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import asyncpg
import nats
import pytest
from nats.aio.client import Client
from nats.micro import request as micro_request

import replay
import test_answers_oracles as oracles
from centralcloud.answers import bundle, service
from centralcloud.edge import endpoint, handlers
from centralcloud.facts import cache, catalog
from centralcloud.sources import cargo, hex as hexpm, http, npm, pypi
from centralcloud.store import db
from centralcloud.store import answers as store_answers
from centralcloud.wire import subjects

ANSWERS = oracles.ANSWERS
POLICY = http.HttpPolicy(timeout=5, max_attempts=2, backoff_base=0.01, backoff_max=0.05)


@dataclass
class Running:
    client: Client
    registry: replay.ReplayServer
    database: db.Database
    dsn: str
    cache: cache.ReadCache


@pytest.fixture
async def running(database: db.Database, database_url: str, nats_url: str) -> AsyncIterator[Running]:
    async with replay.ReplayServer() as registry, aiohttp.ClientSession() as session:
        oracles.serve_npm(registry)
        oracles.serve_pypi(registry)
        sources = {
            "npm": npm.NpmSource(session=session, base_url=registry.url, policy=POLICY),
            "pypi": pypi.PypiSource(session=session, base_url=registry.url, policy=POLICY),
            "cargo": cargo.CargoSource(session=session, base_url=registry.url, policy=POLICY, index_url=registry.url),
            "hex": hexpm.HexSource(session=session, base_url=registry.url, policy=POLICY),
        }
        the_catalog = catalog.Catalog(
            database=database, sources=sources, read_cache=cache.ReadCache(ttl=60, max_size=1000), request_timeout=10,
        )
        answers = bundle.build(the_catalog, options=service.Options(deadline=10), discovery_deadline=2)
        async with over_nats(the_catalog, answers, nats_url) as client:
            yield Running(client=client, registry=registry, database=database, dsn=database_url, cache=the_catalog.cache)


@contextlib.asynccontextmanager
async def over_nats(the_catalog: catalog.Catalog, answers: bundle.Bundle, nats_url: str) -> AsyncIterator[Client]:
    """The service's handlers on a real nats-server, and a client to ask them; all closed after."""
    client = await nats.connect(nats_url)
    limits = endpoint.Limits(max_request_bytes=8192, max_concurrency=16)
    svc = await endpoint.start(
        client, handlers=handlers.Handlers(the_catalog, None, answers).table(), limits=limits, queue_group="test"
    )
    try:
        yield client
    finally:
        await endpoint.stop(svc, limits)
        await answers.close()
        await the_catalog.close()
        await client.close()


async def ask(client: Client, subject: subjects.Subject, payload: object) -> tuple[str | None, dict]:
    reply = await client.request(subject.name, json.dumps(payload).encode(), timeout=30)
    return (reply.headers or {}).get(micro_request.ERROR_CODE_HEADER), json.loads(reply.data)


# ---- recommend -------------------------------------------------------------------------


async def test_recommend_express_caret_4_over_nats_is_node_semvers_pick(running: Running) -> None:
    status, reply = await ask(running.client, subjects.PACKAGES_RECOMMEND, {"purl": "pkg:npm/express", "requirement": "^4"})
    assert status is None, reply
    expected = (ANSWERS / "npm" / "express-max-satisfying-caret4.txt").read_text().strip()
    assert reply["version"] == expected
    assert reply["purl"] == f"pkg:npm/express@{expected}"
    assert reply["reasons"][0] == "newest release that satisfies ^4 passing every check"
    # Stored now: the second answer reads no registry.
    fetched = len(running.registry.received("/express"))
    status, again = await ask(running.client, subjects.PACKAGES_RECOMMEND, {"purl": "pkg:npm/express", "requirement": "^4.1"})
    assert status is None and again["version"] == expected
    assert len(running.registry.received("/express")) == fetched


async def test_recommend_django_for_python_311_over_nats_is_pips_first(running: Running) -> None:
    status, reply = await ask(
        running.client, subjects.PACKAGES_RECOMMEND, {"purl": "pkg:pypi/django", "runtime": {"python": "3.11"}, "current": "4.2.6"}
    )
    assert status is None, reply
    assert reply["version"] == oracles.pip_first((ANSWERS / "pypi" / "django-index-versions-py3.11.txt").read_text())
    assert "supports Python 3.11" in reply["reasons"]
    # No advisory source was ever asked here, so "no known advisory" would claim too much.
    assert "no known advisory" not in reply["reasons"]
    assert any(reason.startswith("advisories unchecked") for reason in reply["reasons"])
    # The newer releases need a newer Python: stored Requires-Python is what skipped them.
    assert reply["skipped"] and all("requires Python" in entry["why"] for entry in reply["skipped"])
    assert reply["upgrade"] == {"from": "4.2.6", "advisories_fixed": [], "breaking": "major", "downgrade": False}


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        ({"purl": "pkg:pypi/django", "runtime": {"ruby": "3.3"}}, "unknown runtime 'ruby'"),
        ({"purl": "pkg:pypi/django", "runtime": {"python": "three"}}, "is not a version"),
        ({"purl": "pkg:npm/express", "requirement": "^^4 and more"}, "express"),
    ],
)
async def test_recommend_bad_input_is_a_400(running: Running, payload: dict, words: str) -> None:
    status, reply = await ask(running.client, subjects.PACKAGES_RECOMMEND, payload)
    assert status == "400", reply
    assert reply["error"]["message"]


# ---- dependencies ------------------------------------------------------------------------


async def test_express_tree_over_nats_equals_the_package_lock(running: Running) -> None:
    payload = {"purl": "pkg:npm/express@4.21.2", "target": "pkg:npm/ms"}
    status, reply = await ask(running.client, subjects.PACKAGES_DEPENDENCIES, payload)
    assert status is None, reply
    expected = oracles.lock_pairs(json.loads((ANSWERS / "npm" / "express-4.21.2.lock.json").read_text()))
    assert reply["complete"] and not reply["missing"]
    assert {(node["name"], node["version"]) for node in reply["nodes"]} == expected
    assert reply["chains"][0] == ["express@4.21.2", "debug@2.6.9", "ms@2.0.0"]
    # Asked again, everything comes from the store (and the cache): no registry request.
    before = sum(len(running.registry.received(f"/{name}")) for name, _ in expected)
    status, again = await ask(running.client, subjects.PACKAGES_DEPENDENCIES, payload)
    assert status is None and again == reply
    assert sum(len(running.registry.received(f"/{name}")) for name, _ in expected) == before


async def test_a_requirement_resolves_to_its_highest_version_first(running: Running) -> None:
    status, reply = await ask(running.client, subjects.PACKAGES_DEPENDENCIES, {"purl": "pkg:npm/ms", "requirement": "~2.0"})
    assert status is None, reply
    assert reply["root"] == "ms@2.0.0" and reply["complete"]


async def test_flask_tree_over_nats_equals_pip_install_report(running: Running) -> None:
    payload = {"purl": "pkg:pypi/flask@3.0.3", "runtime": {"python": "3.12"}, "target": "pkg:pypi/markupsafe"}
    status, reply = await ask(running.client, subjects.PACKAGES_DEPENDENCIES, payload)
    assert status is None, reply
    expected = {
        (item["name"], item["version"])
        for item in json.loads((ANSWERS / "pypi" / "flask-3.0.3-py3.12.install.json").read_text())
    }
    assert reply["complete"], reply["missing"]
    assert {(node["name"], node["version"]) for node in reply["nodes"]} == expected
    assert sorted(reply["chains"]) == [
        ["flask@3.0.3", "jinja2@3.1.6", "markupsafe@3.0.4"],
        ["flask@3.0.3", "werkzeug@3.1.9", "markupsafe@3.0.4"],
    ]
    # The per-release metadata read for the tree is stored: werkzeug 3.1.9's dependencies are known now.
    facts = await store_answers.load_facts(running.database, ecosystem="pypi", name="werkzeug")
    assert next(v for v in facts.versions if v.number == "3.1.9").dependencies is not None


async def test_dependencies_bad_input_is_a_400(running: Running) -> None:
    for payload in (
        {"purl": "pkg:npm/express@4.21.2", "target": "pkg:pypi/flask"},
        {"purl": "pkg:npm/express@4.21.2", "requirement": "^4"},
        {"purl": "pkg:pypi/flask", "version": "not a version!"},
        {"purl": "pkg:npm/express@4.21.2", "runtime": {"deno": "1"}},
    ):
        status, reply = await ask(running.client, subjects.PACKAGES_DEPENDENCIES, payload)
        assert status == "400", (payload, reply)


# ---- dependents ----------------------------------------------------------------------------


async def test_dependents_of_ms_after_the_express_tree_is_stored(running: Running) -> None:
    status, _ = await ask(running.client, subjects.PACKAGES_DEPENDENCIES, {"purl": "pkg:npm/express@4.21.2"})
    assert status is None
    status, reply = await ask(running.client, subjects.PACKAGES_DEPENDENTS, {"purl": "pkg:npm/ms"})
    assert status is None, reply
    by_name = {entry["name"]: entry for entry in reply["dependents"]}
    # debug's latest pins ms ^2.1.3, which admits ms's latest; send's latest too.
    assert "debug" in by_name and by_name["debug"]["lagging"] is False
    assert reply["count"] == len(by_name)
    assert reply["lagging"] == sum(1 for entry in by_name.values() if entry["lagging"])
    assert reply["scope"].startswith("stored packages only")
    assert reply["team"] == {"direct_instances": None, "direct_projects": None, "instances": None, "projects": None}


async def test_dependents_count_the_team_above_the_threshold(running: Running) -> None:
    await ask(running.client, subjects.PACKAGES_DEPENDENCIES, {"purl": "pkg:npm/express@4.21.2"})
    await report(running.dsn, [("i1", "web", "npm", "express"), ("i2", "api", "npm", "express"), ("i3", "x", "npm", "debug")])
    status, reply = await ask(running.client, subjects.PACKAGES_DEPENDENTS, {"purl": "pkg:npm/ms"})
    assert status is None, reply
    # Nobody reports ms directly (hidden below 3 instances); three reach it through express and debug.
    assert reply["team"] == {"direct_instances": None, "direct_projects": None, "instances": 3, "projects": 3}


# ---- recommendations ------------------------------------------------------------------------


async def report(dsn: str, rows: list[tuple[str, str, str, str]]) -> None:
    """Instances' reported direct dependencies, as the pattern intake stores them."""
    connection = await asyncpg.connect(dsn)
    try:
        for instance, project, ecosystem, name in rows:
            await connection.execute("INSERT INTO instances (id) VALUES ($1) ON CONFLICT DO NOTHING", instance)
            project_id = await connection.fetchval(
                "INSERT INTO reported_projects (instance_id, project, digest, format, stream_seq, dependencies)"
                " VALUES ($1, $2, '-', 'native', 1, 1)"
                " ON CONFLICT (instance_id, project) DO UPDATE SET dependencies = reported_projects.dependencies + 1"
                " RETURNING id",
                instance, project,
            )  # fmt: skip
            package_id = await connection.fetchval(
                "INSERT INTO reported_packages (ecosystem, name) VALUES ($1, $2)"
                " ON CONFLICT (ecosystem, name) DO UPDATE SET name = EXCLUDED.name RETURNING id",
                ecosystem, name,
            )  # fmt: skip
            await connection.execute(
                "UPDATE reported_projects SET package_ids = package_ids || $2::bigint, versions = versions || ''::text,"
                " requirements = requirements || NULL::text, kinds = kinds || 'runtime'::text, directs = directs || true"
                " WHERE id = $1",
                project_id, package_id,
            )
    finally:
        await connection.close()


async def test_recommendations_for_web_framework_and_the_team_lift(running: Running) -> None:
    for purl in ("pkg:pypi/django", "pkg:pypi/flask", "pkg:pypi/werkzeug", "pkg:pypi/jinja2", "pkg:pypi/click"):
        status, _ = await ask(running.client, subjects.PACKAGES_RECOMMEND, {"purl": purl})
        assert status is None
    payload = {"need": "web framework", "ecosystem": "pypi", "discover": False}
    status, reply = await ask(running.client, subjects.PACKAGES_RECOMMENDATIONS, payload)
    assert status is None, reply
    names_ = [candidate["name"] for candidate in reply["candidates"]]
    assert {"django", "flask"} <= set(names_[:3]), names_
    before = names_.index("flask")
    assert not any("your team" in reason for candidate in reply["candidates"] for reason in candidate["why"])

    await report(running.dsn, [("i1", "a", "pypi", "flask"), ("i2", "b", "pypi", "flask"), ("i3", "c", "pypi", "flask")])
    # A report changes the inputs: the cached answer must not hide it (a pattern recompute clears the cache).
    await running.cache.clear()
    status, reply = await ask(running.client, subjects.PACKAGES_RECOMMENDATIONS, payload)
    after = [candidate["name"] for candidate in reply["candidates"]]
    flask = reply["candidates"][after.index("flask")]
    assert after.index("flask") <= before and after[0] == "flask"
    assert "used by 3 of your team's instances" in flask["why"]
    assert flask["team"] == {"instances": 3, "projects": 3}


async def test_an_empty_need_is_a_400(running: Running) -> None:
    for need in ("", "   ", "!!"):
        status, reply = await ask(running.client, subjects.PACKAGES_RECOMMENDATIONS, {"need": need})
        assert status == "400" and "need" in reply["error"]["message"]


async def test_discovery_asks_the_registry_search_and_stores_in_the_background(running: Running) -> None:
    running.registry.add("/-/v1/search", replay.Reply.json({"objects": [
        {"package": {"name": "ms", "version": "2.1.3", "description": "Tiny millisecond conversion utility",
                     "keywords": ["ms", "time", "convert"]}},
    ]}))  # fmt: skip
    payload = {"need": "millisecond conversion", "ecosystem": "npm"}
    status, reply = await ask(running.client, subjects.PACKAGES_RECOMMENDATIONS, payload)
    assert status is None, reply
    assert reply["discovery"] == {"asked": ["npm"], "found": 1, "failed": []}
    assert reply["candidates"][0]["name"] == "ms" and reply["candidates"][0]["discovered"]
    assert "found by the npm registry's search" in reply["candidates"][0]["why"]
    # In the background it is fetched into the store and marked as discovered.
    for _ in range(100):
        if await discovered_at(running.dsn, "npm", "ms") is not None:
            break
        await asyncio.sleep(0.05)
    assert await discovered_at(running.dsn, "npm", "ms") is not None


async def discovered_at(dsn: str, ecosystem: str, name: str) -> object:
    connection = await asyncpg.connect(dsn)
    try:
        return await connection.fetchval("SELECT discovered_at FROM packages WHERE ecosystem = $1 AND name = $2", ecosystem, name)
    finally:
        await connection.close()
