"""The only module that knows asyncpg.

Queries live in `centralcloud/store/sql/queries.sql`, each under a `-- name: NAME --` header followed by a
one-line description; code refers to them by name only. Driver and network errors are
translated here into `errors.DatabaseError`, so nothing above sees an asyncpg exception.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.resources
import json
import logging
import pathlib
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

import asyncpg

from centralcloud.core import errors

logger = logging.getLogger(__name__)

_HEADER = re.compile(r"^-- name: ([a-z_][a-z0-9_]*) --\s*$", re.MULTILINE)


def sql_dir() -> pathlib.Path:
    """The SQL files, shipped inside this package (the checkout's top-level `sql` links here)."""
    packaged = importlib.resources.files("centralcloud.store").joinpath("sql")
    if not packaged.is_dir():
        raise errors.ConfigError("the SQL files are missing from this installation")
    return pathlib.Path(str(packaged))


def parse_queries(text: str) -> dict[str, str]:
    """Split a queries file into {name: sql}."""
    parts = _HEADER.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2]):
        if name in queries:
            raise errors.ConfigError(f"query {name!r} is defined twice")
        queries[name] = body.strip()
    return queries


@functools.cache
def queries() -> dict[str, str]:
    return parse_queries((sql_dir() / "queries.sql").read_text(encoding="utf-8"))


def _translate(err: BaseException) -> errors.DatabaseError:
    return errors.DatabaseError(f"database error: {type(err).__name__}: {err}")


@contextlib.contextmanager
def _translated() -> Any:
    try:
        yield
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as err:
        raise _translate(err) from err


async def _init_connection(connection: asyncpg.Connection) -> None:
    for type_name in ("json", "jsonb"):
        await connection.set_type_codec(
            type_name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


async def _keep_session(connection: asyncpg.Connection) -> None:
    """The pool's reset on release: nothing to send.

    asyncpg's default reset sends a query on every release (unlock advisory locks, reset
    settings), a second round trip for each one-query read. Settings here are only ever set
    per transaction, and the only connections that take session advisory locks are those of
    `Database.connection`, which reset themselves. Open transactions are still rolled back.
    """


class Executor:
    """Runs named queries on one connection or on the pool."""

    def __init__(self, target: asyncpg.Pool | asyncpg.Connection) -> None:
        self._target = target

    @staticmethod
    def sql(name: str) -> str:
        try:
            return queries()[name]
        except KeyError:
            raise errors.ConfigError(f"no query named {name!r} in queries.sql") from None

    async def fetch(self, name: str, *args: Any) -> list[asyncpg.Record]:
        with _translated():
            return await self._target.fetch(self.sql(name), *args)

    async def fetchrow(self, name: str, *args: Any) -> asyncpg.Record | None:
        with _translated():
            return await self._target.fetchrow(self.sql(name), *args)

    async def fetchval(self, name: str, *args: Any) -> Any:
        with _translated():
            return await self._target.fetchval(self.sql(name), *args)

    async def execute(self, name: str, *args: Any) -> str:
        with _translated():
            return await self._target.execute(self.sql(name), *args)

    async def executemany(self, name: str, rows: Iterable[Sequence[Any]]) -> None:
        with _translated():
            await self._target.executemany(self.sql(name), rows)

    async def execute_script(self, script: str) -> None:
        """Run raw SQL text (migrations only)."""
        with _translated():
            await self._target.execute(script)


class Database(Executor):
    """A connection pool plus named queries."""

    def __init__(self, pool: asyncpg.Pool, *, dsn: str) -> None:
        super().__init__(pool)
        self.pool = pool
        self.dsn = dsn
        """Where the pool connects (other service processes connect there too)."""

    @classmethod
    async def connect(cls, dsn: str, *, min_size: int = 1, max_size: int = 10) -> Database:
        try:
            pool = await asyncpg.create_pool(
                dsn, min_size=min_size, max_size=max_size, init=_init_connection, command_timeout=60,
                reset=_keep_session,
            )
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as err:
            raise errors.DatabaseError(f"cannot connect to PostgreSQL: {err}") from err
        return cls(pool, dsn=dsn)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        """A connection in a transaction; commits on success, rolls back on any exception."""
        with _translated():
            async with self.pool.acquire() as connection, connection.transaction():
                yield Executor(connection)

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Executor]:
        """A dedicated connection without a transaction (for session-level advisory locks)."""
        with _translated():
            async with self.pool.acquire() as connection:
                try:
                    yield Executor(connection)
                finally:
                    # The pool does not reset connections (see _keep_session); this one may hold locks.
                    try:
                        await connection.reset()
                    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError):
                        connection.terminate()  # its locks go with its session

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.pool.close()
