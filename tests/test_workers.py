"""`centralcloud serve --workers 2`: two processes answer, one sync leader, SIGTERM stops them all."""

from __future__ import annotations

import asyncio
import json
import pathlib

import nats
import psutil

from centralcloud.runtime import processes
from replay import Reply, ReplayServer
from test_cli import cli, leftovers, serve_env, start_serve, stop_serve, wait_until_serving


async def gather_replies(client: nats.NATS, subject: str, *, wait: float = 1.0) -> list[dict]:
    """Every reply to one request on `subject` (all service instances answer $SRV requests)."""
    inbox = client.new_inbox()
    replies: list[dict] = []

    async def collect(msg) -> None:
        replies.append(json.loads(msg.data))

    subscription = await client.subscribe(inbox, cb=collect)
    await client.publish(subject, b"", reply=inbox)
    await asyncio.sleep(wait)
    await subscription.unsubscribe()
    return replies


def requests_served(stats: dict, subject: str) -> int:
    return sum(e["num_requests"] for e in stats["endpoints"] if e["subject"] == subject)


async def test_two_workers_answer_one_leads_the_sync_and_sigterm_stops_both(tmp_path: pathlib.Path) -> None:
    port = processes.free_port()
    data_dir = tmp_path / "data"
    async with ReplayServer() as registry:
        # Slow enough that the run is still under way while every worker is asked to start one.
        registry.add("/slow-package", Reply.json({
            "name": "slow-package", "dist-tags": {"latest": "1.0.0"},
            "versions": {"1.0.0": {"name": "slow-package", "version": "1.0.0"}},
        }, delay=3))
        env = serve_env(port=port, data_dir=data_dir, registry_url=registry.url, workers="2")
        server = await start_serve(env)
        try:
            await wait_until_serving(env, server)
            children = psutil.Process(server.pid).children()
            assert len([c for c in children if "centralcloud.runtime.worker_main" in " ".join(c.cmdline())]) == 1
            client = await nats.connect(f"nats://127.0.0.1:{port}")
            try:
                for _ in range(40):  # until both have joined (the second starts after the first serves)
                    pings = await gather_replies(client, "$SRV.PING.centralcloud", wait=0.5)
                    if len({p["id"] for p in pings}) == 2:
                        break
                assert len({p["id"] for p in pings}) == 2, pings

                # Both answer: the queue group spreads 60 requests over the two processes.
                replies = await asyncio.gather(*(
                    client.request("centralcloud.sync.status", b"{}", timeout=10) for _ in range(60)
                ))
                assert all(not (r.headers or {}).get("Nats-Service-Error-Code") for r in replies)
                stats = await gather_replies(client, "$SRV.STATS.centralcloud")
                served = {s["id"]: requests_served(s, "centralcloud.sync.status") for s in stats}
                assert len(served) == 2 and all(count > 0 for count in served.values()), served
                assert sum(served.values()) >= 60

                # One leader: runs asked of both workers at once share the one under way.
                payload = json.dumps({"packages": [{"ecosystem": "npm", "name": "slow-package"}]}).encode()
                runs = [
                    json.loads(r.data) for r in await asyncio.gather(*(
                        client.request("centralcloud.sync.run", payload, timeout=10) for _ in range(24)
                    ))
                ]
                [leader] = [r["run"] for r in runs if r["started"]]
                # The others name the run under way, or say one is being started elsewhere.
                assert {r["run"] for r in runs} <= {leader, None}, runs
                stats = await gather_replies(client, "$SRV.STATS.centralcloud")
                assert all(requests_served(s, "centralcloud.sync.run") > 0 for s in stats), stats
            finally:
                await client.close()
            code, out, err = await cli("sync", "status", "--json", env=env)
            assert code == 0, err
            assert len(json.loads(out)["runs"]) == 1
        finally:
            if server.returncode is None:
                code, log = await stop_serve(server)
        assert code == 0, log
        assert "started 1 more service processes" in log
        assert leftovers(data_dir, port) == []
        for child in children:
            assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
