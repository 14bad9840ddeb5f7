"""The optional HTTP side (CENTRALCLOUD_HEALTH_HTTP): /healthz and /metrics of a running service."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import nats
import pytest
from prometheus_client import parser as prometheus_parser

import test_patterns_service
from centralcloud.runtime import embedded_nats, processes

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


async def get(session: aiohttp.ClientSession, url: str) -> tuple[int, str, str]:
    async with session.get(url) as response:
        return response.status, response.headers.get("Content-Type", ""), await response.text()


def components(body: str) -> dict[str, str]:
    return {c["name"]: c["state"] for c in json.loads(body)["components"]}


async def test_healthz_and_metrics_answer_and_healthz_follows_a_stopped_nats(database_url: str, tmp_path) -> None:
    nats_port, http_port = processes.free_port(), processes.free_port()
    server = embedded_nats.EmbeddedNats(host="127.0.0.1", port=nats_port, data_dir=tmp_path / "nats")
    nats_url = await server.start()
    base = f"http://127.0.0.1:{http_port}"
    serving = test_patterns_service.service(
        database_url, nats_url, health_http=f"127.0.0.1:{http_port}", pattern_recompute_seconds=30
    )
    async with serving, aiohttp.ClientSession() as session:
        client = await nats.connect(nats_url)
        try:
            for _ in range(3):  # something for the request counters
                await client.request("centralcloud.packages.get", b'{"ecosystem": "npm", "name": "../x"}', timeout=5)
        finally:
            await client.close()

        status, _, body = await get(session, f"{base}/healthz")
        assert status == 200, body
        assert components(body)["postgresql"] == "up" and components(body)["nats"] == "up"

        status, content_type, text = await get(session, f"{base}/metrics")
        assert status == 200 and content_type.startswith("text/plain"), content_type
        families = {family.name: family for family in prometheus_parser.text_string_to_metric_families(text)}
        requests = {s.labels["subject"]: s.value for s in families["centralcloud_requests"].samples if s.name.endswith("_total")}
        errors = {s.labels["subject"]: s.value for s in families["centralcloud_request_errors"].samples if s.name.endswith("_total")}
        assert requests["centralcloud.packages.get"] == 3 and errors["centralcloud.packages.get"] == 3
        states = {
            (s.labels["name"], s.labels["state"]): s.value for s in families["centralcloud_dependency_state"].samples
        }
        assert states[("postgresql", "up")] == 1.0 and states[("nats", "up")] == 1.0 and states[("nats", "down")] == 0.0

        await server.stop()
        status, _, body = await get(session, f"{base}/healthz")
        assert status == 503, body
        assert json.loads(body)["state"] == "down" and components(body)["nats"] == "down"
        assert components(body)["postgresql"] == "up"
        _, _, text = await get(session, f"{base}/metrics")
        states = {
            (s.labels["name"], s.labels["state"]): s.value
            for family in prometheus_parser.text_string_to_metric_families(text)
            if family.name == "centralcloud_dependency_state" for s in family.samples
        }
        assert states[("nats", "down")] == 1.0

        # The same server back on the same port: the service reconnects and health follows.
        server = embedded_nats.EmbeddedNats(host="127.0.0.1", port=nats_port, data_dir=tmp_path / "nats")
        await server.start()
        for _ in range(50):
            status, _, body = await get(session, f"{base}/healthz")
            if status == 200:
                break
            await asyncio.sleep(0.2)
        assert status == 200 and components(body)["nats"] == "up", body
    await server.stop()
