"""Answers against the ecosystems' own tools: npm, pip and node-semver.

Offline tests replay saved registry responses (tests/fixtures/answers/, recorded
by its record.py) through the real adapters and compare with the installers'
saved outputs; their online twins run npm and pip live and feed the resolver from
the live registries.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import re
import subprocess
import tempfile

import aiohttp
import packaging.utils
import pytest

import replay
from centralcloud.answers import recommend
from centralcloud.answers.resolve import fetching
from centralcloud.answers.resolve import npm as npm_resolve
from centralcloud.answers.resolve import pypi as pypi_resolve
from centralcloud.sources import http, npm, pypi, registries
from fixtures.answers import record

ANSWERS = replay.FIXTURES / "answers"
POLICY = http.HttpPolicy(timeout=30.0, max_attempts=2, backoff_base=0.05, backoff_max=0.1)
NOW = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)
live = pytest.mark.skipif(os.environ.get("CENTRALCLOUD_ONLINE_TESTS") != "1", reason="set CENTRALCLOUD_ONLINE_TESTS=1")


def lock_pairs(packages: dict[str, dict]) -> set[tuple[str, str]]:
    """(name, version) of every installed package in a package-lock's `packages`."""
    return {(path.rsplit("node_modules/", 1)[-1], entry["version"]) for path, entry in packages.items() if path}


def serve_npm(server: replay.ReplayServer) -> None:
    for path in (ANSWERS / "npm" / "packuments").glob("*.json"):
        server.add(f"/{path.stem}", replay.Reply(body=path.read_bytes(), headers={"Content-Type": "application/json"}))


def serve_pypi(server: replay.ReplayServer) -> None:
    saved = {path.name.removesuffix(".metadata"): path for path in (ANSWERS / "pypi" / "metadata").iterdir()}
    for path in (ANSWERS / "pypi" / "projects").glob("*.json"):
        server.add(f"/pypi/{path.stem}/json", replay.Reply(body=path.read_bytes(), headers={"Content-Type": "application/json"}))
        for files in json.loads(path.read_bytes())["releases"].values():
            for item in files:
                if item["filename"] in saved:
                    # The saved project documents link files as ../../<path>, i.e. /<path> on this server.
                    url_path = "/" + item["url"].removeprefix("../../")
                    server.add(f"{url_path}.metadata", replay.Reply(body=saved[item["filename"]].read_bytes()))


# ---- npm install --package-lock-only ----------------------------------------------


async def test_express_tree_equals_the_package_lock(server):
    serve_npm(server)
    async with aiohttp.ClientSession() as session:
        provider = fetching.SourceProvider(npm.NpmSource(session=session, base_url=server.url, policy=POLICY))
        resolution = await npm_resolve.resolve(provider, name="express", version="4.21.2", target="ms")
    expected = lock_pairs(json.loads((ANSWERS / "npm" / "express-4.21.2.lock.json").read_text()))
    assert resolution.complete and not resolution.missing and not resolution.conflicts
    assert resolution.pairs() == expected
    # Two versions of ms: the one debug@2.6.9 pins and the one send needs.
    assert {version for name, version in resolution.pairs() if name == "ms"} == {"2.0.0", "2.1.3"}
    assert resolution.chains[0] == ["express@4.21.2", "debug@2.6.9", "ms@2.0.0"]
    assert ["express@4.21.2", "send@0.19.0", "ms@2.1.3"] in resolution.chains
    assert all(chain[-1].startswith("ms@") for chain in resolution.chains)
    assert [len(chain) for chain in resolution.chains] == sorted(len(chain) for chain in resolution.chains)


# ---- pip install --dry-run --report ------------------------------------------------


async def test_flask_tree_equals_pip_install_report(server):
    serve_pypi(server)
    async with aiohttp.ClientSession() as session:
        provider = fetching.SourceProvider(pypi.PypiSource(session=session, base_url=server.url, policy=POLICY))
        resolution = await pypi_resolve.resolve(provider, name="flask", requirement="==3.0.3", python="3.12", target="markupsafe")
    expected = {(item["name"], item["version"]) for item in json.loads((ANSWERS / "pypi" / "flask-3.0.3-py3.12.install.json").read_text())}
    assert resolution.complete and not resolution.missing and not resolution.conflicts
    assert resolution.pairs() == expected
    # importlib-metadata is only for Python < 3.10, asgiref only with the async extra.
    assert sorted(resolution.chains) == [
        ["flask@3.0.3", "jinja2@3.1.6", "markupsafe@3.0.4"],
        ["flask@3.0.3", "werkzeug@3.1.9", "markupsafe@3.0.4"],
    ]
    assert "importlib-metadata" not in {name for name, _version in resolution.pairs()}


# ---- recommend: pip index versions, node-semver maxSatisfying ----------------------


def pip_first(output: str) -> str:
    """The version `pip index versions` lists first: "django (5.2.19)" on its first line."""
    return re.match(r"\S+ \(([^)]+)\)", output).group(1)


def pip_listed(output: str) -> list[str]:
    return re.search(r"Available versions: (.*)", output).group(1).split(", ")


async def test_recommend_django_for_python_311_is_pips_first(server):
    server.add("/pypi/django/json", replay.Reply(body=(ANSWERS / "pypi" / "projects" / "django.json").read_bytes()))
    async with aiohttp.ClientSession() as session:
        facts = (await pypi.PypiSource(session=session, base_url=server.url, policy=POLICY).fetch("django")).package
    answer = recommend.recommend(
        ecosystem="pypi", candidates=recommend.candidates_from(facts), options=recommend.Options(runtime={"python": "3.11"}, now=NOW)
    )
    saved = (ANSWERS / "pypi" / "django-index-versions-py3.11.txt").read_text()
    assert answer.version == pip_first(saved) == "5.2.19"
    # Everything newer that was skipped is something pip does not offer on 3.11 either.
    assert answer.skipped and not {entry.version for entry in answer.skipped} & set(pip_listed(saved))
    assert "supports Python 3.11" in answer.reasons


async def test_recommend_express_caret_4_is_node_semvers_max_satisfying(server):
    server.add("/express", replay.Reply(body=(ANSWERS / "npm" / "packuments" / "express.json").read_bytes()))
    async with aiohttp.ClientSession() as session:
        facts = (await npm.NpmSource(session=session, base_url=server.url, policy=POLICY).fetch("express")).package
    answer = recommend.recommend(
        ecosystem="npm", candidates=recommend.candidates_from(facts), options=recommend.Options(requirement="^4", now=NOW)
    )
    assert answer.version == (ANSWERS / "npm" / "express-max-satisfying-caret4.txt").read_text().strip() == "4.22.3"
    # It is among what `npm view 'express@^4' version` prints, which lists in packument order, not sorted.
    printed = re.findall(r"'([^']+)'", (ANSWERS / "npm" / "express-view-caret4.txt").read_text())
    assert answer.version in printed and len(printed) == len(set(printed))
    assert answer.latest == facts.latest_version


# ---- online twins ----------------------------------------------------------------------


@pytest.mark.online
@live
async def test_live_express_tree_equals_npm_install():
    with tempfile.TemporaryDirectory() as work:
        subprocess.run(
            ["npm", "install", "--package-lock-only", "--ignore-scripts", "--no-audit", "--no-fund", "express@4.21.2"],
            cwd=work, check=True, capture_output=True,
        )  # fmt: skip
        packages = json.loads(pathlib.Path(work, "package-lock.json").read_text())["packages"]
    async with aiohttp.ClientSession() as session:
        source = npm.NpmSource(session=session, base_url=registries.npm_registry_url(), policy=POLICY)
        resolution = await npm_resolve.resolve(fetching.SourceProvider(source), name="express", version="4.21.2")
    assert resolution.complete
    assert resolution.pairs() == lock_pairs(packages)


@pytest.mark.online
@live
async def test_live_flask_tree_equals_pip_install():
    with tempfile.TemporaryDirectory() as work:
        report = pathlib.Path(work, "r.json")
        record.pip("install", "--dry-run", "--ignore-installed", "--report", str(report), "flask==3.0.3",
                   "--python-version", "3.12", "--only-binary=:all:", "--target", str(pathlib.Path(work, "t")))  # fmt: skip
        install = json.loads(report.read_text())["install"]
    expected = {(packaging.utils.canonicalize_name(item["metadata"]["name"]), item["metadata"]["version"]) for item in install}
    async with aiohttp.ClientSession() as session:
        source = pypi.PypiSource(session=session, base_url=registries.pypi_url(), policy=POLICY)
        resolution = await pypi_resolve.resolve(fetching.SourceProvider(source), name="flask", requirement="==3.0.3", python="3.12")
    assert resolution.complete
    assert resolution.pairs() == expected


@pytest.mark.online
@live
async def test_live_recommend_django_for_python_311():
    expected = pip_first(record.pip("index", "versions", "django", "--python-version", "3.11"))
    async with aiohttp.ClientSession() as session:
        facts = (await pypi.PypiSource(session=session, base_url=registries.pypi_url(), policy=POLICY).fetch("django")).package
    answer = recommend.recommend(
        ecosystem="pypi", candidates=recommend.candidates_from(facts),
        options=recommend.Options(runtime={"python": "3.11"}, now=dt.datetime.now(dt.timezone.utc)),
    )  # fmt: skip
    assert answer.version == expected


@pytest.mark.online
@live
async def test_live_recommend_express_caret_4():
    expected = record.max_satisfying("express", "^4")
    async with aiohttp.ClientSession() as session:
        facts = (await npm.NpmSource(session=session, base_url=registries.npm_registry_url(), policy=POLICY).fetch("express")).package
    answer = recommend.recommend(
        ecosystem="npm", candidates=recommend.candidates_from(facts),
        options=recommend.Options(requirement="^4", now=dt.datetime.now(dt.timezone.utc)),
    )  # fmt: skip
    assert answer.version == expected
