"""The shared HTTP plumbing of source adapters, against a local replay server."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import socket
import time

import aiohttp
import pytest

import replay
from centralcloud.core import errors, model
from centralcloud.sources import base, http, readers, repository_urls

FAST = http.HttpPolicy(timeout=2.0, max_attempts=3, backoff_base=0.01, backoff_max=0.02, max_retry_wait=2.0)


class Probe(http.HttpSource):
    name = "probe"
    ecosystem = "npm"


def probe(session: aiohttp.ClientSession, server: replay.ReplayServer, **policy: object) -> Probe:
    return Probe(session=session, base_url=server.url, policy=dataclasses.replace(FAST, **policy))


async def test_decodes_json_and_sends_user_agent(session, server):
    headers = {"Last-Modified": "Tue, 01 Oct 2024 10:00:00 GMT"}
    server.add("/thing", replay.Reply.json({"name": "thing", "n": 3}, headers=headers))
    response = await probe(session, server).get_json("thing")
    assert response.status == 200
    assert response.json == {"name": "thing", "n": 3}
    assert response.last_modified == "Tue, 01 Oct 2024 10:00:00 GMT"
    (request,) = server.received("/thing")
    assert request.headers["User-Agent"] == "centralcloud/0.1.0 (+package knowledge service)"
    assert request.headers["Accept"] == "application/json"


async def test_caller_headers_win_over_defaults(session, server):
    server.add("/thing", replay.Reply.json({}))
    await probe(session, server).get_json("/thing", headers={"Accept": "application/vnd.test+json"})
    assert server.received("/thing")[0].headers["Accept"] == "application/vnd.test+json"


async def test_429_waits_as_long_as_retry_after_says(session, server):
    server.add("/busy", replay.Reply(status=429, headers={"Retry-After": "1"}), replay.Reply.json({"ok": True}))
    started = time.monotonic()
    response = await probe(session, server).get_json("busy")
    assert response.json == {"ok": True}
    assert time.monotonic() - started >= 0.95
    assert len(server.received("/busy")) == 2


async def test_retry_after_is_capped(session, server):
    server.add("/busy", replay.Reply(status=429, headers={"Retry-After": "3600"}), replay.Reply.json({"ok": True}))
    started = time.monotonic()
    response = await probe(session, server, max_retry_wait=0.05).get_json("busy")
    assert response.json == {"ok": True}
    assert time.monotonic() - started < 1.0


async def test_5xx_is_retried_until_success(session, server, caplog):
    server.add("/flaky", replay.Reply(status=503), replay.Reply(status=502), replay.Reply.json([1, 2]))
    with caplog.at_level(logging.WARNING, logger="centralcloud.sources.http"):
        response = await probe(session, server).get_json("flaky")
    assert response.json == [1, 2]
    assert len(server.received("/flaky")) == 3
    retries = [record for record in caplog.records if getattr(record, "action", None) == "source.retry"]
    seen = [(record.attempt, record.status, record.ecosystem) for record in retries]
    assert seen == [(1, 503, "npm"), (2, 502, "npm")]


async def test_gives_up_with_source_unavailable(session, server):
    server.add("/down", replay.Reply(status=503, body=b"<html>Service Unavailable</html>"))
    with pytest.raises(errors.SourceUnavailable) as raised:
        await probe(session, server).get_json("down")
    assert raised.value.source == "probe"
    assert raised.value.details["status"] == 503
    assert "after 3 attempts" in raised.value.message
    assert len(server.received("/down")) == 3


async def test_hanging_server_times_out_quickly(session, server):
    server.add("/slow", replay.Reply.json({}, delay=10))
    started = time.monotonic()
    with pytest.raises(errors.SourceUnavailable, match="within 0.2s"):
        await probe(session, server, timeout=0.2, max_attempts=2).get_json("slow")
    assert time.monotonic() - started < 2.0
    assert len(server.received("/slow")) == 2


async def test_connection_refused_is_source_unavailable(session):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    source = Probe(session=session, base_url=f"http://127.0.0.1:{port}", policy=FAST)
    with pytest.raises(errors.SourceUnavailable, match="ClientConnectorError") as raised:
        await source.get_json("anything")
    assert isinstance(raised.value.__cause__.__cause__, aiohttp.ClientError)


@pytest.mark.parametrize("base_url", ["not a url", "ftp://127.0.0.1/x", "http://127.0.0.1:99999999"])
async def test_unusable_base_url_is_source_unavailable(session, base_url):
    source = Probe(session=session, base_url=base_url, policy=FAST)
    with pytest.raises(errors.SourceUnavailable, match="unusable URL"):
        await source.get_json("anything")


async def test_credentials_stay_out_of_errors(session, server):
    server.add("/down", replay.Reply(status=500))
    source = Probe(session=session, base_url=server.url.replace("://", "://alice:s3cret@"), policy=FAST)
    with pytest.raises(errors.SourceUnavailable) as raised:
        await source.get_json("down")
    assert "s3cret" not in raised.value.message
    assert "s3cret" not in raised.value.details["url"]


async def test_html_error_page_is_bad_response(session, server):
    server.add("/html", replay.Reply(body=b"<!DOCTYPE html><h1>Oops</h1>", headers={"Content-Type": "text/html"}))
    with pytest.raises(errors.BadResponse, match="text/html") as raised:
        await probe(session, server).get_json("html")
    assert raised.value.source == "probe"
    assert len(server.received("/html")) == 1


async def test_truncated_json_is_bad_response(session, server):
    server.add("/cut", replay.Reply(body=replay.fixture("npm/express.json")[:5000]))
    with pytest.raises(errors.BadResponse, match="invalid JSON"):
        await probe(session, server).get_json("cut")


async def test_declared_length_over_cap_is_bad_response(session, server):
    server.add("/big", replay.Reply.json({"pad": "x" * 5000}))
    with pytest.raises(errors.BadResponse, match="more than 1000 bytes") as raised:
        await probe(session, server, max_body_bytes=1000).get_json("big")
    assert raised.value.details["size"] > 5000


async def test_streamed_body_over_cap_is_bad_response(session, server):
    server.add("/big", replay.Reply.json({"pad": "x" * 300_000}, chunked=True))
    with pytest.raises(errors.BadResponse, match="more than 100000 bytes"):
        await probe(session, server, max_body_bytes=100_000).get_json("big")


async def test_body_at_cap_is_accepted(session, server):
    body = b'"' + b"x" * 998 + b'"'
    server.add("/exact", replay.Reply(body=body, chunked=True))
    response = await probe(session, server, max_body_bytes=1000).get_json("exact")
    assert response.json == "x" * 998


async def test_etag_gives_304_without_body(session, server):
    server.add("/pkg", replay.Reply.json({"v": 1}, etag='"abc"'))
    source = probe(session, server)
    first = await source.get_json("pkg")
    assert (first.status, first.json, first.etag) == (200, {"v": 1}, '"abc"')
    second = await source.get_json("pkg", etag=first.etag)
    assert second.not_modified
    assert (second.status, second.json, second.etag) == (304, None, '"abc"')
    assert server.received("/pkg")[1].headers["If-None-Match"] == '"abc"'
    assert "If-None-Match" not in server.received("/pkg")[0].headers


async def test_304_without_validators_keeps_the_ones_sent(session, server):
    server.add("/pkg", replay.Reply(status=304))
    response = await probe(session, server).get_json("pkg", etag='W/"1"', last_modified="Tue, 01 Oct 2024 10:00:00 GMT")
    assert (response.json, response.etag, response.last_modified) == (None, 'W/"1"', "Tue, 01 Oct 2024 10:00:00 GMT")
    assert server.received("/pkg")[0].headers["If-Modified-Since"] == "Tue, 01 Oct 2024 10:00:00 GMT"


async def test_404_is_not_found_without_retry(session, server):
    with pytest.raises(errors.NotFound):
        await probe(session, server).get_json("missing")
    assert len(server.received("/missing")) == 1


async def test_other_4xx_is_unavailable_without_retry(session, server):
    server.add("/private", replay.Reply(status=403))
    with pytest.raises(errors.SourceUnavailable, match="HTTP 403"):
        await probe(session, server).get_json("private")
    assert len(server.received("/private")) == 1


async def test_post_json_sends_the_body(session, server):
    server.add("/v1/query", replay.Reply(status=503), replay.Reply.json({"vulns": []}), method="POST")
    response = await probe(session, server).post_json("/v1/query", {"package": {"name": "jinja2"}})
    assert response.json == {"vulns": []}
    first, second = server.received("/v1/query")
    assert first.body == second.body == b'{"package":{"name":"jinja2"}}'
    assert second.headers["Content-Type"] == "application/json"


async def test_absolute_urls_bypass_the_base(session, server):
    server.add("/elsewhere", replay.Reply.json({"x": 1}))
    source = Probe(session=session, base_url="http://127.0.0.1:9/unused", policy=FAST)
    assert (await source.get_json(f"{server.url}/elsewhere")).json == {"x": 1}


class Broken(base.Source):
    ecosystem = "npm"
    name = "broken"

    async def fetch(self, name, *, etag=None, last_modified=None):
        return await self.fetch_mapped(name, package=name, etag=etag, last_modified=last_modified, mapper=self._map)

    def _map(self, package, doc):
        return model.PackageFacts(ecosystem="npm", name=package, display_name=doc["missing"])


async def test_unforeseen_shape_becomes_bad_response(session, server):
    server.add("/pkg", replay.Reply.json({"name": "pkg"}))
    source = Broken(session=session, base_url=server.url, policy=FAST)
    with pytest.raises(errors.BadResponse, match="KeyError") as raised:
        await source.fetch("pkg")
    assert raised.value.source == "broken"


NOW = dt.datetime(2024, 10, 1, 10, 0, 0, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        (" 0 ", 0.0),
        ("Tue, 01 Oct 2024 10:00:30 GMT", 30.0),
        ("Tue, 01 Oct 2024 09:00:00 GMT", 0.0),
        ("soon", None),
        ("-5", None),
        (None, None),
        ("", None),
    ],
)
def test_retry_after_seconds(header, seconds):
    assert http.retry_after_seconds(header, now=NOW) == seconds


@pytest.mark.parametrize(
    ("declared", "normalized"),
    [
        ("git+https://github.com/expressjs/express.git", "https://github.com/expressjs/express"),
        ("git://github.com/TypeStrong/ts-node.git", "https://github.com/TypeStrong/ts-node"),
        ("git@github.com:request/request.git", "https://github.com/request/request"),
        ("git+ssh://git@github.com/babel/babel.git", "https://github.com/babel/babel"),
        ("git+ssh://git@github.com:npm/cli.git", "https://github.com/npm/cli"),
        ("ssh://git@github.com/owner/repo", "https://github.com/owner/repo"),
        ("github:sindresorhus/got", "https://github.com/sindresorhus/got"),
        ("expressjs/express", "https://github.com/expressjs/express"),
        ("gitlab:inkscape/inkscape", "https://gitlab.com/inkscape/inkscape"),
        ("bitbucket:atlassian/aui", "https://bitbucket.org/atlassian/aui"),
        ("https://github.com/pallets/flask/", "https://github.com/pallets/flask"),
        ("http://www.github.com/psf/requests", "https://github.com/psf/requests"),
        ("https://github.com/django/django/tree/main/django", "https://github.com/django/django"),
        ("https://github.com/vuejs/core.git#readme", "https://github.com/vuejs/core"),
        ("https://gitlab.com/group/sub/project/-/tree/main", "https://gitlab.com/group/sub/project"),
        ("git+https://gitlab.com/group/project.git", "https://gitlab.com/group/project"),
        ("git://git.example.org/repo.git", "https://git.example.org/repo"),
        ("git@git.sr.ht:~sircmpwn/hare", "https://git.sr.ht/~sircmpwn/hare"),
        ("http://hg.example.org/repo/", "http://hg.example.org/repo"),
        ("https://github.com/psf", None),
        ("UNKNOWN", None),
        ("", None),
        (None, None),
        ({"url": "x"}, None),
        ("http://[broken", None),
    ],
)
def test_normalize_repository_url(declared, normalized):
    assert repository_urls.normalize_repository_url(declared) == normalized


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("2010-12-29T19:38:25.450Z", dt.datetime(2010, 12, 29, 19, 38, 25, 450000, tzinfo=dt.timezone.utc)),
        ("2016-04-29T21:57:10", dt.datetime(2016, 4, 29, 21, 57, 10, tzinfo=dt.timezone.utc)),
        ("2024-03-01T14:00:00+02:00", dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.timezone.utc)),
        ("yesterday", None),
        (1700000000, None),
    ],
)
def test_parse_timestamp(value, parsed):
    assert readers.parse_timestamp(value) == parsed


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (["web", " http ", "", 3, "web"], ("web", "http")),
        ("web framework, wsgi", ("web framework", "wsgi")),
        ("http client  requests", ("http", "client", "requests")),
        (None, ()),
        ({"web": True}, ()),
    ],
)
def test_keywords(value, words):
    assert readers.keywords(value) == words


def test_expect_rejects_wrong_types():
    with pytest.raises(errors.BadResponse, match="'versions' as list") as raised:
        readers.required({"versions": []}, "versions", dict, source="npm")
    assert raised.value.source == "npm"
    assert readers.required({"versions": {}}, "versions", dict, source="npm") == {}
