"""Every source through packages.get, and exact advisory answers through packages.advisories.

Registries, GitHub and OSV are replayed locally from saved responses in their documented
shapes; PostgreSQL and nats-server are real.
"""

from __future__ import annotations

import asyncio
import json
import pathlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import nats
import pytest
from nats.aio.client import Client
from nats.micro import request as micro_request

import replay
from centralcloud.edge import endpoint, handlers
from centralcloud.facts import advisories, cache, catalog
from centralcloud.runtime import config
from centralcloud.runtime import database as local
from centralcloud.store import advisories as store_advisories
from centralcloud.store import db
from centralcloud.sources import cargo, github, hex as hexpm, http, limits, npm, npm_audit, osv, pypi
from replay import Reply, ReplayServer

GET = "centralcloud.packages.get"
ADVISORIES = "centralcloud.packages.advisories"
FAST = http.HttpPolicy(timeout=2, max_attempts=2, backoff_base=0.01, backoff_max=0.05)


def osv_records() -> dict[tuple[str, str], list[dict]]:
    """OSV records by (OSV ecosystem, name); the Hex record is re-aimed at phoenix, which we replay."""
    by_package: dict[tuple[str, str], list[dict]] = {}
    for path in sorted((replay.FIXTURES / "osv").glob("*.json")):
        record = json.loads(path.read_text())
        for affected in record.get("affected", []):
            package = affected.get("package") or {}
            if package.get("name") == "plug_crypto":
                package["name"] = "phoenix"
                affected["ranges"][0]["events"] = [{"introduced": "1.6.0"}, {"fixed": "1.6.15"}]
            if package.get("ecosystem"):
                by_package.setdefault((package["ecosystem"], package["name"].lower()), []).append(record)
    return by_package


def osv_query(records: dict[tuple[str, str], list[dict]]):
    def answer(body: bytes) -> Reply:
        query = json.loads(body)
        package = query["package"]
        return Reply.json({"vulns": records.get((package["ecosystem"], package["name"].lower()), [])})

    return answer


@dataclass
class Running:
    client: Client
    server: ReplayServer
    database: db.Database


@pytest.fixture
async def running(database: db.Database, nats_url: str) -> AsyncIterator[Running]:
    async with ReplayServer() as server, aiohttp.ClientSession() as session:
        server.add("/express", Reply.fixture("npm/express.json"))
        server.add("/pypi/django/json", Reply.fixture("pypi/django.json"))
        server.add("/pypi/requests/json", Reply.fixture("pypi/requests.json"))
        server.add("/index/to/ki/tokio", Reply.fixture("cargo/tokio.ndjson", headers={"Content-Type": "text/plain"}))
        server.add("/api/v1/crates/tokio", Reply.fixture("cargo/tokio.json"))
        server.add("/api/packages/phoenix", Reply.fixture("hex/phoenix.json"))
        server.add("/api/packages/phoenix/releases/1.7.14", Reply.fixture("hex/phoenix-1.7.14.json"))
        # GitHub answers late: an answer that waited for it would carry its facts.
        server.add("/repos/expressjs/express", Reply.fixture("github/express.json", delay=0.5))
        server.add_handler("/v1/query", osv_query(osv_records()))
        server.add("/-/npm/v1/security/advisories/bulk", Reply.fixture("npm-audit/bulk.json"), method="POST")
        the_catalog = catalog.Catalog(
            database=database,
            sources={
                "npm": npm.NpmSource(session=session, base_url=server.url, policy=FAST),
                "pypi": pypi.PypiSource(session=session, base_url=server.url, policy=FAST),
                "cargo": cargo.CargoSource(
                    session=session, base_url=server.url, policy=FAST, index_url=f"{server.url}/index",
                    api_limiter=limits.RateLimiter(per_second=100),
                ),
                "hex": hexpm.HexSource(session=session, base_url=server.url, policy=FAST),
            },
            read_cache=cache.ReadCache(ttl=60, max_size=100),
            request_timeout=5,
            github_source=github.GithubSource(session=session, base_url=server.url, policy=FAST),
            osv_source=osv.OsvSource(session=session, base_url=server.url, policy=FAST),
            npm_audit_source=npm_audit.NpmAuditSource(session=session, base_url=server.url, policy=FAST),
        )
        client = await nats.connect(nats_url)
        limits_ = endpoint.Limits()
        svc = await endpoint.start(client, handlers=handlers.Handlers(the_catalog).table(), limits=limits_, queue_group="t")
        try:
            yield Running(client=client, server=server, database=database)
        finally:
            await endpoint.stop(svc, limits_)
            await the_catalog.close()
            await client.close()


async def ask(client: Client, subject: str, payload: dict) -> dict:
    reply = await client.request(subject, json.dumps(payload).encode(), timeout=10)
    assert not (reply.headers or {}).get(micro_request.ERROR_CODE_HEADER), reply.data
    return json.loads(reply.data)


async def test_every_source_through_packages_get(running: Running) -> None:
    express = await ask(running.client, GET, {"ecosystem": "npm", "name": "express"})
    assert express["repository"] is None  # an answer never waits for GitHub: its facts follow
    for _ in range(50):
        express = await ask(running.client, GET, {"ecosystem": "npm", "name": "express"})
        if express["repository"] is not None and express["advisories_latest"] is not None:
            break
        await asyncio.sleep(0.05)
    assert express["repository"]["url"] == "https://github.com/expressjs/express"
    assert express["repository"]["stars"] > 60000 and express["repository"]["archived"] is False
    assert express["advisories_latest"] == 0

    django = await ask(running.client, GET, {"purl": "pkg:pypi/django"})
    assert django["latest_version"] == "6.1.3" and django["documentation_url"]

    tokio = await ask(running.client, GET, {"ecosystem": "cargo", "name": "tokio"})
    assert tokio["description"] and tokio["licenses"] == ["MIT"]
    assert tokio["repository_url"] == "https://github.com/tokio-rs/tokio"
    assert tokio["downloads"]["total"] > 0 and tokio["downloads"]["last_90_days"] > 0 and tokio["keywords"]
    assert tokio["latest_version"] and not any(v["number"] == tokio["latest_version"] and v.get("yanked") for v in tokio["versions"])
    assert any(v.get("yanked") for v in tokio["versions"])
    assert tokio["dependencies"]

    phoenix = await ask(running.client, GET, {"ecosystem": "hex", "name": "phoenix"})
    assert phoenix["latest_version"] == "1.7.14"
    assert phoenix["licenses"] == ["MIT"] and phoenix["description"]
    assert any(v.get("yanked") and v.get("yanked_reason") for v in phoenix["versions"])
    assert {d["name"] for d in phoenix["dependencies"]} >= {"plug", "phoenix_pubsub"}
    assert any(d.get("optional") for d in phoenix["dependencies"])


@pytest.mark.parametrize(
    ("ecosystem", "name", "vulnerable", "fixed", "advisory"),
    [
        ("npm", "express", "4.19.1", "4.19.2", "GHSA-rv95-896h-c2vc"),
        ("npm", "express", "5.0.0-beta.1", "5.0.0-beta.3", "GHSA-rv95-896h-c2vc"),
        ("pypi", "django", "4.2.6", "4.2.7", "PYSEC-2023-225"),
        ("pypi", "django", "3.2.22", "3.2.23", "PYSEC-2023-225"),
        ("cargo", "tokio", "1.13.0", "1.13.1", "RUSTSEC-2021-0124"),
        ("cargo", "tokio", "1.8.3", "1.8.4", "RUSTSEC-2021-0124"),
        ("hex", "phoenix", "1.6.14", "1.6.15", "EEF-CVE-2099-0001"),
    ],
)
async def test_vulnerable_version_is_affected_and_first_fix_is_not(
    running: Running, ecosystem: str, name: str, vulnerable: str, fixed: str, advisory: str
) -> None:
    hit = await ask(running.client, ADVISORIES, {"ecosystem": ecosystem, "name": name, "version": vulnerable})
    assert hit["affected"] is True
    found = {a["id"]: a for a in hit["advisories"]}
    assert advisory in found, hit
    assert found[advisory]["first_fixed"] == fixed
    clean = await ask(running.client, ADVISORIES, {"ecosystem": ecosystem, "name": name, "version": fixed})
    assert advisory not in {a["id"] for a in clean["advisories"]}
    assert advisory not in {u["id"] for u in clean["undetermined"]}
    assert clean["warnings"] == []


async def test_without_version_lists_ranges_most_severe_first(running: Running) -> None:
    reply = await ask(running.client, ADVISORIES, {"purl": "pkg:pypi/django"})
    assert reply["affected"] is None
    ids = [a["id"] for a in reply["advisories"]]
    assert "PYSEC-2023-225" in ids
    pysec = next(a for a in reply["advisories"] if a["id"] == "PYSEC-2023-225")
    assert pysec["ranges"][0]["type"] == "ECOSYSTEM" and "3.2.22" in pysec["versions"]
    scores = [a["score"] if a["score"] is not None else -1 for a in reply["advisories"]]
    assert scores == sorted(scores, reverse=True)


async def test_severity_is_scored_from_the_cvss_vector(running: Running) -> None:
    reply = await ask(running.client, ADVISORIES, {"ecosystem": "npm", "name": "express", "version": "4.19.1"})
    ghsa = next(a for a in reply["advisories"] if a["id"] == "GHSA-rv95-896h-c2vc")
    assert ghsa["vector"].startswith("CVSS:3.1/") and ghsa["score"] == 5.4 and ghsa["severity"] == "medium"


async def test_withdrawn_advisories_are_not_reported(running: Running) -> None:
    reply = await ask(running.client, ADVISORIES, {"purl": "pkg:pypi/requests@2.30.0"})
    assert reply["version"] == "2.30.0" and reply["purl"] == "pkg:pypi/requests@2.30.0"
    assert "GHSA-9wx4-h78v-vm56" not in {a["id"] for a in reply["advisories"]}


async def test_records_naming_one_advisory_merge_by_alias(running: Running) -> None:
    records = osv_records()
    records[("PyPI", "django")].append({
        "id": "GHSA-vm8q-m57g-pff3", "aliases": ["CVE-2024-27351", "PYSEC-2024-47"],
        "modified": "2024-03-05T00:00:00Z", "summary": "Regular expression denial-of-service in Truncator.words()",
        "affected": [{"package": {"ecosystem": "PyPI", "name": "django"}, "ranges": [{"type": "ECOSYSTEM", "events": [
            {"introduced": "3.2"}, {"fixed": "3.2.25"}, {"introduced": "4.2"}, {"fixed": "4.2.11"},
            {"introduced": "5.0"}, {"fixed": "5.0.3"}]}]}],
    })
    running.server.add_handler("/v1/query", osv_query(records))
    reply = await ask(running.client, ADVISORIES, {"ecosystem": "pypi", "name": "django", "version": "4.2.10"})
    merged = [a for a in reply["advisories"] if "CVE-2024-27351" in a["aliases"]]
    assert len(merged) == 1
    assert merged[0]["id"] == "PYSEC-2024-47" and "GHSA-vm8q-m57g-pff3" in merged[0]["aliases"]
    assert merged[0]["first_fixed"] == "4.2.11" and sorted(merged[0]["sources"]) == ["osv", "pypi"]
    # OSV's ranges outrank PyPI's latest-only view: the latest release is not affected.
    latest = await ask(running.client, ADVISORIES, {"ecosystem": "pypi", "name": "django", "version": "6.1.3"})
    assert "PYSEC-2024-47" not in {a["id"] for a in latest["advisories"]}


async def test_osv_down_is_a_warning_not_a_wrong_answer(running: Running) -> None:
    running.server.add_handler("/v1/query", lambda body: Reply(status=503, body=b"down"))
    reply = await ask(running.client, ADVISORIES, {"ecosystem": "npm", "name": "express", "version": "4.19.1"})
    assert reply["warnings"] and reply["warnings"][0].startswith("osv:")
    assert reply["checked_at"] is None
    asked = len(running.server.received("/v1/query"))
    # The next question does not wait for a source that just failed, and says so.
    again = await ask(running.client, ADVISORIES, {"ecosystem": "npm", "name": "express", "version": "4.19.1"})
    assert again["warnings"][0].startswith("osv: not asked again")
    assert len(running.server.received("/v1/query")) == asked


async def test_invalid_version_is_a_400(running: Running) -> None:
    reply = await running.client.request(
        ADVISORIES, json.dumps({"ecosystem": "npm", "name": "express", "version": "not a version"}).encode(), timeout=10
    )
    assert reply.headers[micro_request.ERROR_CODE_HEADER] == "400"


async def test_unknown_range_types_are_undetermined_not_safe(database: db.Database) -> None:
    await store_advisories.save(database, osv.parse_record({
        "id": "TEST-GIT-ONLY", "modified": "2024-01-01T00:00:00Z",
        "affected": [{"package": {"ecosystem": "npm", "name": "left-pad"},
                      "ranges": [{"type": "GIT", "repo": "https://example.invalid/x", "events": [{"introduced": "0"}]}]}],
    }))
    found, undetermined = await advisories.for_package(database, ecosystem="npm", name="left-pad", version="1.3.0")
    assert found == [] and [u.id for u in undetermined] == ["TEST-GIT-ONLY"]


async def test_registry_partial_view_does_not_clear_older_versions(database: db.Database) -> None:
    from centralcloud.core import model

    facts = model.PackageFacts(
        ecosystem="pypi", name="demo", display_name="demo", latest_version="2.0.0",
        advisories=(model.SourceAdvisory(id="PYSEC-0000-1", fixed_in=("2.0.1",)),),
    )
    for advisory in advisories.from_registry(facts):
        await store_advisories.save(database, advisory)
    found, _ = await advisories.for_package(database, ecosystem="pypi", name="demo", version="2.0.0")
    assert [a.id for a in found] == ["PYSEC-0000-1"] and found[0].first_fixed == "2.0.1"
    found, undetermined = await advisories.for_package(database, ecosystem="pypi", name="demo", version="1.0.0")
    assert found == [] and [u.id for u in undetermined] == ["PYSEC-0000-1"]
    found, undetermined = await advisories.for_package(database, ecosystem="pypi", name="demo", version="2.0.1")
    assert found == [] and undetermined == []


async def test_import_an_osv_export_directory(database_url: str, tmp_path: pathlib.Path) -> None:
    export = tmp_path / "export"
    export.mkdir()
    for path in (replay.FIXTURES / "osv").glob("*.json"):
        (export / path.name).write_bytes(path.read_bytes())
    (export / "broken.json").write_text("{not json")
    settings = config.load(env={}, database_url=database_url)
    report = await local.import_advisories(settings, str(export))
    assert report.read == 6 and report.skipped == 1
    database = await db.Database.connect(database_url)
    try:
        found, _ = await advisories.for_package(database, ecosystem="cargo", name="tokio", version="1.13.0")
        assert [a.id for a in found] == ["RUSTSEC-2021-0124"] and found[0].sources == ["import"]
    finally:
        await database.close()


async def test_npm_registry_advisories_merge_with_osv(running: Running) -> None:
    reply = await ask(running.client, ADVISORIES, {"ecosystem": "npm", "name": "express", "version": "4.19.1"})
    by_id = {a["id"]: a for a in reply["advisories"]}
    assert sorted(by_id["GHSA-rv95-896h-c2vc"]["sources"]) == ["npm", "osv"]
    assert by_id["GHSA-rv95-896h-c2vc"]["first_fixed"] == "4.19.2"  # OSV's events outrank npm's range
    assert by_id["GHSA-qw6h-vgh9-j6wx"]["sources"] == ["npm"]  # known to the npm registry only
    assert "NPM-1099999" in by_id["GHSA-qw6h-vgh9-j6wx"]["aliases"]
    newer = await ask(running.client, ADVISORIES, {"ecosystem": "npm", "name": "express", "version": "4.20.0"})
    assert newer["affected"] is False and newer["advisories"] == []
