"""The SQL layer: named queries, migrations against the full schema, concurrent migrate."""

from __future__ import annotations

import asyncio
import pathlib
import re

import asyncpg

from centralcloud.core import deadlines, ecosystems, errors, model
from centralcloud.store import db, migrations
from centralcloud.store import packages as store

CODE = pathlib.Path(__file__).resolve().parent.parent / "centralcloud"
_CALL = re.compile(r"\.(?:fetch|fetchrow|fetchval|fetchmany|execute|executemany|lookup)\(\s*\"([a-z_]+)\"")


def names_used_in_code() -> set[str]:
    used: set[str] = set()
    for path in CODE.rglob("*.py"):
        used.update(_CALL.findall(path.read_text(encoding="utf-8")))
    return used


def test_every_query_the_code_names_exists() -> None:
    used = names_used_in_code()
    assert "get_packages" in used  # the scan itself works
    missing = used - set(db.queries())
    assert not missing, f"queries used in code but missing from queries.sql: {sorted(missing)}"


def test_every_query_is_used_and_described() -> None:
    text = (db.sql_dir() / "queries.sql").read_text(encoding="utf-8")
    unused = set(db.queries()) - names_used_in_code()
    assert not unused, f"queries nobody uses: {sorted(unused)}"
    for name, body in db.queries().items():
        assert body.startswith("-- "), f"query {name} lacks its one-line description"
    assert text.count("-- name: ") == len(db.queries())


def test_named_queries_run_only_from_the_store() -> None:
    store = CODE / "store"
    callers = {
        str(path.relative_to(CODE))
        for path in CODE.rglob("*.py")
        if store not in path.parents and _CALL.search(path.read_text(encoding="utf-8"))
    }
    assert not callers, f"named queries run outside centralcloud/store: {sorted(callers)}"


async def test_every_ecosystem_column_accepts_exactly_the_known_ecosystems(database: db.Database) -> None:
    rows = await database.pool.fetch(
        "SELECT conrelid::regclass::text AS table_name, pg_get_constraintdef(oid) AS definition"
        " FROM pg_constraint WHERE contype = 'c' AND pg_get_constraintdef(oid) LIKE '%(ecosystem =%'"
    )
    tables = {row["table_name"] for row in rows}
    assert tables == {
        "packages", "dependencies", "advisory_affected", "package_requests", "advisory_imports"
    }
    for row in rows:
        listed = set(re.findall(r"'([a-z]+)'::text", row["definition"]))
        assert listed == set(ecosystems.KEYS), (row["table_name"], listed)


async def test_sync_failures_have_a_key(database: db.Database) -> None:
    key = await database.pool.fetchval(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'sync_failures'::regclass AND contype = 'p'"
    )
    assert key == "PRIMARY KEY (id)"


def test_parse_queries_rejects_duplicates() -> None:
    text = "-- name: a --\n-- one\nSELECT 1;\n-- name: a --\n-- two\nSELECT 2;\n"
    try:
        db.parse_queries(text)
    except errors.ConfigError as err:
        assert "twice" in err.message
    else:
        raise AssertionError("duplicate query names were accepted")


CATALOG = """
SELECT 'column' AS kind, table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable
       || ' ' || coalesce(column_default, '') AS item
FROM information_schema.columns WHERE table_schema = 'public'
UNION ALL
SELECT 'constraint', conrelid::regclass::text || ' ' || pg_get_constraintdef(oid)
FROM pg_constraint WHERE connamespace = 'public'::regnamespace
UNION ALL
SELECT 'index', indexdef FROM pg_indexes WHERE schemaname = 'public'
UNION ALL
SELECT 'function', p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ') ' || md5(p.prosrc)
FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
ORDER BY 1, 2
"""


async def catalog_of(dsn: str) -> list[tuple[str, str]]:
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(CATALOG)
    finally:
        await connection.close()
    return [(row["kind"], row["item"]) for row in rows if "schema_migrations" not in row["item"]]


async def test_schema_file_equals_migrations(database_url: str, empty_database_url: str) -> None:
    connection = await asyncpg.connect(empty_database_url)
    try:
        await connection.execute((db.sql_dir() / "schema.sql").read_text(encoding="utf-8"))
    finally:
        await connection.close()
    migrated = await catalog_of(database_url)
    from_schema = await catalog_of(empty_database_url)
    assert any(kind == "index" and "packages_search_idx" in item for kind, item in migrated)
    assert any(kind == "function" and item.startswith("used_packages(") for kind, item in migrated)
    assert migrated == from_schema


async def test_concurrent_migrations_apply_once(empty_database_url: str) -> None:
    databases = [await db.Database.connect(empty_database_url) for _ in range(3)]
    try:
        applied = await asyncio.gather(*(migrations.migrate(d) for d in databases))
        assert sorted(len(a) for a in applied) == [0, 0, len(migrations.available())]
        rows = await databases[0].fetch("list_migrations")
        assert [row["version"] for row in rows] == [n for n, _, _ in migrations.available()]
        assert await migrations.migrate(databases[0]) == []
    finally:
        for d in databases:
            await d.close()


async def test_driver_errors_are_translated(database: db.Database) -> None:
    try:
        await database.execute("record_migration", 1, "duplicate of an applied migration")
    except errors.DatabaseError as err:
        assert "UniqueViolation" in err.message
    else:
        raise AssertionError("a unique violation passed silently")


# Lookups: keys asked together, read in one statement ---------------------------------------------


async def _stored(database: db.Database, *names: str) -> None:
    for name in names:
        facts = model.PackageFacts(
            ecosystem="npm", name=name, display_name=name, latest_version="1.0.0",
            versions=(model.Version(number="1.0.0"),),
        )
        await store.save_package(database, facts, etag=None, last_modified=None)


async def test_lookups_asked_together_share_statements_and_each_key_gets_its_own_row(
    database: db.Database, monkeypatch
) -> None:
    await _stored(database, "alpha", "beta", "gamma")
    batches: list[list[str]] = []
    fetch = database.fetch

    async def counted(name: str, *args: object) -> list[asyncpg.Record]:
        if name == "get_packages":
            batches.append(list(args[1]))  # type: ignore[call-overload]
        return await fetch(name, *args)

    monkeypatch.setattr(database, "fetch", counted)
    keys = ["alpha", "beta", "gamma", "missing", "alpha"] * 8
    rows = await asyncio.gather(*(database.lookup("get_packages", "npm", key) for key in keys))
    for key, row in zip(keys, rows):
        if key == "missing":
            assert row is None
        else:
            assert row is not None and row["name"] == key and row["latest_version"] == "1.0.0"
    # Every key asked was read (the repeated ones too), in fewer statements than keys.
    assert sorted(sum(batches, [])) == sorted(keys)
    assert 1 <= len(batches) < len(keys) / 4, [len(batch) for batch in batches]
    # One key alone is still answered, in a statement of its own.
    batches.clear()
    alone = await database.lookup("get_packages", "npm", "beta")
    assert alone is not None and alone["name"] == "beta" and batches == [["beta"]]


async def test_a_lookup_waits_only_within_its_own_budget(database: db.Database) -> None:
    await _stored(database, "alpha")
    async with database.pool.acquire() as holder, holder.transaction():
        await holder.execute("LOCK TABLE packages IN ACCESS EXCLUSIVE MODE")  # every read of packages waits

        async def hurried() -> float:
            started = asyncio.get_running_loop().time()
            with deadlines.within(0.3):
                try:
                    await database.lookup("get_packages", "npm", "alpha")
                except errors.DatabaseUnavailable:
                    return asyncio.get_running_loop().time() - started
            raise AssertionError("a lookup went past its deadline")

        patient = asyncio.create_task(database.lookup("get_packages", "npm", "alpha"))  # no deadline: the sync's way
        took = await hurried()
        assert 0.25 <= took < 1.0
        assert not patient.done()
    # The lock is gone: the patient caller, batched with the hurried one, gets its row.
    row = await asyncio.wait_for(patient, 5)
    assert row is not None and row["name"] == "alpha"


async def test_a_failed_batch_fails_each_of_its_callers_with_a_database_error(database: db.Database) -> None:
    await _stored(database, "alpha")
    results = await asyncio.gather(
        database.lookup("get_packages", "npm", "alpha"),
        database.lookup("get_packages", "npm", 42),  # not text: the statement cannot be sent
        return_exceptions=True,
    )
    assert all(isinstance(result, errors.DatabaseError) for result in results), results
    # Later lookups are unaffected.
    row = await database.lookup("get_packages", "npm", "alpha")
    assert row is not None and row["name"] == "alpha"


async def test_a_lookup_inside_a_transaction_reads_on_its_connection(database: db.Database) -> None:
    async with database.transaction() as transaction:
        await _stored(transaction, "delta")  # type: ignore[arg-type]
        row = await transaction.lookup("get_packages", "npm", "delta")
        assert row is not None and row["name"] == "delta"  # seen before commit: same connection
        assert await transaction.lookup("get_packages", "npm", "missing") is None
