"""The only module that knows asyncpg.

Queries live in `centralcloud/store/sql/queries.sql`, each under a `-- name: NAME --` header followed by a
one-line description; code refers to them by name only. Driver and network errors are
translated here into `errors.DatabaseError`, so nothing above sees an asyncpg exception.

Inside a request (see `core.deadlines`) every query and every wait for a pooled connection
is bounded by the request's remaining time and by `query_timeout`; running out of either is
`errors.DatabaseUnavailable` (a 503), so a stalled PostgreSQL costs a request a quick error,
never a hang. Work outside a request (the sync) keeps the pool's long command timeout.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.resources
import io
import json
import logging
import pathlib
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

import asyncio

import asyncpg
import numpy as np

from centralcloud.core import deadlines, errors

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
    if isinstance(err, TimeoutError):
        return errors.DatabaseUnavailable("PostgreSQL did not answer in time; try again shortly", retry_after=1.0)
    return errors.DatabaseError(f"database error: {type(err).__name__}: {err}")


# Connections whose query was cut short are released in the background: asyncpg waits for
# the server to confirm the cancellation, which a stalled server never does.
_RELEASE_GRACE = 5.0
_releasing: set[asyncio.Task[None]] = set()


def _release_later(pool: asyncpg.Pool, connection: asyncpg.Connection) -> None:
    task = asyncio.create_task(_release_quietly(pool, connection))
    _releasing.add(task)
    task.add_done_callback(_releasing.discard)


async def _release_quietly(pool: asyncpg.Pool, connection: asyncpg.Connection) -> None:
    with contextlib.suppress(Exception):
        await pool.release(connection, timeout=_RELEASE_GRACE)


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

    def __init__(self, target: asyncpg.Pool | asyncpg.Connection, *, query_timeout: float = 2.0) -> None:
        self._target = target
        self.query_timeout = query_timeout
        """Longest a query (with its wait for a connection) may take inside a request."""

    def budget(self) -> float | None:
        """Seconds the next query may take: None outside a request (the pool's own timeout applies)."""
        left = deadlines.remaining()
        if left is None:
            return None
        if left <= 0:
            raise errors.DatabaseUnavailable("the request's deadline passed before PostgreSQL was asked")
        return min(left, self.query_timeout)

    async def _run(self, method: str, name: str, *args: Any) -> Any:
        sql = self.sql(name)
        with _translated():
            limit = self.budget()
            if limit is None:
                return await getattr(self._target, method)(sql, *args)
            if not isinstance(self._target, asyncpg.Pool):
                return await getattr(self._target, method)(sql, *args, timeout=limit)
            # Pool.fetch & co. would wait for a free connection without a bound.
            async with asyncio.timeout(limit):
                connection = await self._target.acquire()
            try:
                result = await getattr(connection, method)(sql, *args, timeout=limit)
            except BaseException:
                _release_later(self._target, connection)
                raise
            await self._target.release(connection)
            return result

    @staticmethod
    def sql(name: str) -> str:
        try:
            return queries()[name]
        except KeyError:
            raise errors.ConfigError(f"no query named {name!r} in queries.sql") from None

    async def fetch(self, name: str, *args: Any) -> list[asyncpg.Record]:
        return await self._run("fetch", name, *args)

    async def fetchrow(self, name: str, *args: Any) -> asyncpg.Record | None:
        return await self._run("fetchrow", name, *args)

    async def fetchval(self, name: str, *args: Any) -> Any:
        return await self._run("fetchval", name, *args)

    async def execute(self, name: str, *args: Any) -> str:
        return await self._run("execute", name, *args)

    async def lookup(self, name: str, *key: Any) -> asyncpg.Record | None:
        """The row of one key from a lookup query (see `Lookups`), or None when it has none."""
        rows = await self.fetch(name, *([part] for part in key))
        return rows[0] if rows else None

    async def fetchmany(self, name: str, rows: Iterable[Sequence[Any]]) -> list[asyncpg.Record]:
        """Run a query once per argument row, pipelined in one round trip; every row returned, in order."""
        return await self._run("fetchmany", name, rows)

    async def executemany(self, name: str, rows: Iterable[Sequence[Any]]) -> None:
        await self._run("executemany", name, rows)

    async def copy_in(self, table: str, *, columns: Sequence[str], data: bytes) -> None:
        """COPY rows in PostgreSQL's binary format (see `binary_rows`) into a table."""
        with _translated():
            await self._target.copy_to_table(table, source=io.BytesIO(data), columns=list(columns), format="binary")

    async def execute_script(self, script: str) -> None:
        """Run raw SQL text (migrations only)."""
        with _translated():
            await self._target.execute(script)


class Database(Executor):
    """A connection pool plus named queries."""

    def __init__(self, pool: asyncpg.Pool, *, dsn: str, query_timeout: float = 2.0) -> None:
        super().__init__(pool, query_timeout=query_timeout)
        self.pool = pool
        self.dsn = dsn
        """Where the pool connects (other service processes connect there too)."""
        self._lookups: dict[str, Lookups] = {}

    @classmethod
    async def connect(
        cls, dsn: str, *, min_size: int = 1, max_size: int = 10, query_timeout: float = 2.0
    ) -> Database:
        try:
            pool = await asyncpg.create_pool(
                dsn, min_size=min_size, max_size=max_size, init=_init_connection, command_timeout=60,
                reset=_keep_session,
            )
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as err:
            raise errors.DatabaseError(f"cannot connect to PostgreSQL: {err}") from err
        return cls(pool, dsn=dsn, query_timeout=query_timeout)

    @contextlib.asynccontextmanager
    async def _acquire(self) -> AsyncIterator[asyncpg.Connection]:
        limit = self.budget()
        if limit is None:
            async with self.pool.acquire() as connection:
                yield connection
            return
        async with asyncio.timeout(limit):
            connection = await self.pool.acquire()
        try:
            yield connection
        except BaseException:
            _release_later(self.pool, connection)
            raise
        await self.pool.release(connection)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        """A connection in a transaction; commits on success, rolls back on any exception."""
        with _translated():
            async with self._acquire() as connection, connection.transaction():
                yield Executor(connection, query_timeout=self.query_timeout)

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Executor]:
        """A dedicated connection without a transaction (for session-level advisory locks)."""
        with _translated():
            async with self._acquire() as connection:
                try:
                    yield Executor(connection, query_timeout=self.query_timeout)
                finally:
                    # The pool does not reset connections (see _keep_session); this one may hold locks.
                    try:
                        await connection.reset()
                    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError):
                        connection.terminate()  # its locks go with its session

    async def lookup(self, name: str, *key: Any) -> asyncpg.Record | None:
        """The row of one key, read in a batch with the other keys asked at the same time (see `Lookups`)."""
        lookups = self._lookups.get(name)
        if lookups is None:
            lookups = self._lookups[name] = Lookups(self, name)
        return await lookups.get(*key)

    async def ping(self, *, timeout: float) -> None:
        """Ask PostgreSQL for a trivial answer within `timeout` seconds (DatabaseError if not)."""
        with deadlines.within(timeout):
            await self.fetchval("ping")

    def pool_figures(self) -> dict[str, int]:
        """Connections open and idle in the pool."""
        return {"pool_size": self.pool.get_size(), "pool_idle": self.pool.get_idle_size()}

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.pool.close()


class Lookups:
    """Reads by key that arrive together, answered by one statement per batch.

    A read joins the batch of every key asked in the same turn of the event loop. While
    `concurrency` batches are running, keys wait for the next one, so under load a batch holds
    many keys and PostgreSQL parses, plans and answers one statement for them instead of one
    each, and this process sends one query and takes one connection. At rest a batch is the one
    key asked, sent on the next turn.

    Every key asked is read as asked: a key asked twice is looked up twice.

    The named query takes one array per part of the key and returns, with each row it finds,
    the 1-based position of its key in those arrays as `lookup_index`; a key it finds nothing
    for reads as None. Each caller waits within its own budget (`Executor.budget`: the request's
    deadline, `query_timeout`), and a batch runs within the longest budget among its callers,
    so a stalled PostgreSQL costs each request its usual quick 503.
    """

    def __init__(self, database: Database, name: str, *, concurrency: int = 4, max_batch: int = 64) -> None:
        self._database = database
        self._name = name
        self._concurrency = concurrency
        self._max_batch = max_batch
        self._pending: list[tuple[tuple[Any, ...], asyncio.Future[Any], float | None]] = []
        self._running: set[asyncio.Task[None]] = set()
        self._scheduled = False

    async def get(self, *key: Any) -> asyncpg.Record | None:
        limit = self._database.budget()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((key, future, limit))
        if not self._scheduled and len(self._running) < self._concurrency:
            self._scheduled = True
            loop.call_soon(self._dispatch)
        if limit is None:
            return await future
        try:
            async with asyncio.timeout(limit):
                return await future
        except TimeoutError as err:
            raise _translate(err) from err

    def _dispatch(self) -> None:
        self._scheduled = False
        loop = asyncio.get_running_loop()
        while self._pending and len(self._running) < self._concurrency:
            batch = [item for item in self._pending[: self._max_batch] if not item[1].done()]
            del self._pending[: self._max_batch]
            if batch:
                task = loop.create_task(self._read(batch), context=deadlines.detached())
                self._running.add(task)
                task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        if self._pending and not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._dispatch)

    async def _read(self, batch: list[tuple[tuple[Any, ...], asyncio.Future[Any], float | None]]) -> None:
        limits = [limit for _, _, limit in batch]
        limit = None if None in limits else max(limits)  # type: ignore[type-var]
        columns = [list(part) for part in zip(*(key for key, _, _ in batch))]
        try:
            if limit is None:
                rows = await self._database.fetch(self._name, *columns)
            else:
                with deadlines.within(limit):
                    rows = await self._database.fetch(self._name, *columns)
        except BaseException as err:
            for _, future, _ in batch:
                if not future.done():
                    future.set_exception(err if isinstance(err, Exception) else errors.DatabaseUnavailable(
                        "the read was stopped before PostgreSQL answered", retry_after=1.0
                    ))
            if not isinstance(err, Exception):
                raise
            return
        found = {row["lookup_index"]: row for row in rows}
        for index, (_, future, _) in enumerate(batch, 1):
            if not future.done():
                future.set_result(found.get(index))


# Many values in one parameter --------------------------------------------------------------------
# asyncpg checks every element of a list parameter against the abstract collection types, which
# for arrays of thousands of elements costs more than the query; array literals sent as text are
# parsed by PostgreSQL at C speed (cast them: `$1::text::bigint[]`).


def text_array(values: Iterable[str | None]) -> str:
    """A PostgreSQL array literal of text values (None is NULL)."""
    return "{" + ",".join([
        "NULL" if value is None
        else '"' + (value.replace("\\", "\\\\").replace('"', '\\"') if '"' in value or "\\" in value else value) + '"'
        for value in values
    ]) + "}"


def number_array(values: Iterable[int | float]) -> str:
    """A PostgreSQL array literal of numbers (repr of a float reads back exactly)."""
    return "{" + ",".join(map(repr, values)) + "}"


def bool_array(values: Iterable[bool]) -> str:
    return "{" + ",".join(["t" if value else "f" for value in values]) + "}"


_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
_COPY_TRAILER = (-1).to_bytes(2, "big", signed=True)


def binary_rows(columns: Sequence[Any]) -> bytes:
    """Rows for `copy_in`, from equally long numpy arrays of fixed-width numbers (one per column,
    int64, int32 or float64): PostgreSQL's binary COPY format, built without a loop per row."""
    layout: list[tuple[str, str]] = [("fields", ">i2")]
    for i, column in enumerate(columns):
        layout += [(f"size{i}", ">i4"), (f"value{i}", column.dtype.newbyteorder(">").str)]
    rows = np.empty(len(columns[0]) if columns else 0, dtype=np.dtype(layout))
    rows["fields"] = len(columns)
    for i, column in enumerate(columns):
        rows[f"size{i}"] = column.dtype.itemsize
        rows[f"value{i}"] = column
    return _COPY_HEADER + rows.tobytes() + _COPY_TRAILER


def int8_array_values(buffers: Iterable[bytes]) -> Any:
    """The elements of bigint[] values sent by `array_send`, concatenated into one numpy array."""
    return _array_values(buffers, ">i8")


def bool_array_values(buffers: Iterable[bytes]) -> Any:
    """The elements of boolean[] values sent by `array_send`, concatenated into one numpy array."""
    return _array_values(buffers, "u1").astype(bool)


def _array_values(buffers: Iterable[bytes], element: str) -> Any:
    # One dimension: ndim, flags, element type, length, lower bound, then (size, value) per
    # element; an empty array is the first three alone. NULL elements never occur here.
    body = b"".join([buffer[20:] for buffer in buffers if len(buffer) > 12])
    pairs = np.frombuffer(body, dtype=np.dtype([("size", ">i4"), ("value", element)]))
    return pairs["value"].astype(np.dtype(element).newbyteorder("="))
