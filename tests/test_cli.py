"""`centralcloud serve` as a user runs it: embedded servers, the CLI, SIGTERM, restart."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import signal
import sys

import psutil

from centralcloud.runtime import processes
from replay import Reply, ReplayServer


async def cli(*args: str, env: dict[str, str], timeout: float = 60) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "centralcloud", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    return process.returncode or 0, out.decode(), err.decode()


async def wait_until_serving(env: dict[str, str], server: asyncio.subprocess.Process) -> None:
    for _ in range(120):
        if server.returncode is not None:
            raise AssertionError(f"serve exited early with {server.returncode}")
        code, _, err = await cli("search", "anything", "--timeout", "2", env=env)
        if code == 0:
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"service did not come up: {err}")


def leftovers(data_dir: pathlib.Path, port: int) -> list[str]:
    found = []
    for process in psutil.process_iter(["name", "cmdline", "status"]):
        try:
            if process.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            cmdline = " ".join(process.info["cmdline"] or [])
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if str(data_dir) in cmdline or ("nats-server" in cmdline and f"-p {port}" in cmdline):
            found.append(cmdline)
    return found


def serve_env(*, port: int, data_dir: pathlib.Path, registry_url: str, **extra: str) -> dict[str, str]:
    """The environment of a user running `centralcloud serve` against our replay registry."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CENTRALCLOUD_")}
    return env | {
        "CENTRALCLOUD_NATS_URL": f"nats://127.0.0.1:{port}",
        "CENTRALCLOUD_DATA_DIR": str(data_dir),
        "CENTRALCLOUD_NPM_URL": registry_url,
        "CENTRALCLOUD_PYPI_URL": registry_url,
        # Unreachable on purpose: those answers must come without them.
        "CENTRALCLOUD_GITHUB_URL": "http://127.0.0.1:9",
        "CENTRALCLOUD_OSV_URL": "http://127.0.0.1:9",
        "CENTRALCLOUD_NPM_DOWNLOADS_URL": "http://127.0.0.1:9",
        "CENTRALCLOUD_PYPI_DOWNLOADS_URL": "http://127.0.0.1:9",
    } | {f"CENTRALCLOUD_{key.upper()}": value for key, value in extra.items()}


async def start_serve(env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "centralcloud", "serve", env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )


async def stop_serve(server: asyncio.subprocess.Process) -> tuple[int, str]:
    server.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(server.communicate(), 60)
    return server.returncode, err.decode()


async def test_serve_get_search_stop_restart(tmp_path: pathlib.Path) -> None:
    port = processes.free_port()
    data_dir = tmp_path / "data"
    async with ReplayServer() as registry:
        registry.add("/express", Reply.fixture("npm/express.json"))
        registry.add("/pypi/django/json", Reply.fixture("pypi/django.json"))
        registry.add("/slow-package", Reply.json({
            "name": "slow-package", "dist-tags": {"latest": "1.0.0"},
            "versions": {"1.0.0": {"name": "slow-package", "version": "1.0.0"}},
        }, delay=5))
        env = serve_env(port=port, data_dir=data_dir, registry_url=registry.url)
        server = await start_serve(env)
        try:
            await wait_until_serving(env, server)
            code, out, err = await cli("get", "npm", "express", env=env)
            assert code == 0, err
            assert "latest: 5.3.0" in out.splitlines()[0]
            code, out, err = await cli("get", "pypi", "django", "--json", env=env)
            assert code == 0, err
            assert json.loads(out)["latest_version"] == "6.1.3"
            code, out, err = await cli("search", "web framework", env=env)
            assert code == 0, err
            assert "pypi/django" in out and "npm/express" in out
            code, out, err = await cli("health", env=env)
            assert code == 0, err
            assert "postgresql" in out and "nats" in out and "npm" in out
            # Slower than the service's 4 s deadline: a 504 first, then the CLI asks again.
            code, out, err = await cli("get", "npm", "slow-package", env=env)
            assert code == 0, err
            assert "latest: 1.0.0" in out and len(registry.received("/slow-package")) == 1
            code, out, err = await cli("get", "npm", "../admin", env=env)
            assert code == 1 and "error 400" in err and "not a valid npm package name" in err
            code, out, err = await cli("sync", "--follow", env=env)
            assert code == 0, err
            assert "run 1 [" in err and "succeeded" in out
            code, out, err = await cli("sync", "status", "--json", env=env)
            assert code == 0, err
            [run] = json.loads(out)["runs"]
            assert run["state"] == "succeeded" and run["counts"]["npm"]["checked"] >= 1
            assert run["counts"]["pypi"]["updated"] == 1  # django; its dependencies are not in this registry
            code, out, err = await cli("advisories", "pypi", "django", "4.2.6", env=env)
            assert code == 0, err
            assert "django 4.2.6" in out and "warning: osv" in out
        finally:
            if server.returncode is None:
                code, log = await stop_serve(server)
        assert code == 0, log
        assert leftovers(data_dir, port) == []

    # The registry is gone now: what was stored must still be there after a restart.
    env["CENTRALCLOUD_NPM_URL"] = "http://127.0.0.1:9"
    server = await start_serve(env)
    try:
        await wait_until_serving(env, server)
        code, out, err = await cli("get", "npm", "express", "--json", env=env)
        assert code == 0, err
        assert json.loads(out)["latest_version"] == "5.3.0"
    finally:
        code, log = await stop_serve(server)
    assert code == 0, log
    assert leftovers(data_dir, port) == []


async def test_port_in_use_is_a_one_line_error(tmp_path: pathlib.Path) -> None:
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = serve_env(port=port, data_dir=tmp_path / "data", registry_url="http://127.0.0.1:9")
        code, _, err = await cli("serve", env=env)
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith("centralcloud: ") and f"port {port}" in last and "CENTRALCLOUD_NATS_URL" in last
    assert leftovers(tmp_path / "data", port) == []


async def test_killed_mid_run_the_next_start_completes_it(tmp_path: pathlib.Path) -> None:
    port = processes.free_port()
    data_dir = tmp_path / "data"
    async with ReplayServer() as registry:
        names = [f"pkg-{i}" for i in range(6)]
        document = json.loads((pathlib.Path(__file__).parent / "fixtures" / "npm" / "express.json").read_text())
        for name in names[:-1]:
            registry.add(f"/{name}", Reply.json(dict(document, name=name)))
        registry.add(f"/{names[-1]}", Reply.json(dict(document, name=names[-1]), delay=30))  # hangs
        env = serve_env(
            port=port, data_dir=data_dir, registry_url=registry.url, http_timeout="60", dependency_depth="0"
        )
        server = await start_serve(env)
        try:
            await wait_until_serving(env, server)
            code, _, err = await cli("request", *(f"npm/{name}" for name in names), env=env)
            assert code == 0, err
            code, out, err = await cli("sync", "--json", env=env)
            assert code == 0, err
            run_id = json.loads(out)["run"]
            for _ in range(100):
                _, out, _ = await cli("sync", "status", "--json", env=env)
                if json.loads(out)["runs"][0]["done"] == len(names) - 1:
                    break
                await asyncio.sleep(0.2)
            else:
                raise AssertionError(f"the run did not progress: {out}")
        finally:
            server.kill()  # no clean shutdown: the run is left 'running'
            await server.wait()

        registry.add(f"/{names[-1]}", Reply.json(dict(document, name=names[-1])))
        server = await start_serve(env)
        try:
            await wait_until_serving(env, server)
            for _ in range(150):
                _, out, _ = await cli("sync", "status", "--json", env=env)
                runs = json.loads(out)["runs"]
                if runs[0]["state"] != "running":
                    break
                await asyncio.sleep(0.2)
            assert [(r["id"], r["state"]) for r in runs] == [(run_id, "succeeded")]
            assert runs[0]["counts"]["npm"]["checked"] == len(names)
            assert runs[0]["total"] == runs[0]["done"] == len(names)
            for name in names[:-1]:
                assert len(registry.received(f"/{name}")) == 1, name  # not fetched again after the restart
            code, out, err = await cli("get", "npm", names[-1], "--json", env=env)
            assert code == 0 and json.loads(out)["versions_total"] == 10
        finally:
            code, log = await stop_serve(server)
        assert code == 0, log
    assert leftovers(data_dir, port) == []


async def test_two_service_processes_run_each_tick_once(database_url: str, nats_url: str, tmp_path: pathlib.Path) -> None:
    import asyncpg

    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute("INSERT INTO package_requests (ecosystem, name) VALUES ('npm', 'express')")
    finally:
        await connection.close()
    async with ReplayServer() as registry:
        registry.add("/express", Reply.fixture("npm/express.json", delay=0.5))
        env = serve_env(
            port=0, data_dir=tmp_path / "data", registry_url=registry.url,
            database_url=database_url, nats_url=nats_url, embedded_nats="false",
            sync_cron="* * * * * */3",  # every three seconds (croniter's seconds field)
        )
        servers = [await start_serve(env), await start_serve(env)]
        try:
            await asyncio.sleep(11)
        finally:
            for server in servers:
                code, log = await stop_serve(server)
                assert code == 0, log
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT scheduled_for, count(*) AS runs FROM sync_runs WHERE trigger = 'schedule' GROUP BY 1 ORDER BY 1"
        )
    finally:
        await connection.close()
    assert len(rows) >= 2, rows  # several ticks passed ...
    assert all(row["runs"] == 1 for row in rows), rows  # ... and each ran once, on one of the two
