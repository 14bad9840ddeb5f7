"""crates.io: sparse index plus API, against saved responses on a local replay server."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import time

import pytest

import replay
from centralcloud.core import errors, model
from centralcloud.sources import cargo, http, limits

FAST = http.HttpPolicy(timeout=2.0, max_attempts=3, backoff_base=0.01, backoff_max=0.02, max_retry_wait=1.0)
SERDE_INDEX = "/index/se/rd/serde"
SERDE_API = "/api/v1/crates/serde"
TOKIO_INDEX = "/index/to/ki/tokio"
TOKIO_API = "/api/v1/crates/tokio"


def source(session, server, *, per_second: float = 1000.0, **policy) -> cargo.CargoSource:
    return cargo.CargoSource(
        session=session,
        base_url=server.url,
        index_url=f"{server.url}/index",
        policy=dataclasses.replace(FAST, **policy),
        api_limiter=limits.RateLimiter(per_second=per_second),
    )


def index_reply(relative: str, **kwargs) -> replay.Reply:
    return replay.Reply.fixture(relative, headers={"Content-Type": "text/plain", **kwargs.pop("headers", {})}, **kwargs)


def serve_serde(server) -> None:
    server.add(
        SERDE_INDEX,
        index_reply(
            "cargo/serde.ndjson", etag='"serde-v4"', headers={"Last-Modified": "Fri, 06 Sep 2024 21:58:20 GMT"}
        ),
    )
    server.add(SERDE_API, replay.Reply.fixture("cargo/serde.json"))


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc)


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("a", "1/a"),
        ("Z", "1/z"),
        ("ab", "2/ab"),
        ("abc", "3/a/abc"),
        ("Syn", "3/s/syn"),
        ("cfg-if", "cf/g-/cfg-if"),
        ("serde", "se/rd/serde"),
        ("Inflector", "in/fl/inflector"),
        ("tokio", "to/ki/tokio"),
    ],
)
def test_index_path(name, path):
    assert cargo.index_path(name) == path


async def test_serde_facts(session, server):
    serve_serde(server)
    result = await source(session, server).fetch("Serde")
    assert result.etag == '"serde-v4"'
    assert result.last_modified == "Fri, 06 Sep 2024 21:58:20 GMT"
    facts = result.package
    assert facts.ecosystem == "cargo"
    assert facts.name == "serde"
    assert facts.display_name == "serde"
    assert facts.description == "A generic serialization/deserialization framework"
    assert facts.keywords == ("serde", "serialization", "no_std")
    assert facts.classifiers == ("Encoding", "No standard library", "No dynamic allocation")
    assert facts.licenses == ("MIT OR Apache-2.0",)
    assert facts.homepage == "https://serde.rs"
    assert facts.repository_url == "https://github.com/serde-rs/serde"
    assert facts.documentation_url == "https://docs.rs/serde"
    assert facts.latest_version == "1.0.210"
    assert facts.downloads == 423218592
    assert facts.recent_downloads == 67584839
    assert facts.deprecated is False
    assert facts.extra == {
        "features": {"alloc": [], "default": ["std"], "derive": ["serde_derive"], "rc": [], "std": [], "unstable": []},
        "rust_version": "1.31",
        "max_version": "1.0.210",
    }
    assert [version.number for version in facts.versions] == ["0.9.15", "1.0.0", "1.0.189", "1.0.210"]

    old, first, yanked, latest = facts.versions
    assert old.published_at == at("2017-04-11T16:25:00")
    assert old.licenses == ("MIT/Apache-2.0",)
    assert old.dependencies == (
        model.Dependency(name="serde_derive", ecosystem="cargo", requirement="^0.9", kind="dev"),
    )
    assert first.published_at == at("2017-04-20T01:24:49.873213")
    assert first.yanked is False and first.prerelease is False
    assert yanked.yanked is True
    assert yanked.yanked_reason == "Accidentally published with a broken serde_derive pin"
    assert yanked.published_at == at("2023-10-12T01:35:31.046573")
    assert latest == model.Version(
        number="1.0.210",
        published_at=at("2024-09-06T21:58:17.126370"),
        licenses=("MIT OR Apache-2.0",),
        dependencies=(
            model.Dependency(
                name="serde_derive", ecosystem="cargo", requirement="=1.0.210", kind="runtime", optional=True
            ),
            model.Dependency(
                name="serde_derive", ecosystem="cargo", requirement="=1.0.210", kind="runtime", condition="cfg(any())"
            ),
            model.Dependency(name="serde_derive", ecosystem="cargo", requirement="^1", kind="dev"),
        ),
        requires_runtime="1.31",
        features={"alloc": (), "default": ("std",), "derive": ("serde_derive",), "rc": (), "std": (), "unstable": ()},
    )


async def test_tokio_renamed_target_build_and_dev_dependencies(session, server):
    server.add(TOKIO_INDEX, index_reply("cargo/tokio.ndjson"))
    server.add(TOKIO_API, replay.Reply.fixture("cargo/tokio.json"))
    facts = (await source(session, server).fetch("tokio")).package
    # max_stable_version is null in the API answer: newest unyanked release instead.
    assert facts.latest_version == "1.40.0"
    assert facts.documentation_url is None
    assert facts.homepage == "https://tokio.rs"
    assert facts.licenses == ("MIT",)
    assert facts.classifiers == ("Asynchronous", "Network programming")
    assert facts.extra["features"]["full-tracing"] == ["dep:tracing", "full"]
    assert facts.extra["features"]["macros"] == ["tokio-macros"]
    assert facts.extra["rust_version"] == "1.70"

    alpha, _, yanked, latest = facts.versions
    assert alpha.number == "0.2.0-alpha.1" and alpha.prerelease is True
    assert alpha.published_at == at("2019-08-08T20:43:37")
    assert yanked.number == "1.39.0" and yanked.yanked is True and yanked.yanked_reason is None
    dependencies = {(dependency.name, dependency.kind): dependency for dependency in latest.dependencies}
    assert len(latest.dependencies) == 16
    # `rand09 = { package = "rand" }`: the real crate is rand.
    assert dependencies[("rand", "dev")] == model.Dependency(
        name="rand",
        ecosystem="cargo",
        requirement="^0.8.0",
        kind="dev",
        condition='cfg(not(all(target_family = "wasm", target_os = "unknown")))',
        alias="rand09",
    )
    assert ("rand09", "dev") not in dependencies
    assert dependencies[("windows-sys", "runtime")] == model.Dependency(
        name="windows-sys", ecosystem="cargo", requirement="^0.52", optional=True, condition="cfg(windows)"
    )
    assert dependencies[("autocfg", "build")] == model.Dependency(
        name="autocfg", ecosystem="cargo", requirement="^1.1", kind="build"
    )
    assert dependencies[("tokio-macros", "runtime")].requirement == "~2.4.0"
    assert dependencies[("pin-project-lite", "runtime")].optional is False
    assert dependencies[("loom", "dev")].condition == "cfg(loom)"
    # What the resolver needs: the MSRV, features (features2 merged in) and what each dependency asks.
    assert latest.requires_runtime == "1.70"
    assert latest.features["full-tracing"] == ("dep:tracing", "full")
    assert latest.features["macros"] == ("tokio-macros",)
    assert dependencies[("mio", "runtime")].default_features is False
    assert dependencies[("socket2", "runtime")].features == ("all",)
    assert dependencies[("bytes", "runtime")].default_features is True


async def test_index_not_modified_skips_the_api(session, server):
    serve_serde(server)
    result = await source(session, server).fetch("serde", etag='"serde-v4"')
    assert result.not_modified
    assert result.etag == '"serde-v4"'
    (request,) = server.received(SERDE_INDEX)
    assert request.headers["If-None-Match"] == '"serde-v4"'
    assert server.received(SERDE_API) == []


async def test_last_modified_is_sent_to_the_index(session, server):
    server.add(SERDE_INDEX, replay.Reply(status=304, headers={"Last-Modified": "Fri, 06 Sep 2024 21:58:20 GMT"}))
    result = await source(session, server).fetch("serde", last_modified="Fri, 06 Sep 2024 21:58:20 GMT")
    assert result.not_modified
    assert result.last_modified == "Fri, 06 Sep 2024 21:58:20 GMT"
    assert server.received(SERDE_INDEX)[0].headers["If-Modified-Since"] == "Fri, 06 Sep 2024 21:58:20 GMT"
    assert server.received(SERDE_API) == []


async def test_user_agent_goes_to_index_and_api(session, server):
    serve_serde(server)
    policy = dataclasses.replace(FAST, user_agent="centralcloud/0.1.0 (+mailto:ops@example.org)")
    adapter = cargo.CargoSource(
        session=session, base_url=server.url, index_url=f"{server.url}/index", policy=policy,
        api_limiter=limits.RateLimiter(per_second=1000.0),
    )
    await adapter.fetch("serde")
    for path in (SERDE_INDEX, SERDE_API):
        assert server.received(path)[0].headers["User-Agent"] == "centralcloud/0.1.0 (+mailto:ops@example.org)"


async def test_default_limiter_is_one_request_a_second_per_process(session):
    first = cargo.CargoSource(session=session)
    second = cargo.CargoSource(session=session)
    assert first.api_limiter is second.api_limiter is cargo.API_LIMITER
    assert cargo.API_LIMITER.interval == 1.0
    assert first.base_url == "https://crates.io"
    assert first.index.base_url == "https://index.crates.io"


async def test_api_requests_are_paced(session, server):
    serve_serde(server)
    server.add(TOKIO_INDEX, index_reply("cargo/tokio.ndjson"))
    server.add(TOKIO_API, replay.Reply.fixture("cargo/tokio.json"))
    adapter = source(session, server, per_second=5.0)
    started = time.monotonic()
    await asyncio.gather(adapter.fetch("serde"), adapter.fetch("tokio"))
    # Two API calls at 5 a second: the second waits 0.2 s for its slot; the index is not paced.
    assert time.monotonic() - started >= 0.19


async def test_api_retries_are_paced_too(session, server):
    server.add(SERDE_INDEX, index_reply("cargo/serde.ndjson"))
    server.add(SERDE_API, replay.Reply(status=503), replay.Reply.fixture("cargo/serde.json"))
    started = time.monotonic()
    facts = (await source(session, server, per_second=5.0).fetch("serde")).package
    assert facts.latest_version == "1.0.210"
    assert len(server.received(SERDE_API)) == 2
    assert time.monotonic() - started >= 0.19


async def test_rate_limiter_spaces_callers_evenly():
    now = [100.0]
    slept = []

    async def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    limiter = limits.RateLimiter(per_second=1.0, clock=lambda: now[0], sleep=sleep)
    await limiter.acquire()
    await limiter.acquire()
    await limiter.acquire()
    assert slept == [1.0, 1.0]
    now[0] += 5.0
    await limiter.acquire()
    assert slept == [1.0, 1.0]
    now[0] += 0.25
    await limiter.acquire()
    assert slept == [1.0, 1.0, 0.75]


async def test_concurrent_callers_queue_up():
    limiter = limits.RateLimiter(per_second=20.0)
    stamps = []

    async def call():
        await limiter.acquire()
        stamps.append(time.monotonic())

    await asyncio.gather(call(), call(), call())
    assert stamps[1] - stamps[0] >= 0.045
    assert stamps[2] - stamps[1] >= 0.045


def test_rate_limiter_rejects_a_non_positive_rate():
    with pytest.raises(ValueError):
        limits.RateLimiter(per_second=0)


async def test_missing_crate_is_not_found(session, server):
    with pytest.raises(errors.NotFound):
        await source(session, server).fetch("no-such-crate")
    assert server.received(SERDE_API) == []


async def test_invalid_name_never_reaches_the_index(session, server):
    with pytest.raises(errors.InvalidName):
        await source(session, server).fetch("../etc/passwd")
    assert server.requests == []


async def test_html_from_the_index_is_bad_response(session, server):
    html = replay.Reply(body=b"<!DOCTYPE html>\n<h1>502</h1>\n", headers={"Content-Type": "text/html"})
    server.add(SERDE_INDEX, html)
    with pytest.raises(errors.BadResponse, match="text/html"):
        await source(session, server).fetch("serde")


async def test_html_from_the_api_is_bad_response(session, server):
    server.add(SERDE_INDEX, index_reply("cargo/serde.ndjson"))
    server.add(SERDE_API, replay.Reply(body=b"<html>maintenance</html>", headers={"Content-Type": "text/html"}))
    with pytest.raises(errors.BadResponse, match="invalid JSON"):
        await source(session, server).fetch("serde")


@pytest.mark.parametrize(
    "mistake",
    [
        lambda line: line.update(vers=1),
        lambda line: line.update(deps={"serde_derive": "1"}),
        lambda line: line["deps"][0].update(req=None),
        lambda line: line["deps"][0].update(package=7),
        lambda line: line["deps"].append("serde_derive"),
    ],
)
async def test_mistyped_index_fields_are_bad_response(session, server, mistake):
    lines = [json.loads(line) for line in replay.fixture("cargo/serde.ndjson").splitlines()]
    mistake(lines[-1])
    server.add(SERDE_INDEX, replay.Reply(body="\n".join(json.dumps(line) for line in lines).encode()))
    server.add(SERDE_API, replay.Reply.fixture("cargo/serde.json"))
    with pytest.raises(errors.BadResponse) as raised:
        await source(session, server).fetch("serde")
    assert raised.value.source == "cargo"


@pytest.mark.parametrize(
    "mistake",
    [
        lambda doc: doc.update(crate=["serde"]),
        lambda doc: doc.pop("crate"),
        lambda doc: doc.update(versions={"1.0.210": {}}),
        lambda doc: doc["versions"][0].update(num=1.0),
    ],
)
async def test_mistyped_api_fields_are_bad_response(session, server, mistake):
    doc = replay.fixture_json("cargo/serde.json")
    mistake(doc)
    server.add(SERDE_INDEX, index_reply("cargo/serde.ndjson"))
    server.add(SERDE_API, replay.Reply.json(doc))
    with pytest.raises(errors.BadResponse):
        await source(session, server).fetch("serde")


async def test_empty_index_file_is_bad_response(session, server):
    server.add(SERDE_INDEX, replay.Reply(body=b"\n"))
    server.add(SERDE_API, replay.Reply.fixture("cargo/serde.json"))
    with pytest.raises(errors.BadResponse, match="lists no versions"):
        await source(session, server).fetch("serde")


async def test_lenient_optional_fields(session, server):
    doc = replay.fixture_json("cargo/serde.json")
    doc["crate"].update(downloads="many", homepage=42, keywords=None, max_stable_version=None)
    del doc["versions"], doc["keywords"], doc["categories"]
    server.add(SERDE_INDEX, index_reply("cargo/serde.ndjson"))
    server.add(SERDE_API, replay.Reply.json(doc))
    facts = (await source(session, server).fetch("serde")).package
    assert facts.downloads is None
    assert facts.homepage is None
    assert facts.keywords == ()
    # Categories fall back to the crate's own slugs.
    assert facts.classifiers == ("encoding", "no-std", "no-std::no-alloc")
    assert facts.latest_version == "1.0.210"
    assert all(version.published_at is None for version in facts.versions)
    assert facts.licenses == ()


async def test_dependency_with_invalid_name_is_skipped(session, server):
    lines = [json.loads(line) for line in replay.fixture("cargo/serde.ndjson").splitlines()]
    lines[-1]["deps"].append({"name": "bad name", "req": "^1", "kind": "normal"})
    lines[-1]["deps"].append({"name": "odd", "req": "^1", "kind": "weird"})
    server.add(SERDE_INDEX, replay.Reply(body="\n".join(json.dumps(line) for line in lines).encode()))
    server.add(SERDE_API, replay.Reply.fixture("cargo/serde.json"))
    facts = (await source(session, server).fetch("serde")).package
    assert [dependency.name for dependency in facts.versions[-1].dependencies] == ["serde_derive"] * 3
