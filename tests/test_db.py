"""The SQL layer: named queries, migrations against the full schema, concurrent migrate."""

from __future__ import annotations

import asyncio
import pathlib
import re

import asyncpg

from centralcloud.core import ecosystems, errors
from centralcloud.store import db, migrations

CODE = pathlib.Path(__file__).resolve().parent.parent / "centralcloud"
_CALL = re.compile(r"\.(?:fetch|fetchrow|fetchval|fetchmany|execute|executemany)\(\s*\"([a-z_]+)\"")


def names_used_in_code() -> set[str]:
    used: set[str] = set()
    for path in CODE.rglob("*.py"):
        used.update(_CALL.findall(path.read_text(encoding="utf-8")))
    return used


def test_every_query_the_code_names_exists() -> None:
    used = names_used_in_code()
    assert "get_package" in used  # the scan itself works
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
