"""A hanging registry costs its own answers only: bounded connections, a breaker, bounded fetches."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from centralcloud.core import deadlines, errors, names
from centralcloud.facts import cache, catalog
from centralcloud.sources import guard, http, npm, pypi
from centralcloud.store import db
from replay import Reply, ReplayServer


def policy() -> http.HttpPolicy:
    return http.HttpPolicy(
        timeout=0.5, max_attempts=2, backoff_base=0.01, backoff_max=0.02,
        guard=guard.GuardPolicy(max_connections=4, threshold=3, cooldown=30),
    )


async def test_a_hanging_registry_rests_while_another_answers_normally(database: db.Database) -> None:
    async with ReplayServer() as hanging, ReplayServer() as healthy, aiohttp.ClientSession() as session:
        for i in range(40):
            hanging.add(f"/stuck-{i}", Reply.json({}, delay=30))
        healthy.add("/pypi/django/json", Reply.fixture("pypi/django.json"))
        the_catalog = catalog.Catalog(
            database=database,
            sources={
                "npm": npm.NpmSource(session=session, base_url=hanging.url, policy=policy()),
                "pypi": pypi.PypiSource(session=session, base_url=healthy.url, policy=policy()),
            },
            read_cache=cache.ReadCache(ttl=0, max_size=10), request_timeout=1.0, max_background_fetches=8,
        )
        try:
            async def get(ecosystem: str, name: str) -> tuple[str, float]:
                started = time.monotonic()
                with deadlines.within(2.0):
                    try:
                        await the_catalog.get(names.PackageRef(ecosystem, name), max_versions=1)
                        outcome = "ok"
                    except errors.CentralCloudError as err:
                        outcome = err.kind
                return outcome, time.monotonic() - started

            stuck = [asyncio.create_task(get("npm", f"stuck-{i}")) for i in range(8)]
            answers = [await get("pypi", "django") for _ in range(5)]
            assert all(outcome == "ok" and took < 1.0 for outcome, took in answers), answers
            results = await asyncio.gather(*stuck)
            assert {outcome for outcome, _ in results} <= {"deadline_exceeded", "source_unavailable"}
            # Only 4 connections were ever open to the hanging registry at once.
            assert len(hanging.requests) <= 4 * 2
            for _ in range(40):  # the background fetches time out, and the breaker opens
                if the_catalog.sources["npm"].guard.breaker.state() == "down":
                    break
                await asyncio.sleep(0.1)
            assert the_catalog.sources["npm"].guard.breaker.state() == "down"
            for _ in range(40):
                if not the_catalog._fetching:
                    break
                await asyncio.sleep(0.1)
            # Resting: refused at once with a retry hint, without touching the registry.
            before = len(hanging.requests)
            started = time.monotonic()
            with pytest.raises(errors.SourceUnavailable) as resting:
                with deadlines.within(2.0):
                    await the_catalog.get(names.PackageRef("npm", "stuck-20"), max_versions=1)
            assert time.monotonic() - started < 0.2 and resting.value.details["retry_after"] > 0
            assert len(hanging.requests) == before
            assert (await get("pypi", "django"))[0] == "ok"
            assert the_catalog.sources["pypi"].guard.breaker.state() == "up"
        finally:
            await the_catalog.close()


async def test_background_fetches_per_source_are_bounded(database: db.Database) -> None:
    slow = http.HttpPolicy(timeout=10, max_attempts=1, guard=guard.GuardPolicy(threshold=100))
    async with ReplayServer() as hanging, aiohttp.ClientSession() as session:
        for i in range(5):
            hanging.add(f"/stuck-{i}", Reply.json({}, delay=3))
        the_catalog = catalog.Catalog(
            database=database, sources={"npm": npm.NpmSource(session=session, base_url=hanging.url, policy=slow)},
            read_cache=cache.ReadCache(ttl=0, max_size=10), request_timeout=0.2, max_background_fetches=3,
        )
        try:
            for i in range(3):  # each request gives up; its fetch goes on in the background
                with pytest.raises(errors.DeadlineExceeded):
                    await the_catalog.get(names.PackageRef("npm", f"stuck-{i}"), max_versions=1)
            started = time.monotonic()
            with pytest.raises(errors.Overloaded) as refused:
                await the_catalog.get(names.PackageRef("npm", "stuck-3"), max_versions=1)
            assert time.monotonic() - started < 0.1 and refused.value.details["retry_after"] > 0
            # Asking again for a package already being fetched joins that fetch instead.
            with pytest.raises(errors.DeadlineExceeded):
                await the_catalog.get(names.PackageRef("npm", "stuck-0"), max_versions=1)
            assert len(hanging.received("/stuck-0")) == 1 and not hanging.received("/stuck-3")
        finally:
            await the_catalog.close()
