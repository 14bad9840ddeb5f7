"""What a package write costs and what a cold read sends: stored version lists, conditional writes."""

from __future__ import annotations

import datetime as dt

import msgspec

from centralcloud.core import model
from centralcloud.store import db
from centralcloud.store import packages as store

from test_store import DEP, PEER, T0, facts, version

PLUS_TWO = dt.timezone(dt.timedelta(hours=2))


async def row_versions(database: db.Database, table: str, where: str) -> dict[object, str]:
    """Each row's key and xmin (the transaction that wrote its current row version)."""
    key = "package_id" if table == "package_version_lists" else "id"
    rows = await database.pool.fetch(f"SELECT {key} AS key, xmin::text AS written FROM {table} WHERE {where}")
    return {row["key"]: row["written"] for row in rows}


async def test_stored_list_reads_exactly_as_the_rows_do(database: db.Database) -> None:
    # Equal publication times, undated versions, a non-UTC zone and omitted defaults: the list
    # encoded at write time must equal what reading the version rows one by one gives.
    same_time = T0 + dt.timedelta(days=3)
    await store.save_package(
        database,
        facts(versions=(
            model.Version(number="2.0.0", published_at=same_time.astimezone(PLUS_TWO), dependencies=(DEP,)),
            model.Version(number="10.0.0", published_at=same_time),
            model.Version(number="1.0.0-rc.1", published_at=None, prerelease=True),
            model.Version(number="1.0.0", published_at=None, yanked=True, yanked_reason="broken", licenses=("MIT",)),
            version("0.9.0", 1, (), deprecated=True, deprecated_reason="old"),
            model.Version(number="0.1.0", published_at=dt.datetime(2020, 1, 1, 0, 0, 0, 51000)),  # naive: UTC
        )),
        etag=None, last_modified=None,
    )
    listed = {}
    for max_versions in (1000, 6, 3, 0):
        from_list = await store.read_package(database, ecosystem="npm", name="express", max_versions=max_versions)
        raw = await store.read_package(
            database, ecosystem="npm", name="express", max_versions=max_versions, for_encoding=True
        )
        assert from_list is not None and raw is not None
        listed[max_versions] = msgspec.json.encode(from_list.reply)
        assert msgspec.json.encode(raw.reply) == listed[max_versions]
    assert (max_versions, from_list.reply.versions, from_list.reply.versions_total) == (0, [], 6)
    # A package stored before lists were kept is read row by row, to the same bytes.
    await database.pool.execute("DELETE FROM package_version_lists")
    for max_versions, expected in listed.items():
        from_rows = await store.read_package(database, ecosystem="npm", name="express", max_versions=max_versions)
        assert from_rows is not None
        assert msgspec.json.encode(from_rows.reply) == expected
    whole = await store.load_package(database, ecosystem="npm", name="express")
    assert whole is not None
    assert [v.number for v in whole.versions] == ["2.0.0", "10.0.0", "0.9.0", "0.1.0", "1.0.0-rc.1", "1.0.0"]


async def test_one_new_version_writes_one_version_row(database: db.Database) -> None:
    old = tuple(version(f"1.{i}.0", i, (DEP,)) for i in range(20))
    package_id = await store.save_package(
        database, facts(versions=(version("2.0.0", 30, (DEP, PEER)), *old)), etag=None, last_modified=None
    )
    versions_before = await row_versions(database, "versions", f"package_id = {package_id}")
    dependencies_before = await row_versions(database, "dependencies", "true")
    list_before = await row_versions(database, "package_version_lists", f"package_id = {package_id}")

    # The same document again: no version row, no dependency row and no list is rewritten.
    await store.save_package(
        database, facts(versions=(version("2.0.0", 30, (DEP, PEER)), *old)), etag=None, last_modified=None
    )
    assert await row_versions(database, "versions", f"package_id = {package_id}") == versions_before
    assert await row_versions(database, "dependencies", "true") == dependencies_before
    assert await row_versions(database, "package_version_lists", f"package_id = {package_id}") == list_before

    # One new version that is not the latest: one row written, the dependency rows stay.
    await store.save_package(
        database, facts(versions=(version("2.0.0", 30, (DEP, PEER)), version("1.99.0", 29, (DEP,)), *old)),
        etag=None, last_modified=None,
    )
    after = await row_versions(database, "versions", f"package_id = {package_id}")
    assert {k: v for k, v in after.items() if k in versions_before} == versions_before
    assert len(after) == len(versions_before) + 1
    assert await row_versions(database, "dependencies", "true") == dependencies_before
    assert await row_versions(database, "package_version_lists", f"package_id = {package_id}") != list_before


async def test_dependency_rows_follow_the_latest_version(database: db.Database) -> None:
    package_id = await store.save_package(
        database, facts(versions=(version("1.0.0", 1, (DEP,)),)), etag=None, last_modified=None
    )
    rows_before = await row_versions(database, "dependencies", "true")
    # A new latest version that declares the same list: its rows are the package's, unwritten.
    await store.save_package(
        database, facts(versions=(version("1.1.0", 2, (DEP,)), version("1.0.0", 1, (DEP,)))), etag=None, last_modified=None
    )
    assert await row_versions(database, "dependencies", "true") == rows_before
    assert await latest_dependency_rows(database) == [("1.1.0", "body-parser")]
    # The latest version's list changes: its rows are rewritten.
    await store.save_package(
        database, facts(versions=(version("1.1.0", 2, (DEP, PEER)), version("1.0.0", 1, (DEP,)))),
        etag=None, last_modified=None,
    )
    assert await latest_dependency_rows(database) == [("1.1.0", "body-parser"), ("1.1.0", "react")]
    # A new latest version whose list this fetch does not know: the rows described another version.
    await store.save_package(
        database, facts(versions=(version("1.2.0", 3, None), version("1.1.0", 2, (DEP, PEER)))),
        etag=None, last_modified=None,
    )
    assert await latest_dependency_rows(database) == []
    await store.save_package(
        database, facts(versions=(version("1.1.0", 2, (DEP, PEER)), version("1.0.0", 1, (DEP,)))),
        etag=None, last_modified=None,
    )
    assert await latest_dependency_rows(database) == [("1.1.0", "body-parser"), ("1.1.0", "react")]
    assert await database.pool.fetchval("SELECT count(DISTINCT package_id) FROM dependencies") == 1
    assert package_id == await database.pool.fetchval("SELECT package_id FROM dependencies LIMIT 1")
    # A fetch that does not know the dependencies keeps the rows and what the version row knew.
    await store.save_package(
        database, facts(versions=(version("1.1.0", 2, None), version("1.0.0", 1, None))), etag=None, last_modified=None
    )
    reply = await store.load_package(database, ecosystem="npm", name="express")
    assert reply is not None and [d.name for d in reply.dependencies] == ["body-parser", "react"]
    assert await database.pool.fetchval("SELECT count(*) FROM dependencies") == 2


async def latest_dependency_rows(database: db.Database) -> list[tuple[str, str]]:
    rows = await database.pool.fetch(
        "SELECT p.latest_version, d.name FROM dependencies d JOIN packages p ON p.id = d.package_id ORDER BY d.name"
    )
    return [(r["latest_version"], r["name"]) for r in rows]


async def test_a_changed_version_is_rewritten(database: db.Database) -> None:
    package_id = await store.save_package(
        database, facts(versions=(version("1.1.0", 2, ()), version("1.0.0", 1, ()))), etag=None, last_modified=None
    )
    before = await row_versions(database, "versions", f"package_id = {package_id}")
    await store.save_package(
        database, facts(versions=(version("1.1.0", 2, ()), version("1.0.0", 1, (), yanked=True))),
        etag=None, last_modified=None,
    )
    after = await row_versions(database, "versions", f"package_id = {package_id}")
    assert sum(before[k] != after[k] for k in before) == 1
    reply = await store.load_package(database, ecosystem="npm", name="express")
    assert reply is not None and [v.yanked for v in reply.versions] == [False, True]


async def test_session_locks_do_not_outlive_a_dedicated_connection(database: db.Database) -> None:
    # The pool does not reset connections on release; Database.connection does, so a lock
    # left behind (by an error, say) cannot stay held on a pooled connection.
    async with database.connection() as connection:
        assert await connection.fetchval("try_sync_lock", 4242) is True
    held = await database.pool.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242")
    assert held == 0
