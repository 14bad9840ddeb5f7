"""hex.pm: package and release documents, retirements and the announced rate budget."""

from __future__ import annotations

import datetime as dt
import time

import pytest

import replay
from centralcloud import versions
from centralcloud.core import errors, model
from centralcloud.sources import hex, http, limits

FAST = http.HttpPolicy(timeout=2.0, max_attempts=3, backoff_base=0.01, backoff_max=0.02, max_retry_wait=1.0)
PACKAGE = "/api/packages/phoenix"
RELEASE = "/api/packages/phoenix/releases/1.7.14"


def source(session, server, **kwargs) -> hex.HexSource:
    return hex.HexSource(session=session, base_url=server.url, policy=FAST, **kwargs)


def serve_phoenix(server, **package_reply) -> None:
    server.add(PACKAGE, replay.Reply.fixture("hex/phoenix.json", **package_reply))
    server.add(RELEASE, replay.Reply.fixture("hex/phoenix-1.7.14.json"))


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc)


def requirement(name: str, declared: str, optional: bool = False) -> model.Dependency:
    return model.Dependency(name=name, ecosystem="hex", requirement=declared, optional=optional)


async def test_phoenix_facts(session, server):
    serve_phoenix(server, etag='"phoenix-1"')
    result = await source(session, server).fetch("Phoenix")
    assert result.etag == '"phoenix-1"'
    facts = result.package
    assert facts.ecosystem == "hex"
    assert facts.name == "phoenix"
    assert facts.display_name == "phoenix"
    assert facts.description == "Peace of mind from prototype to production"
    assert facts.licenses == ("MIT",)
    assert facts.homepage == "https://www.phoenixframework.org"
    assert facts.repository_url == "https://github.com/phoenixframework/phoenix"
    # No Docs link: the package's hexdocs page.
    assert facts.documentation_url == "https://hexdocs.pm/phoenix/"
    assert facts.latest_version == "1.7.14"
    assert facts.downloads == 98765432
    assert facts.recent_downloads == 8123456
    assert facts.deprecated is False and facts.deprecated_reason is None
    assert facts.extra == {"build_tools": ["mix"], "elixir": "~> 1.11", "app": "phoenix"}
    assert [version.number for version in facts.versions] == [
        "1.7.14", "1.7.13", "1.7.0-rc.0", "1.6.15", "1.6.14", "1.0.0",
    ]

    latest, broken, candidate, _, insecure, first = facts.versions
    assert latest == model.Version(
        number="1.7.14",
        published_at=at("2024-06-18T14:28:10.123456"),
        requires_runtime="~> 1.11",  # the release document's meta.elixir
        dependencies=(
            requirement("castore", ">= 0.0.0", optional=True),
            requirement("jason", "~> 1.0", optional=True),
            requirement("phoenix_pubsub", "~> 2.1"),
            requirement("phoenix_template", "~> 1.0"),
            requirement("phoenix_view", "~> 2.0", optional=True),
            requirement("plug", "~> 1.14"),
            requirement("plug_cowboy", "~> 2.7", optional=True),
            requirement("plug_crypto", "~> 1.2 or ~> 2.0"),
            requirement("telemetry", "~> 0.4 or ~> 1.0"),
            requirement("websock_adapter", "~> 0.5.3"),
        ),
    )
    assert broken.yanked is True
    assert broken.yanked_reason == "invalid: Broken asset digest, use 1.7.14"
    assert broken.dependencies is None
    assert candidate.prerelease is True and candidate.yanked is False
    assert insecure.yanked_reason == "security: Use 1.6.15 or later"
    assert first.published_at == at("2015-08-28T20:05:12")
    assert first.dependencies is None
    # Only the latest stable release's requirements are asked for.
    assert [request.raw_path for request in server.requests] == [PACKAGE, RELEASE]


async def test_links_are_matched_whatever_their_case(session, server):
    doc = replay.fixture_json("hex/phoenix.json")
    doc["meta"]["links"] = {
        "github": "git@github.com:phoenixframework/phoenix.git",
        "DOCS": "https://hexdocs.pm/phoenix/overview.html",
        "Home Page": "https://phoenixframework.org",
    }
    server.add(PACKAGE, replay.Reply.json(doc))
    server.add(RELEASE, replay.Reply.fixture("hex/phoenix-1.7.14.json"))
    facts = (await source(session, server).fetch("phoenix")).package
    assert facts.repository_url == "https://github.com/phoenixframework/phoenix"
    assert facts.documentation_url == "https://hexdocs.pm/phoenix/overview.html"
    assert facts.homepage == "https://phoenixframework.org"


async def test_latest_falls_back_to_newest_unretired_stable(session, server):
    doc = replay.fixture_json("hex/phoenix.json")
    doc["latest_stable_version"] = None
    doc["retirements"]["1.7.14"] = {"reason": "deprecated", "message": "Moved to phoenix_ng"}
    server.add(PACKAGE, replay.Reply.json(doc))
    release = replay.fixture_json("hex/phoenix-1.7.14.json")
    release["version"] = "1.6.15"
    release["requirements"] = {"plug": {"app": "plug", "optional": False, "requirement": "~> 1.10"}}
    server.add("/api/packages/phoenix/releases/1.6.15", replay.Reply.json(release))
    facts = (await source(session, server).fetch("phoenix")).package
    assert facts.latest_version == "1.6.15"
    assert facts.versions[3].dependencies == (requirement("plug", "~> 1.10"),)
    assert facts.versions[0].dependencies is None
    assert facts.versions[0].yanked_reason == "deprecated: Moved to phoenix_ng"


async def test_retired_latest_with_deprecated_reason_deprecates_the_package(session, server):
    doc = replay.fixture_json("hex/phoenix.json")
    doc["retirements"]["1.7.14"] = {"reason": "renamed", "message": "Use phoenix_ng"}
    server.add(PACKAGE, replay.Reply.json(doc))
    server.add(RELEASE, replay.Reply.fixture("hex/phoenix-1.7.14.json"))
    facts = (await source(session, server).fetch("phoenix")).package
    assert facts.deprecated is True
    assert facts.deprecated_reason == "renamed: Use phoenix_ng"


async def test_not_modified_skips_the_release(session, server):
    serve_phoenix(server, etag='"phoenix-1"')
    result = await source(session, server).fetch("phoenix", etag='"phoenix-1"')
    assert result.not_modified and result.etag == '"phoenix-1"'
    assert server.received(PACKAGE)[0].headers["If-None-Match"] == '"phoenix-1"'
    assert server.received(RELEASE) == []


async def test_api_key_is_sent_as_authorization(session, server):
    serve_phoenix(server)
    await source(session, server, api_key="hexkey-123").fetch("phoenix")
    for path in (PACKAGE, RELEASE):
        assert server.received(path)[0].headers["authorization"] == "hexkey-123"


async def test_no_api_key_no_authorization(session, server):
    serve_phoenix(server)
    await source(session, server).fetch("phoenix")
    assert "authorization" not in server.received(PACKAGE)[0].headers


async def test_spent_budget_waits_for_the_reset(session, server):
    reset = time.time() + 0.6
    server.add(
        PACKAGE,
        replay.Reply.fixture(
            "hex/phoenix.json",
            headers={"x-ratelimit-limit": "100", "x-ratelimit-remaining": "0", "x-ratelimit-reset": f"{reset:.3f}"},
        ),
    )
    server.add(RELEASE, replay.Reply.fixture("hex/phoenix-1.7.14.json"))
    adapter = source(session, server)
    started = time.monotonic()
    facts = (await adapter.fetch("phoenix")).package
    assert facts.latest_version == "1.7.14"
    assert time.monotonic() - started >= 0.5
    assert adapter.budget.limit == 100


async def test_budget_left_does_not_wait(session, server):
    reset = time.time() + 30
    server.add(
        PACKAGE,
        replay.Reply.fixture(
            "hex/phoenix.json", headers={"x-ratelimit-remaining": "7", "x-ratelimit-reset": str(int(reset))}
        ),
    )
    server.add(RELEASE, replay.Reply.fixture("hex/phoenix-1.7.14.json"))
    adapter = source(session, server)
    started = time.monotonic()
    await adapter.fetch("phoenix")
    assert time.monotonic() - started < 0.5
    assert adapter.budget.remaining == 7


async def test_429_waits_for_the_announced_reset_before_retrying(session, server):
    reset = time.time() + 0.5
    limited = replay.Reply.json(
        {"status": 429, "message": "API rate limit exceeded for IP 127.0.0.1"},
        status=429,
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": f"{reset:.3f}"},
    )
    server.add(PACKAGE, limited, replay.Reply.fixture("hex/phoenix.json"))
    server.add(RELEASE, replay.Reply.fixture("hex/phoenix-1.7.14.json"))
    started = time.monotonic()
    facts = (await source(session, server).fetch("phoenix")).package
    assert facts.name == "phoenix"
    assert len(server.received(PACKAGE)) == 2
    assert time.monotonic() - started >= 0.45


async def test_429_over_and_over_is_unavailable(session, server):
    server.add(PACKAGE, replay.Reply(status=429))
    with pytest.raises(errors.SourceUnavailable):
        await source(session, server).fetch("phoenix")
    assert len(server.received(PACKAGE)) == FAST.max_attempts


async def test_reset_too_far_away_fails_fast_without_sending(session, server):
    serve_phoenix(server)
    adapter = source(session, server, max_budget_wait=5.0)
    adapter.budget.exhaust_until(time.time() + 3600)
    with pytest.raises(errors.SourceUnavailable, match="rate limit") as raised:
        await adapter.fetch("phoenix")
    assert "reset" in raised.value.details
    assert server.requests == []


async def test_header_budget_with_epoch_seconds():
    now = [1_718_000_000.0]
    slept = []

    async def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    budget = limits.HeaderBudget(clock=lambda: now[0], sleep=sleep)
    assert not budget.exhausted() and await budget.wait() == 0.0
    budget.observe({"x-ratelimit-limit": "100", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "1718000012"})
    assert budget.exhausted()
    assert budget.reset_datetime == dt.datetime(2024, 6, 10, 6, 13, 32, tzinfo=dt.timezone.utc)
    assert await budget.wait() == 12.0
    assert slept == [12.0]
    assert not budget.exhausted()
    # Answers without the headers, or with junk in them, change nothing.
    budget.observe({"x-ratelimit-remaining": "soon"})
    budget.observe({})
    assert budget.remaining == 0 and budget.limit == 100


async def test_missing_package_is_not_found(session, server):
    with pytest.raises(errors.NotFound):
        await source(session, server).fetch("no_such_package")


async def test_html_is_bad_response(session, server):
    server.add(PACKAGE, replay.Reply(body=b"<!DOCTYPE html><title>Hex</title>", headers={"Content-Type": "text/html"}))
    with pytest.raises(errors.BadResponse, match="text/html"):
        await source(session, server).fetch("phoenix")


@pytest.mark.parametrize(
    "mistake",
    [
        lambda doc: doc.update(releases={"1.7.14": {}}),
        lambda doc: doc.pop("releases"),
        lambda doc: doc["releases"].append("1.7.15"),
        lambda doc: doc["releases"][0].update(version=1.7),
    ],
)
async def test_mistyped_package_fields_are_bad_response(session, server, mistake):
    doc = replay.fixture_json("hex/phoenix.json")
    mistake(doc)
    server.add(PACKAGE, replay.Reply.json(doc))
    server.add(RELEASE, replay.Reply.fixture("hex/phoenix-1.7.14.json"))
    with pytest.raises(errors.BadResponse) as raised:
        await source(session, server).fetch("phoenix")
    assert raised.value.source == "hex"


@pytest.mark.parametrize(
    "mistake",
    [
        lambda doc: doc.update(requirements=["plug"]),
        lambda doc: doc["requirements"].update(plug="~> 1.14"),
        lambda doc: doc["requirements"]["plug"].update(requirement=1.14),
    ],
)
async def test_mistyped_release_fields_are_bad_response(session, server, mistake):
    release = replay.fixture_json("hex/phoenix-1.7.14.json")
    mistake(release)
    server.add(PACKAGE, replay.Reply.fixture("hex/phoenix.json"))
    server.add(RELEASE, replay.Reply.json(release))
    with pytest.raises(errors.BadResponse):
        await source(session, server).fetch("phoenix")


async def test_lenient_optional_fields(session, server):
    doc = replay.fixture_json("hex/phoenix.json")
    doc.update(downloads=None, meta={"description": 5}, retirements=None)
    server.add(PACKAGE, replay.Reply.json(doc))
    server.add(RELEASE, replay.Reply.fixture("hex/phoenix-1.7.14.json"))
    facts = (await source(session, server).fetch("phoenix")).package
    assert facts.downloads is None and facts.recent_downloads is None
    assert facts.description is None and facts.licenses == ()
    assert not any(version.yanked for version in facts.versions)


def test_defaults():
    assert hex.DEFAULT_URL == "https://hex.pm"


async def test_prerelease_flags_agree_with_the_version_scheme(session, server):
    doc = replay.fixture_json("hex/phoenix.json")
    # "1.8.0-" is no Elixir version: a regex of our own once called it a pre-release.
    doc["releases"][:0] = [{"version": number, "inserted_at": None} for number in ("1.8.0-", "1.8.0-rc.0")]
    server.add(PACKAGE, replay.Reply.json(doc))
    server.add(RELEASE, replay.Reply.fixture("hex/phoenix-1.7.14.json"))
    facts = (await source(session, server).fetch("phoenix")).package
    flags = {item.number: item.prerelease for item in facts.versions}
    assert flags["1.8.0-rc.0"] and not flags["1.8.0-"] and not flags["1.7.14"]
    scheme = versions.scheme("hex")
    assert flags == {number: scheme.prerelease_flag(number) for number in flags}
