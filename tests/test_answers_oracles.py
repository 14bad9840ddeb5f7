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
import shutil
import subprocess
import sys
import tempfile

import aiohttp
import pytest

import replay
from centralcloud import versions
from centralcloud.answers import recommend
from centralcloud.answers.resolve import fetching
from centralcloud.answers.resolve import npm as npm_resolve
from centralcloud.answers.resolve import pypi as pypi_resolve

from centralcloud.sources import base, npm, pypi, registries

ANSWERS = replay.FIXTURES / "answers"
POLICY = base.HttpPolicy(timeout=30.0, max_attempts=2, backoff_base=0.05, backoff_max=0.1)
online = pytest.mark.skipif(os.environ.get("CENTRALCLOUD_ONLINE_TESTS") != "1", reason="set CENTRALCLOUD_ONLINE_TESTS=1")


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
