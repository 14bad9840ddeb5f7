"""A CentralCloud cluster on one machine, for tests/test_cluster.py: three nats-server nodes
with JetStream built from the shipped deploy/cluster/node-*.conf (ports on loopback, data in a
temporary directory), and `centralcloud serve` replicas as real processes, each with the
service user's credentials from `centralcloud auth init`.

Every node and replica keeps its ports and data across a kill and a restart, as a machine
whose process crashed and was started again would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
from typing import Any

import aiohttp

import test_security

from centralcloud.runtime import auth, cli, embedded_nats, processes
from centralcloud.runtime import credentials as credential_files

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
NODES = (1, 2, 3)
UNREACHABLE = "http://127.0.0.1:9"


def make_deploy(target: pathlib.Path, *instances: str) -> pathlib.Path:
    """deploy/ copied to `target`, with users made by the documented commands."""
    shutil.copytree(DEPLOY, target, ignore=shutil.ignore_patterns("auth"))
    assert cli.main(["auth", "init", "--auth-dir", str(target / "auth")]) == 0
    for instance_id in instances:
        assert cli.main(["instance", "add", instance_id, "--auth-dir", str(target / "auth")]) == 0
    return target


def credentials(deploy: pathlib.Path, name: str) -> pathlib.Path:
    if name in (auth.SERVICE, auth.OPS, auth.MONITORING):
        return deploy / "auth" / name
    return deploy / "auth" / credential_files.INSTANCES_DIR / name


def _replace(text: str, old: str, new: str) -> str:
    # A changed shipped file must fail here, not start a node that differs from it silently.
    assert old in text, f"{old!r} is no longer in the shipped node file"
    return text.replace(old, new)


class Node:
    """One nats-server of the cluster, from its shipped node file."""

    def __init__(self, deploy: pathlib.Path, index: int, *, client: int, monitor: int, routes: dict[int, int]) -> None:
        self.index = index
        self.name = f"nats-{index}"
        self.client_port = client
        self.monitor_port = monitor
        self.url = f"nats://127.0.0.1:{client}"
        self.conf = deploy / "cluster" / f"node-{index}.conf"
        self.log = deploy / f"{self.name}.log"
        text = self.conf.read_text()
        assert f"server_name: {self.name}" in text  # the stream leader is named after it
        text = _replace(text, "listen: 0.0.0.0:4222", f"listen: 127.0.0.1:{client}")
        text = _replace(text, "http: 127.0.0.1:8222", f"http: 127.0.0.1:{monitor}")
        text = _replace(text, "store_dir: /data/jetstream", f"store_dir: {deploy / f'jetstream-{index}'}")
        text = _replace(text, "listen: 0.0.0.0:6222", f"listen: 127.0.0.1:{routes[index]}")
        for other, port in routes.items():
            text = _replace(text, f"nats-route://nats-{other}:6222", f"nats-route://127.0.0.1:{port}")
        self.conf.write_text(text)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [embedded_nats.nats_server_binary(), "-c", str(self.conf)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )

    def kill(self) -> None:
        """SIGKILL: no goodbye to the routes or the clients."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            test_security.stop_server(self)

    async def ready(self, session: aiohttp.ClientSession, *, timeout: float = 30) -> None:
        """Until the node's own health check says JetStream is current (monitoring port, loopback)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            assert self.process is not None and self.process.poll() is None, self.log.read_text()
            with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                async with session.get(f"http://127.0.0.1:{self.monitor_port}/healthz") as response:
                    if response.status == 200:
                        return
            assert asyncio.get_running_loop().time() < deadline, f"{self.name} not healthy: {self.log.read_text()[-2000:]}"
            await asyncio.sleep(0.2)

    async def client_names(self, session: aiohttp.ClientSession) -> list[str]:
        """Names of the clients connected to this node now (its /connz)."""
        async with session.get(f"http://127.0.0.1:{self.monitor_port}/connz") as response:
            body = await response.json()
        return [connection.get("name", "") for connection in body.get("connections") or []]


def start_nodes(deploy: pathlib.Path) -> dict[int, Node]:
    routes = {n: processes.free_port() for n in NODES}
    nodes = {
        n: Node(deploy, n, client=processes.free_port(), monitor=processes.free_port(), routes=routes) for n in NODES
    }
    for node in nodes.values():
        node.start()
    return nodes


class Replica:
    """One `centralcloud serve` process, preferring its own node and naming all three."""

    def __init__(self, index: int, *, env: dict[str, str], log: pathlib.Path) -> None:
        self.index = index
        self.env = env
        self.log = log
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "centralcloud", "serve", "--json-logs", env=self.env,
                stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log,
            )

    async def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        await self.process.wait()

    async def stop(self) -> int | None:
        if self.process is None or self.process.returncode is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            return None


def replica_env(
    *, index: int, nodes: dict[int, Node], deploy: pathlib.Path, database_url: str, data_dir: pathlib.Path,
    **extra: str,
) -> dict[str, str]:
    own_first = [nodes[index], *(node for n, node in nodes.items() if n != index)]
    env = {key: value for key, value in os.environ.items() if not key.startswith("CENTRALCLOUD_")}
    return env | {
        "CENTRALCLOUD_DATABASE_URL": database_url,
        # Several URLs, comma-separated: the replica's own node first, the others to fail over to.
        "CENTRALCLOUD_NATS_URL": ",".join(node.url for node in own_first),
        "CENTRALCLOUD_NATS_CREDENTIALS": str(credentials(deploy, auth.SERVICE)),
        "CENTRALCLOUD_DATA_DIR": str(data_dir / f"replica-{index}"),
        "CENTRALCLOUD_REPORTS_REPLICAS": "3",
        # Registries out of reach: the answers under load come from PostgreSQL and the caches.
        **{f"CENTRALCLOUD_{name}_URL": UNREACHABLE for name in (
            "NPM", "PYPI", "CRATES", "CRATES_INDEX", "HEX", "GITHUB", "OSV", "NPM_DOWNLOADS", "PYPI_DOWNLOADS",
        )},
    } | {f"CENTRALCLOUD_{key.upper()}": value for key, value in extra.items()}


async def service_ids(client: Any, *, wait: float = 0.5) -> set[str]:
    """Ids of the replicas answering $SRV.PING now (each replica answers once)."""
    inbox = client.new_inbox()
    found: set[str] = set()

    async def collect(msg: Any) -> None:
        if msg.data:  # not the server's empty "no responders" status
            found.add(json.loads(msg.data)["id"])

    subscription = await client.subscribe(inbox, cb=collect)
    await client.publish("$SRV.PING.centralcloud", b"", reply=inbox)
    await asyncio.sleep(wait)
    await subscription.unsubscribe()
    return found
