"""deploy/compose.yaml as a container would see it: each NATS node's configuration, laid out
where compose mounts it, is accepted by `nats-server -t`, and the topology is the one the
cluster test runs (3 nodes, PostgreSQL, 3 replicas, the secure configuration)."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
from typing import Any

import yaml

import cluster
from centralcloud.runtime import embedded_nats

COMPOSE = yaml.safe_load((cluster.DEPLOY / "compose.yaml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
NODES = [name for name in SERVICES if name.startswith("nats-")]
REPLICAS = [name for name in SERVICES if name.startswith("centralcloud-")]


def mount_root(service: dict[str, Any], root: pathlib.Path, deploy: pathlib.Path) -> None:
    """The service's bind mounts copied under `root` at their container paths; volumes as empty directories."""
    for mount in service["volumes"]:
        source, target = str(mount).split(":")[:2]
        inside = root / target.lstrip("/")
        if source.startswith("./"):
            origin = deploy / source
            assert origin.exists(), f"compose mounts {source}, which is not there"
            inside.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(origin, inside)
        else:
            assert source in COMPOSE["volumes"], f"{source} is neither a file nor a declared volume"
            inside.mkdir(parents=True, exist_ok=True)


def test_each_node_configuration_as_compose_mounts_it_passes_nats_server_check(tmp_path: pathlib.Path) -> None:
    deploy = cluster.make_deploy(tmp_path / "deploy")
    assert NODES == ["nats-1", "nats-2", "nats-3"]
    for name in NODES:
        service = SERVICES[name]
        root = tmp_path / "containers" / name
        mount_root(service, root, deploy)
        command = service["command"]
        config = root / command[command.index("-c") + 1].lstrip("/")
        text = config.read_text()
        assert f"server_name: {name}" in text
        # The store sits on the node's data volume, so streams outlive the container.
        assert "store_dir: /data/jetstream" in text and f"{name}-data:/data" in service["volumes"]
        result = subprocess.run(
            [embedded_nats.nats_server_binary(), "-t", "-c", str(config)], capture_output=True, text=True, timeout=10
        )
        assert result.returncode == 0, (name, result.stdout, result.stderr)


def test_compose_describes_the_tested_cluster() -> None:
    for name in NODES:
        service = SERVICES[name]
        # Only the client port leaves the container: not monitoring (8222), not the routes (6222).
        assert [str(port).rsplit(":", 1)[-1] for port in service.get("ports", [])] == ["4222"], name
        assert "127.0.0.1:8222" in " ".join(service["healthcheck"]["test"])
    assert SERVICES["postgres"]["image"].startswith("postgres:")
    assert len(REPLICAS) == 3
    nodes = {f"nats://{name}:4222" for name in NODES}
    for index, name in enumerate(REPLICAS, start=1):
        service = SERVICES[name]
        env = service["environment"]
        urls = env["CENTRALCLOUD_NATS_URL"].split(",")
        assert urls[0] == f"nats://nats-{index}:4222" and set(urls) == nodes, (name, urls)
        assert env["CENTRALCLOUD_NATS_CREDENTIALS"] == "/run/centralcloud/service"
        assert env["CENTRALCLOUD_REPORTS_REPLICAS"] == "3"
        assert env["CENTRALCLOUD_DATABASE_URL"].startswith("postgresql://")
        # The service's own credentials only; the rest of deploy/auth is hidden by a tmpfs.
        assert "./auth/service:/run/centralcloud/service:ro" in service["volumes"]
        assert {"type": "tmpfs", "target": "/src/deploy/auth"} in service["volumes"]
        assert "ports" not in service
