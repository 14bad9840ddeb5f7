"""GitHub: repository facts, conditional requests and the hourly rate budget."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time

import pytest

import replay
from centralcloud.core import errors, model
from centralcloud.sources import github, http

FAST = http.HttpPolicy(timeout=2.0, max_attempts=3, backoff_base=0.01, backoff_max=0.02, max_retry_wait=1.0)
EXPRESS = "/repos/expressjs/express"


@pytest.fixture(autouse=True)
def fresh_warning(monkeypatch):
    monkeypatch.setattr(github, "_warned_unauthenticated", False)


def source(session, server, token: str | None = "ghp_test") -> github.GithubSource:
    return github.GithubSource(session=session, base_url=server.url, policy=FAST, token=token)


def budget(remaining: int, reset: float) -> dict[str, str]:
    return {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": str(remaining), "x-ratelimit-reset": str(reset)}


async def test_express_facts(session, server):
    server.add(EXPRESS, replay.Reply.fixture("github/express.json", etag='W/"abc123"'))
    facts, etag = await source(session, server).fetch_repository("https://github.com/expressjs/express")
    assert etag == 'W/"abc123"'
    assert facts == model.RepositoryFacts(
        url="https://github.com/expressjs/express",
        host="github.com",
        owner="expressjs",
        name="express",
        description="Fast, unopinionated, minimalist web framework for node.",
        stars=65432,
        forks=16234,
        open_issues=187,
        pushed_at=dt.datetime(2024, 9, 30, 21, 4, 55, tzinfo=dt.timezone.utc),
        archived=False,
        disabled=False,
        license="MIT",
        topics=("express", "javascript", "nodejs", "server"),
        default_branch="master",
    )


async def test_sends_token_and_api_headers(session, server):
    server.add(EXPRESS, replay.Reply.fixture("github/express.json"))
    await source(session, server, token="ghp_secret").fetch_repository("https://github.com/expressjs/express")
    (request,) = server.received(EXPRESS)
    assert request.headers["Authorization"] == "Bearer ghp_secret"
    assert request.headers["Accept"] == "application/vnd.github+json"
    assert request.headers["X-GitHub-Api-Version"] == "2022-11-28"
    assert request.headers["User-Agent"].startswith("centralcloud/")


@pytest.mark.parametrize(
    "url",
    [
        "git+https://github.com/expressjs/express.git",
        "git@github.com:expressjs/express.git",
        "github:expressjs/express",
        "expressjs/express",
        "https://www.github.com/expressjs/express/tree/master/lib",
        "git://github.com/expressjs/express.git#4.x",
    ],
)
async def test_any_github_url_form(session, server, url):
    server.add(EXPRESS, replay.Reply.fixture("github/express.json"))
    facts, _ = await source(session, server).fetch_repository(url)
    assert facts.url == "https://github.com/expressjs/express"


@pytest.mark.parametrize(
    "url",
    ["https://gitlab.com/gitlab-org/gitlab", "https://github.com/expressjs", "not a url", "https://github.com/a b/c"],
)
async def test_non_github_url_is_bad_request_without_a_request(session, server, url):
    with pytest.raises(errors.BadRequest):
        await source(session, server).fetch_repository(url)
    assert server.requests == []


def test_parse_github_url():
    assert github.parse_github_url("https://github.com/expressjs/express.git") == ("expressjs", "express")
    assert github.parse_github_url("https://bitbucket.org/a/b") is None
    assert github.parse_github_url(None) is None


async def test_not_modified(session, server):
    server.add(EXPRESS, replay.Reply.fixture("github/express.json", etag='"e1"'))
    facts, etag = await source(session, server).fetch_repository("expressjs/express", etag='"e1"')
    assert facts is None
    assert etag == '"e1"'
    assert server.received(EXPRESS)[0].headers["If-None-Match"] == '"e1"'


async def test_budget_is_tracked(session, server):
    server.add(EXPRESS, replay.Reply.fixture("github/express.json", headers=budget(4999, 1727740800)))
    adapter = source(session, server)
    assert adapter.budget_remaining is None and adapter.budget_reset is None
    await adapter.fetch_repository("expressjs/express")
    assert adapter.budget_remaining == 4999
    assert adapter.budget_reset == dt.datetime(2024, 10, 1, 0, 0, tzinfo=dt.timezone.utc)


async def test_spent_budget_refuses_without_sending(session, server):
    reset = int(time.time()) + 3600
    server.add(EXPRESS, replay.Reply.fixture("github/express.json", headers=budget(0, reset)))
    adapter = source(session, server)
    facts, _ = await adapter.fetch_repository("expressjs/express")
    assert facts is not None
    with pytest.raises(errors.SourceUnavailable, match="rate limit") as raised:
        await adapter.fetch_repository("expressjs/express")
    assert raised.value.details["reset"] == dt.datetime.fromtimestamp(reset, tz=dt.timezone.utc).isoformat()
    assert len(server.received(EXPRESS)) == 1


async def test_budget_comes_back_after_the_reset(session, server):
    reset = time.time() + 0.3
    server.add(
        EXPRESS,
        replay.Reply.fixture("github/express.json", headers=budget(0, reset)),
        replay.Reply.fixture("github/express.json", headers=budget(59, reset + 3600)),
    )
    adapter = source(session, server)
    await adapter.fetch_repository("expressjs/express")
    await asyncio.sleep(0.35)
    facts, _ = await adapter.fetch_repository("expressjs/express")
    assert facts.name == "express"
    assert adapter.budget_remaining == 59


@pytest.mark.parametrize("status", [403, 429])
async def test_rate_limited_answer_is_unavailable_with_reset(session, server, status):
    reset = int(time.time()) + 1800
    server.add(
        EXPRESS,
        replay.Reply.json(
            {"message": "API rate limit exceeded for 127.0.0.1.", "documentation_url": "https://docs.github.com/rest"},
            status=status,
            headers=budget(0, reset),
        ),
    )
    with pytest.raises(errors.SourceUnavailable, match="rate limit") as raised:
        await source(session, server).fetch_repository("expressjs/express")
    assert raised.value.details["reset"] == dt.datetime.fromtimestamp(reset, tz=dt.timezone.utc).isoformat()
    assert raised.value.source == "github"
    # A 429 is not retried into a spent budget.
    assert len(server.received(EXPRESS)) == 1


async def test_forbidden_with_budget_left_is_plain_unavailable(session, server):
    server.add(EXPRESS, replay.Reply.json({"message": "Resource protected by organization SAML enforcement."},
                                          status=403, headers=budget(4000, time.time() + 60)))
    with pytest.raises(errors.SourceUnavailable) as raised:
        await source(session, server).fetch_repository("expressjs/express")
    assert raised.value.details["status"] == 403
    assert "reset" not in raised.value.details


async def test_warns_once_without_token(session, server, caplog):
    server.add(EXPRESS, replay.Reply.fixture("github/express.json"))
    adapter = source(session, server, token=None)
    with caplog.at_level(logging.WARNING, logger="centralcloud.sources.github"):
        await adapter.fetch_repository("expressjs/express")
        await adapter.fetch_repository("expressjs/express")
        await source(session, server, token=None).fetch_repository("expressjs/express")
    warnings = [record for record in caplog.records if "60 requests an hour" in record.getMessage()]
    assert len(warnings) == 1
    assert "Authorization" not in server.received(EXPRESS)[0].headers


async def test_no_warning_with_token(session, server, caplog):
    server.add(EXPRESS, replay.Reply.fixture("github/express.json"))
    with caplog.at_level(logging.WARNING, logger="centralcloud.sources.github"):
        await source(session, server).fetch_repository("expressjs/express")
    assert caplog.records == []


async def test_missing_repository_is_not_found(session, server):
    with pytest.raises(errors.NotFound):
        await source(session, server).fetch_repository("expressjs/nope")


async def test_html_is_bad_response(session, server):
    server.add(EXPRESS, replay.Reply(body=b"<html><body>Unicorn!</body></html>", headers={"Content-Type": "text/html"}))
    with pytest.raises(errors.BadResponse, match="text/html"):
        await source(session, server).fetch_repository("expressjs/express")


async def test_non_object_is_bad_response(session, server):
    server.add(EXPRESS, replay.Reply.json([{"name": "express"}]))
    with pytest.raises(errors.BadResponse):
        await source(session, server).fetch_repository("expressjs/express")


async def test_mistyped_optional_fields_are_left_out(session, server):
    doc = replay.fixture_json("github/express.json")
    doc.update(stargazers_count="65k", archived="no", license="MIT", topics="express", owner=None, pushed_at=5)
    server.add(EXPRESS, replay.Reply.json(doc))
    facts, _ = await source(session, server).fetch_repository("expressjs/express")
    assert facts.stars is None and facts.archived is None and facts.license is None
    assert facts.topics == () and facts.pushed_at is None
    assert facts.owner == "expressjs"


async def test_renamed_repository_reports_its_new_name(session, server):
    doc = replay.fixture_json("github/express.json")
    doc.update(name="express-next", html_url="https://github.com/expressjs/express-next")
    server.add("/repos/expressjs/old-express", replay.Reply.json(doc))
    facts, _ = await source(session, server).fetch_repository("https://github.com/expressjs/old-express")
    assert facts.url == "https://github.com/expressjs/express-next"
    assert facts.name == "express-next"


async def test_noassertion_license_is_none(session, server):
    doc = replay.fixture_json("github/express.json")
    doc["license"] = {"key": "other", "name": "Other", "spdx_id": "NOASSERTION", "url": None}
    server.add(EXPRESS, replay.Reply.json(doc))
    facts, _ = await source(session, server).fetch_repository("expressjs/express")
    assert facts.license is None


def test_default_base_url():
    assert github.DEFAULT_URL == "https://api.github.com"
