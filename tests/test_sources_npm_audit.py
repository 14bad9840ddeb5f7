"""The npm registry's bulk advisory endpoint, replayed in its documented shape."""

from __future__ import annotations

import json

import pytest

import replay
from centralcloud.core import errors
from centralcloud.facts import advisories
from centralcloud.store import advisories as store_advisories
from centralcloud.store import db
from centralcloud.sources import http, npm_audit

FAST = http.HttpPolicy(timeout=2.0, max_attempts=2, backoff_base=0.01, backoff_max=0.02)
BULK = "/-/npm/v1/security/advisories/bulk"


async def test_bulk_maps_each_advisory(server, session) -> None:
    server.add(BULK, replay.Reply.fixture("npm-audit/bulk.json"), method="POST")
    source = npm_audit.NpmAuditSource(session=session, base_url=server.url, policy=FAST)
    found = await source.bulk({"express": ["4.19.1", "4.19.2"], "shell-quote": ["1.7.2"]})
    sent = json.loads(server.received(BULK)[0].body)
    assert sent == {"express": ["4.19.1", "4.19.2"], "shell-quote": ["1.7.2"]}
    by_id = {a.id: a for a in found}
    redirect = by_id["GHSA-rv95-896h-c2vc"]
    assert redirect.aliases == ("NPM-1096820",)
    assert redirect.summary == "Express.js Open Redirect in malformed URLs"
    assert redirect.severity_score == 6.1 and redirect.severity == "medium"
    assert redirect.references == ("https://github.com/advisories/GHSA-rv95-896h-c2vc",)
    [affected] = redirect.affected
    assert (affected.ecosystem, affected.name) == ("npm", "express")
    assert affected.ranges[0].type == "NPM_RANGE" and affected.ranges[0].events == ({"range": "<4.19.2"},)
    quote = by_id["GHSA-g4rg-993r-mgx7"]
    assert quote.severity == "critical" and quote.severity_score is None  # a zero score means none given


@pytest.mark.parametrize("body", [b"<html>error</html>", b'{"express": "nope"}', b"[1, 2]"])
async def test_bad_shapes_are_bad_responses(server, session, body: bytes) -> None:
    server.add(BULK, replay.Reply(body=body, headers={"Content-Type": "application/json"}), method="POST")
    source = npm_audit.NpmAuditSource(session=session, base_url=server.url, policy=FAST)
    with pytest.raises(errors.BadResponse):
        await source.bulk({"express": ["4.19.1"]})


async def test_npm_ranges_match_with_npm_rules(database: db.Database) -> None:
    fixture = replay.fixture_json("npm-audit/bulk.json")
    for item in fixture["express"]:
        await store_advisories.save(database, npm_audit.parse("express", item))
    found, undetermined = await advisories.for_package(database, ecosystem="npm", name="express", version="4.19.1")
    assert [a.id for a in found] == ["GHSA-rv95-896h-c2vc", "GHSA-qw6h-vgh9-j6wx"] and undetermined == []
    found, _ = await advisories.for_package(database, ecosystem="npm", name="express", version="4.19.2")
    assert [a.id for a in found] == ["GHSA-qw6h-vgh9-j6wx"]
    found, _ = await advisories.for_package(database, ecosystem="npm", name="express", version="5.0.0")
    assert found == []
