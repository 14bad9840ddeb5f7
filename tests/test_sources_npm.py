"""The npm adapter, on saved packuments served by the replay server."""

from __future__ import annotations

import datetime as dt
import os

import aiohttp
import pytest

import replay
from centralcloud import versions
from centralcloud.core import errors, model
from centralcloud.sources import http, npm, registries

FAST = http.HttpPolicy(timeout=2.0, max_attempts=2, backoff_base=0.01, backoff_max=0.02)
UTC = dt.timezone.utc


@pytest.fixture
async def source(server):
    async with aiohttp.ClientSession() as session:
        yield npm.NpmSource(session=session, base_url=server.url, policy=FAST)


def version(facts: model.PackageFacts, number: str) -> model.Version:
    return next(item for item in facts.versions if item.number == number)


async def fetch_doc(server: replay.ReplayServer, source: npm.NpmSource, doc: object) -> model.PackageFacts:
    server.add("/pkg", replay.Reply.json(doc))
    return (await source.fetch("pkg")).package


async def test_express(server, source):
    server.add("/express", replay.Reply.fixture("npm/express.json"))
    facts = (await source.fetch("express")).package
    assert (facts.ecosystem, facts.name, facts.display_name) == ("npm", "express", "express")
    assert facts.description == "Fast, unopinionated, minimalist web framework"
    assert facts.keywords == (
        "express", "framework", "sinatra", "web", "http", "rest", "restful", "router", "app", "api",
    )  # fmt: skip
    assert facts.licenses == ("MIT",)
    assert facts.homepage == "https://expressjs.com/"
    assert facts.repository_url == "https://github.com/expressjs/express"
    assert facts.latest_version == "5.3.0"
    assert (facts.deprecated, facts.peer_frameworks) == (False, ())
    assert facts.extra == {"dist_tags": {"latest": "5.3.0"}}
    assert [item.number for item in facts.versions] == [
        "0.14.0", "1.0.0beta", "3.21.2", "4.21.2", "5.0.0-alpha.8", "5.0.0-beta.3", "5.0.0", "5.1.0", "5.2.1", "5.3.0",
    ]  # fmt: skip
    assert [item.number for item in facts.versions if item.prerelease] == ["5.0.0-alpha.8", "5.0.0-beta.3"]

    latest = version(facts, "5.3.0")
    assert latest.published_at == dt.datetime(2026, 10, 9, 12, 56, 54, tzinfo=UTC)
    assert latest.licenses == ("MIT",)
    runtime = [dep for dep in latest.dependencies if dep.kind == "runtime"]
    dev = [dep for dep in latest.dependencies if dep.kind == "dev"]
    assert (len(runtime), len(dev)) == (28, 16)
    assert runtime[0] == model.Dependency(name="accepts", ecosystem="npm", requirement="^2.0.0", kind="runtime")
    assert model.Dependency(name="vhost", ecosystem="npm", requirement="~3.0.2", kind="dev") in dev
    # The oldest manifests declare nothing: known to be empty, not unknown.
    assert version(facts, "0.14.0").dependencies == ()
    assert version(facts, "0.14.0").licenses == ()
    assert version(facts, "3.21.2").published_at == dt.datetime(2024, 12, 4, 23, 12, 43, 463000, tzinfo=UTC)

    (request,) = server.received("/express")
    assert request.headers["Accept"] == "application/json"
    assert request.headers["User-Agent"].startswith("centralcloud/")


async def test_scoped_name_is_one_path_segment(server, source):
    server.add("/@types%2fnode", replay.Reply.fixture("npm/types-node.json"))
    facts = (await source.fetch("@types/node")).package
    assert [request.raw_path for request in server.requests] == ["/@types%2fnode"]
    assert (facts.name, facts.display_name, facts.latest_version) == ("@types/node", "@types/node", "26.6.7")
    assert facts.repository_url == "https://github.com/DefinitelyTyped/DefinitelyTyped"
    assert facts.homepage == "https://github.com/DefinitelyTyped/DefinitelyTyped/tree/master/types/node"
    assert facts.keywords == ()
    assert facts.peer_frameworks == ()
    assert version(facts, "26.6.7").dependencies == (
        model.Dependency(name="undici-types", ecosystem="npm", requirement="~8.9.0"),
    )
    assert version(facts, "4.0.22-alpha").prerelease
    assert not version(facts, "24.0.0").prerelease


async def test_deprecated_package(server, source):
    # The saved packument carries npm's deprecation message on every version, as the registry does.
    server.add("/request", replay.Reply.fixture("npm/request.json"))
    facts = (await source.fetch("request")).package
    reason = "request has been deprecated, see https://github.com/request/request/issues/3142"
    assert (facts.deprecated, facts.deprecated_reason) == (True, reason)
    assert all(item.deprecated and item.deprecated_reason == reason for item in facts.versions)
    # time.created and time.modified are not versions.
    assert [item.number for item in facts.versions] == ["2.79.0", "2.81.0", "2.87.0", "2.88.0", "2.88.2"]
    assert facts.repository_url == "https://github.com/request/request"
    assert (facts.licenses, facts.homepage) == (("Apache-2.0",), None)
    assert version(facts, "2.88.2").published_at == dt.datetime(2024, 3, 13, 20, 2, 36, 490000, tzinfo=UTC)


async def test_peer_dependencies_and_their_meta(server, source):
    server.add("/ts-node", replay.Reply.fixture("npm/ts-node.json"))
    facts = (await source.fetch("ts-node")).package
    assert facts.peer_frameworks == ("@swc/core", "@swc/wasm", "@types/node", "typescript")
    assert facts.repository_url == "https://github.com/TypeStrong/ts-node"
    peers = {dep.name: dep for dep in version(facts, "10.9.2").dependencies if dep.kind == "peer"}
    assert peers["@swc/core"] == model.Dependency(
        name="@swc/core", ecosystem="npm", requirement=">=1.2.50", kind="peer", optional=True
    )
    assert (peers["typescript"].requirement, peers["typescript"].optional) == (">=2.7", False)
    assert peers["@types/node"].optional is False


async def test_etag_revalidation(server, source):
    server.add("/express", replay.Reply.fixture("npm/express.json", etag='"packument-1"'))
    first = await source.fetch("express")
    assert first.etag == '"packument-1"'
    second = await source.fetch("express", etag=first.etag)
    assert second.not_modified
    assert (second.package, second.etag) == (None, '"packument-1"')
    assert server.received("/express")[1].headers["If-None-Match"] == '"packument-1"'


async def test_unpublished_package_is_not_found(server, source):
    doc = {
        "_id": "pkg",
        "name": "pkg",
        "time": {
            "created": "2016-03-23T20:40:31.190Z",
            "modified": "2016-03-23T22:45:46.281Z",
            "unpublished": {"time": "2016-03-23T22:45:46.281Z", "versions": ["1.0.0"]},
        },
    }
    with pytest.raises(errors.NotFound, match="unpublished"):
        await fetch_doc(server, source, doc)


async def test_missing_package_is_not_found(source):
    with pytest.raises(errors.NotFound):
        await source.fetch("no-such-package")


async def test_invalid_name_never_reaches_the_registry(server, source):
    with pytest.raises(errors.InvalidName):
        await source.fetch("../admin")
    assert server.requests == []


async def test_manifest_variants(server, source):
    doc = {
        "name": "pkg",
        "dist-tags": {"latest": "2.0.0", "next": "3.0.0-rc.1", "bad": 7},
        "time": {"1.0.0": "not a date", "2.0.0": "2020-01-02T03:04:05.000Z"},
        "versions": {
            "1.0.0": {
                "licenses": [{"type": "MIT", "url": "http://x.test/mit"}, "Apache-2.0"],
                "dependencies": ["old-style-array"],
                "deprecated": "",
            },
            "2.0.0": {
                "description": "  A package.  ",
                "keywords": "alpha, beta gamma",
                "license": {"type": "BSD-3-Clause"},
                "repository": {"type": "git", "url": "git@github.com:owner/pkg.git"},
                "dependencies": {"fsevents": "^2.3.0", "left-pad": "1.3.0", "../evil": "1.0.0", "weird": 5},
                "optionalDependencies": {"fsevents": "^2.3.0"},
                "peerDependencies": {"react": ">=18"},
                "peerDependenciesMeta": {"react": "not an object"},
                "deprecated": "use pkg2",
            },
            "2.1.0": "not a manifest",
            "3.0.0-rc.1": {"deprecated": True},
        },
    }
    facts = await fetch_doc(server, source, doc)
    assert [item.number for item in facts.versions] == ["1.0.0", "2.0.0", "3.0.0-rc.1"]
    assert facts.extra == {"dist_tags": {"latest": "2.0.0", "next": "3.0.0-rc.1"}}
    assert facts.description == "A package."
    assert facts.keywords == ("alpha", "beta gamma")
    assert facts.licenses == ("BSD-3-Clause",)
    assert facts.repository_url == "https://github.com/owner/pkg"
    assert (facts.deprecated, facts.deprecated_reason) == (True, "use pkg2")
    assert facts.peer_frameworks == ("react",)

    old = version(facts, "1.0.0")
    assert (old.licenses, old.dependencies) == (("MIT", "Apache-2.0"), ())
    assert (old.published_at, old.deprecated) == (None, False)
    current = version(facts, "2.0.0")
    assert current.published_at == dt.datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert current.dependencies == (
        model.Dependency(name="left-pad", ecosystem="npm", requirement="1.3.0"),
        model.Dependency(name="fsevents", ecosystem="npm", requirement="^2.3.0", kind="optional", optional=True),
        model.Dependency(name="react", ecosystem="npm", requirement=">=18", kind="peer"),
    )
    candidate = version(facts, "3.0.0-rc.1")
    assert (candidate.prerelease, candidate.deprecated, candidate.deprecated_reason) == (True, True, None)


async def test_packument_without_dist_tags(server, source):
    facts = await fetch_doc(server, source, {"name": "pkg", "versions": {"1.0.0": {"description": "x"}}, "time": "bad"})
    assert (facts.latest_version, facts.deprecated, facts.description) == (None, False, None)
    assert version(facts, "1.0.0").published_at is None


@pytest.mark.parametrize(
    "doc",
    [
        ["not", "an", "object"],
        {"name": "pkg", "versions": ["1.0.0"]},
        {"name": "pkg", "dist-tags": {"latest": "1.0.0"}},
    ],
)
async def test_structural_faults_are_bad_responses(server, source, doc):
    with pytest.raises(errors.BadResponse) as raised:
        await fetch_doc(server, source, doc)
    assert raised.value.source == "npm"


@pytest.mark.parametrize(
    ("number", "prerelease"),
    [
        ("1.0.0", False),
        ("1.0.0-rc.1", True),
        ("v2.0.0-beta", True),
        ("1.0.0+build-7", False),
        ("1.0.0beta", False),
        # Where a regex of our own disagreed with node-semver's reading:
        ("=1.0.0-rc.1", True),
        ("1.0.0-", False),
        ("01.2.3-beta", False),
    ],
)
async def test_prerelease_flag_agrees_with_the_version_scheme(server, source, number, prerelease):
    doc = {
        "name": "pkg",
        "dist-tags": {"latest": "1.0.0"},
        "versions": {"1.0.0": {"name": "pkg", "version": "1.0.0"}, number: {"name": "pkg", "version": number}},
    }
    facts = await fetch_doc(server, source, doc)
    assert version(facts, number).prerelease is prerelease
    assert versions.scheme("npm").prerelease_flag(number) is prerelease


@pytest.mark.online
@pytest.mark.skipif(os.environ.get("CENTRALCLOUD_ONLINE_TESTS") != "1", reason="set CENTRALCLOUD_ONLINE_TESTS=1")
async def test_live_express():
    async with aiohttp.ClientSession() as session:
        source = npm.NpmSource(session=session, base_url=registries.npm_registry_url())
        facts = (await source.fetch("express")).package
    assert facts.name == "express"
    assert facts.repository_url == "https://github.com/expressjs/express"
    assert "MIT" in facts.licenses
    assert len(facts.versions) > 200
    latest = version(facts, facts.latest_version)
    assert not latest.prerelease
    assert latest.published_at is not None
    assert any(dep.name == "accepts" and dep.kind == "runtime" for dep in latest.dependencies)


async def test_engines_node_is_the_runtime_requirement(server, source):
    server.add("/express", replay.Reply.fixture("npm/express.json"))
    facts = (await source.fetch("express")).package
    assert version(facts, "5.3.0").requires_runtime == ">= 18"
    assert version(facts, "4.21.2").requires_runtime == ">= 0.10.0"
    doc = {"name": "pkg", "versions": {"1.0.0": {"engines": ["node >=0.4"]}, "2.0.0": {"engines": {"npm": ">=7"}}}}
    facts = await fetch_doc(server, source, doc)
    assert [item.requires_runtime for item in facts.versions] == [None, None]
