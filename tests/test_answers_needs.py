"""`centralcloud.packages.recommendations` over NATS on about 200 real packages of the four
ecosystems (tests/fixtures/answers/needs/, see its README): stored through the real adapters
from the saved documents, download counts saved as the downloads phase saves them, then the
needs issue 9 names are asked and the team's use is reported through the pattern intake."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import asyncpg
import pytest
from nats.aio.client import Client

import replay
import test_answers_service as service_tests
from centralcloud.answers import bundle, service
from centralcloud.core import names
from centralcloud.facts import cache, catalog, knowledge
from centralcloud.sources import cargo, hex as hexpm, http, limits, npm, pypi
from centralcloud.store import db, downloads
from centralcloud.wire import subjects

NEEDS = replay.FIXTURES / "answers" / "needs"
POLICY = http.HttpPolicy(timeout=5, max_attempts=2, backoff_base=0.01, backoff_max=0.05)


@dataclass
class Running:
    client: Client
    database: db.Database
    dsn: str
    cache: cache.ReadCache


def serve(registry: replay.ReplayServer) -> list[names.PackageRef]:
    """Route every saved document where its adapter asks for it; the packages served."""
    refs = []
    json_type = {"Content-Type": "application/json"}
    for path in sorted((NEEDS / "npm").glob("*.json")):
        registry.add(f"/{path.stem}", replay.Reply(body=path.read_bytes(), headers=json_type))
        refs.append(names.PackageRef(ecosystem="npm", name=path.stem.replace("%2f", "/")))
    for path in sorted((NEEDS / "pypi").glob("*.json")):
        registry.add(f"/pypi/{path.stem}/json", replay.Reply(body=path.read_bytes(), headers=json_type))
        refs.append(names.PackageRef(ecosystem="pypi", name=path.stem))
    for path in sorted((NEEDS / "cargo").glob("*.json")):
        registry.add(f"/api/v1/crates/{path.stem}", replay.Reply(body=path.read_bytes(), headers=json_type))
        index = path.with_suffix(".ndjson").read_bytes()
        registry.add(f"/index/{cargo.index_path(path.stem)}", replay.Reply(body=index, headers={"Content-Type": "text/plain"}))
        refs.append(names.PackageRef(ecosystem="cargo", name=path.stem))
    for path in sorted((NEEDS / "hex").glob("*.json")):
        document = json.loads(path.read_bytes())
        if "releases" not in document:
            continue  # a release document, served below
        registry.add(f"/api/packages/{path.stem}", replay.Reply(body=path.read_bytes(), headers=json_type))
        for release in document["releases"]:
            body = (NEEDS / "hex" / f"{path.stem}-{release['version']}.json").read_bytes()
            registry.add(f"/api/packages/{path.stem}/releases/{release['version']}", replay.Reply(body=body, headers=json_type))
        refs.append(names.PackageRef(ecosystem="hex", name=path.stem))
    return refs


async def store_all(the_catalog: catalog.Catalog, database: db.Database, refs: list[names.PackageRef]) -> None:
    gate = asyncio.Semaphore(16)

    async def one(ref: names.PackageRef) -> None:
        async with gate:
            await the_catalog.refresh(ref, conditional=False)

    await asyncio.gather(*(one(ref) for ref in refs))
    # npm's and PyPI's counts come from their download counters, saved as the downloads phase saves them.
    counts = json.loads((NEEDS / "downloads.json").read_text())
    ids = await package_ids(database)
    for ecosystem, source in (("npm", "npm-downloads"), ("pypi", "pypistats")):
        rows = [(ids[(ecosystem, name)], None, month, None, None) for name, month in counts[ecosystem].items()]
        await downloads.save_counts(database, source=source, rows=rows, fetched_at=dt.datetime.now(dt.timezone.utc))
    await database.execute_script("ANALYZE packages;")


async def package_ids(database: db.Database) -> dict[tuple[str, str], int]:
    connection = await asyncpg.connect(database.dsn)
    try:
        return {(row["ecosystem"], row["name"]): row["id"] for row in await connection.fetch("SELECT id, ecosystem, name FROM packages")}
    finally:
        await connection.close()


@pytest.fixture
async def running(database: db.Database, database_url: str, nats_url: str) -> AsyncIterator[Running]:
    async with replay.ReplayServer() as registry, aiohttp.ClientSession() as session:
        refs = serve(registry)
        sources = {
            "npm": npm.NpmSource(session=session, base_url=registry.url, policy=POLICY),
            "pypi": pypi.PypiSource(session=session, base_url=registry.url, policy=POLICY),
            "cargo": cargo.CargoSource(session=session, base_url=registry.url, policy=POLICY,
                                       index_url=f"{registry.url}/index", api_limiter=limits.RateLimiter(per_second=1000.0)),
            "hex": hexpm.HexSource(session=session, base_url=registry.url, policy=POLICY),
        }  # fmt: skip
        the_catalog = catalog.Catalog(
            database=database, sources=sources, read_cache=cache.ReadCache(ttl=60, max_size=1000), request_timeout=10,
        )
        await store_all(the_catalog, database, refs)
        answers = bundle.build(the_catalog, options=service.Options(deadline=10), discovery_deadline=1)
        async with service_tests.over_nats(the_catalog, answers, nats_url) as client:
            yield Running(client=client, database=database, dsn=database_url, cache=the_catalog.cache)


async def recommended(running: Running, need: str, ecosystem: str | None = None, limit: int = 10) -> list[dict]:
    payload = {"need": need, "limit": limit, "discover": False} | ({"ecosystem": ecosystem} if ecosystem else {})
    status, reply = await service_tests.ask(running.client, subjects.PACKAGES_RECOMMENDATIONS, payload)
    assert status is None, reply
    return reply["candidates"]


def ranked(candidates: list[dict]) -> list[str]:
    return [candidate["name"] for candidate in candidates]


async def test_the_fixture_holds_about_two_hundred_packages_of_four_ecosystems(running: Running) -> None:
    ids = await package_ids(running.database)
    per_ecosystem = {eco: sum(1 for e, _ in ids if e == eco) for eco in ("npm", "pypi", "cargo", "hex")}
    assert 190 <= len(ids) <= 220 and min(per_ecosystem.values()) >= 20, per_ecosystem


async def test_async_runtime_ranks_tokio_first_in_cargo(running: Running) -> None:
    candidates = await recommended(running, "async runtime", "cargo")
    assert ranked(candidates)[0] == "tokio", ranked(candidates)
    # tokio's own words never say "runtime": actix-rt, "Tokio-based ... async runtime", depends on it and names it.
    assert "what actix-rt builds on" in candidates[0]["why"]
    assert "100M+ downloads" in candidates[0]["why"]
    assert {"actix-rt", "smol"} <= set(ranked(candidates)[:4])


async def test_web_framework_puts_django_flask_fastapi_in_pypis_top_5_and_express_in_npms_top_3(running: Running) -> None:
    pypi_top = ranked(await recommended(running, "web framework", "pypi", limit=5))
    assert {"django", "flask", "fastapi"} <= set(pypi_top), pypi_top
    npm_top = ranked(await recommended(running, "web framework", "npm", limit=3))
    assert "express" in npm_top, npm_top


async def test_task_scheduler_spans_at_least_three_ecosystems(running: Running) -> None:
    candidates = await recommended(running, "task scheduler")
    assert len({candidate["ecosystem"] for candidate in candidates}) >= 3, [(c["ecosystem"], c["name"]) for c in candidates]
    # A package only named by a full match (tokio by tokio-cron-scheduler) but matching no word stays out.
    assert "tokio" not in ranked(candidates)


async def test_three_instances_using_fastapi_move_it_up_with_a_team_reason(running: Running) -> None:
    before = ranked(await recommended(running, "web framework", "pypi", limit=5))
    assert before[0] != "fastapi", before
    intake = knowledge.Knowledge(database=running.database, read_cache=running.cache)
    for seq, instance in enumerate(("alpha", "beta", "gamma"), start=1):
        body = json.dumps({"project": f"{instance}-api", "dependencies": [
            {"purl": "pkg:pypi/fastapi@0.115.5"}, {"purl": "pkg:pypi/uvicorn@0.32.1"},
        ]}).encode()  # fmt: skip
        # Each report as the intake takes it from the reports stream.
        outcome = await intake.ingest(token=instance, body=body, project=None, stream_seq=seq, message_id=None)
        assert outcome == "stored"
    await running.cache.clear()  # as a pattern recompute does
    after = await recommended(running, "web framework", "pypi", limit=5)
    assert ranked(after)[0] == "fastapi" and ranked(after).index("fastapi") < before.index("fastapi"), ranked(after)
    assert "used by 3 of your team's instances" in after[0]["why"]
    assert after[0]["team"] == {"instances": 3, "projects": 3}
