"""Package facts written and read back through PostgreSQL."""

from __future__ import annotations

import datetime as dt

from centralcloud.core import model, names
from centralcloud.store import db
from centralcloud.store import packages as store

T0 = dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.timezone.utc)


def facts(*, versions: tuple[model.Version, ...], description: str = "Fast, unopinionated, minimalist web framework",
          name: str = "express", downloads: int | None = None,
          keywords: tuple[str, ...] = ("express", "framework", "web", "http")) -> model.PackageFacts:
    return model.PackageFacts(
        ecosystem="npm",
        name=name,
        display_name=name,
        description=description,
        keywords=keywords,
        licenses=("MIT",),
        homepage="http://expressjs.com/",
        repository_url="https://github.com/expressjs/express",
        latest_version=versions[0].number if versions else None,
        downloads=downloads,
        versions=versions,
    )


def version(number: str, days: int, deps: tuple[model.Dependency, ...] | None = None, **flags: object) -> model.Version:
    return model.Version(number=number, published_at=T0 + dt.timedelta(days=days), dependencies=deps, **flags)


DEP = model.Dependency(name="body-parser", ecosystem="npm", requirement="~1.20.3")
PEER = model.Dependency(name="react", ecosystem="npm", requirement=">=17", kind="peer", optional=True)


async def test_round_trip(database: db.Database) -> None:
    await store.save_package(
        database,
        facts(versions=(
            version("5.0.0", 30, (DEP, PEER)),
            version("5.0.0-beta.1", 20, (), prerelease=True),
            version("4.0.0", 10, None, deprecated=True, deprecated_reason="use 5"),
        )),
        etag='"abc"',
        last_modified=None,
    )
    reply = await store.load_package(database, ecosystem="npm", name="express", max_versions=2)
    assert reply is not None
    assert reply.purl == "pkg:npm/express"
    assert reply.latest_version == "5.0.0"
    assert reply.licenses == ["MIT"]
    assert [v.number for v in reply.versions] == ["5.0.0", "5.0.0-beta.1"]
    assert reply.versions_total == 3
    assert reply.versions[1].prerelease is True
    assert [(d.name, d.kind, d.optional) for d in reply.dependencies] == [("body-parser", "runtime", False), ("react", "peer", True)]
    assert await store.validators(database, ecosystem="npm", name="express") == ('"abc"', None)


async def test_resave_replaces_versions_and_dependencies(database: db.Database) -> None:
    await store.save_package(database, facts(versions=(version("2.0.0", 2, (DEP, PEER)), version("1.0.0", 1, (DEP,)))),
                             etag=None, last_modified=None)
    newer_dep = model.Dependency(name="body-parser", ecosystem="npm", requirement="^2.0.0")
    await store.save_package(database, facts(versions=(version("2.0.0", 2, (newer_dep,)),)), etag=None, last_modified=None)
    reply = await store.load_package(database, ecosystem="npm", name="express")
    assert reply is not None
    assert [v.number for v in reply.versions] == ["2.0.0"]
    assert [(d.name, d.requirement) for d in reply.dependencies] == [("body-parser", "^2.0.0")]


async def test_versions_without_dependencies_keep_known_ones(database: db.Database) -> None:
    await store.save_package(database, facts(versions=(version("1.0.0", 1, (DEP,)),)), etag=None, last_modified=None)
    await store.save_package(database, facts(versions=(version("1.0.0", 1, None),)), etag=None, last_modified=None)
    reply = await store.load_package(database, ecosystem="npm", name="express")
    assert reply is not None and [d.name for d in reply.dependencies] == ["body-parser"]


async def test_missing_package_is_none(database: db.Database) -> None:
    assert await store.load_package(database, ecosystem="npm", name="nope") is None
    assert await store.validators(database, ecosystem="npm", name="nope") is None


async def test_record_requests_counts(database: db.Database) -> None:
    ref = names.PackageRef("npm", "express")
    await store.record_requests(database, [ref], origin="request")
    await store.record_requests(database, [ref, names.PackageRef("pypi", "django")], origin="request")
    rows = await database.pool.fetch("SELECT ecosystem, name, request_count FROM package_requests ORDER BY name")
    assert [(r["name"], r["request_count"]) for r in rows] == [("django", 1), ("express", 2)]


async def test_a_licence_with_a_comma_stays_one_licence(database: db.Database) -> None:
    apache = "Apache License, Version 2.0"
    await store.save_package(
        database, facts(versions=(version("1.0.0", 1, (), licenses=(apache, "MIT")),)), etag=None, last_modified=None
    )
    reply = await store.load_package(database, ecosystem="npm", name="express")
    assert reply is not None and reply.versions[0].licenses == [apache, "MIT"]
