""""Could not check" never reads as "safe": advisory answers when no source can be asked."""

from __future__ import annotations

import datetime as dt
import json
import pathlib
from collections.abc import AsyncIterator

import aiohttp
import pytest

import replay
from centralcloud.core import names
from centralcloud.facts import cache, catalog
from centralcloud.runtime import config
from centralcloud.runtime import database as local
from centralcloud.sources import http, npm, osv, pypi
from centralcloud.store import db
from replay import Reply, ReplayServer

FAST = http.HttpPolicy(timeout=2, max_attempts=1, backoff_base=0.01, backoff_max=0.05)
DJANGO = names.PackageRef("pypi", "django")
EXPRESS = names.PackageRef("npm", "express")
REQUESTS = names.PackageRef("pypi", "requests")


async def make_catalog(
    database: db.Database, server: ReplayServer, session: aiohttp.ClientSession, *, trust_imports: bool = False
) -> catalog.Catalog:
    return catalog.Catalog(
        database=database,
        sources={
            "npm": npm.NpmSource(session=session, base_url=server.url, policy=FAST),
            "pypi": pypi.PypiSource(session=session, base_url=server.url, policy=FAST),
        },
        read_cache=cache.ReadCache(ttl=0, max_size=10),
        request_timeout=5,
        osv_source=osv.OsvSource(session=session, base_url=server.url, policy=FAST),
        advisories_freshness=48 * 3600,
        trust_imported_advisories=trust_imports,
    )


@pytest.fixture
async def osv_down(database: db.Database) -> AsyncIterator[tuple[ReplayServer, aiohttp.ClientSession]]:
    async with ReplayServer() as server, aiohttp.ClientSession() as session:
        server.add("/express", Reply.fixture("npm/express.json"))
        server.add("/pypi/django/json", Reply.fixture("pypi/django.json"))
        server.add("/pypi/requests/json", Reply.fixture("pypi/requests.json"))
        server.add_handler("/v1/query", lambda body: Reply(status=503, body=b"down"))
        yield server, session


async def test_osv_unreachable_and_nothing_imported_is_undetermined(database: db.Database, osv_down) -> None:
    server, session = osv_down
    the_catalog = await make_catalog(database, server, session)
    try:
        for ref, version in ((DJANGO, "4.2.6"), (DJANGO, "1.2"), (EXPRESS, "4.17.1")):
            reply = await the_catalog.advisories(ref, version=version)
            assert reply.affected is None, (ref, version)
            assert reply.checked_at is None
            unchecked = [u for u in reply.undetermined if u.id is None]
            assert len(unchecked) == 1 and unchecked[0].source == "osv"
            assert "no advisory source has answered" in unchecked[0].reason
        # A count it does know (django's registry lists an advisory on its latest) is still given.
        assert json.loads(await the_catalog.get(DJANGO, max_versions=1))["advisories_latest"] == 1
        assert json.loads(await the_catalog.get(EXPRESS, max_versions=1))["advisories_latest"] is None
    finally:
        await the_catalog.close()


async def test_a_recent_answer_still_counts_when_osv_goes_down(database: db.Database, osv_down) -> None:
    server, session = osv_down
    the_catalog = await make_catalog(database, server, session)
    try:
        await the_catalog.get(EXPRESS, max_versions=1)
        await database.pool.execute(
            "UPDATE packages SET advisories_synced_at = now() - interval '7 hours' WHERE name = 'express'"
        )
        reply = await the_catalog.advisories(EXPRESS, version="4.17.1")
        assert reply.affected is False and reply.checked_at is not None
        assert reply.warnings and reply.warnings[0].startswith("osv:")
        got = json.loads(await the_catalog.get(EXPRESS, max_versions=1))
        assert got["advisories_latest"] == 0

        # Past the freshness window, the same stored nothing no longer reads as "not affected".
        await database.pool.execute(
            "UPDATE packages SET advisories_synced_at = now() - interval '3 days' WHERE name = 'express'"
        )
        stale = await the_catalog.advisories(EXPRESS, version="4.17.1")
        assert stale.affected is None
        assert any(u.id is None and "since" in u.reason for u in stale.undetermined)
        assert json.loads(await the_catalog.get(EXPRESS, max_versions=1))["advisories_latest"] is None
    finally:
        await the_catalog.close()


async def test_imports_count_only_where_configured_and_covering(
    database: db.Database, database_url: str, osv_down, tmp_path: pathlib.Path
) -> None:
    server, session = osv_down
    export = tmp_path / "export"
    export.mkdir()
    pysec = replay.FIXTURES / "osv" / "PYSEC-2023-225.json"
    (export / pysec.name).write_bytes(pysec.read_bytes())
    modified = dt.datetime.fromisoformat(json.loads(pysec.read_text())["modified"].replace("Z", "+00:00"))
    await local.import_advisories(config.load(env={}, database_url=database_url), str(export))

    # Without the setting, an import does not stand in for a source.
    plain = await make_catalog(database, server, session)
    try:
        assert (await plain.advisories(REQUESTS, version="2.34.2")).affected is None
    finally:
        await plain.close()

    trusting = await make_catalog(database, server, session, trust_imports=True)
    try:
        reply = await trusting.advisories(REQUESTS, version="2.34.2")
        assert reply.affected is False
        assert reply.as_of == modified
        assert any("imported advisory export" in w for w in reply.warnings)
        # npm is not covered by that export: still undetermined.
        assert (await trusting.advisories(EXPRESS, version="4.17.1")).affected is None
    finally:
        await trusting.close()
