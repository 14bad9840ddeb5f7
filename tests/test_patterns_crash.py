"""A `centralcloud serve` process SIGKILLed in the middle of ingesting loses no report and a
restart counts none twice."""

from __future__ import annotations

import asyncio
import json
import pathlib
import signal
import urllib.parse
from typing import Any

import nats

from test_cli import serve_env, start_serve, stop_serve, wait_until_serving


async def test_sigkill_mid_ingest_loses_none_and_double_counts_none(
    database: Any, database_url: str, nats_url: str, tmp_path: pathlib.Path
) -> None:
    port = urllib.parse.urlsplit(nats_url).port
    assert port is not None
    env = serve_env(
        port=port, data_dir=tmp_path / "data", registry_url="http://127.0.0.1:9", database_url=database_url,
        sync_enabled="false", reports_ack_wait="2", pattern_recompute_seconds="1",
    )
    first = await start_serve(env)
    client = await nats.connect(nats_url)
    total = 2000
    try:
        await wait_until_serving(env, first)
        js = client.jetstream()
        for i in range(total):
            body = {"project": f"p{i}", "dependencies": [{"purl": f"pkg:npm/lib-{i % 11}@1.0.0"}, {"purl": f"pkg:cargo/crate-{i % 5}@0.1.0"}]}
            await js.publish(f"centralcloud.patterns.report.inst-{i % 40}", json.dumps(body).encode())
        for _ in range(600):
            done = await database.pool.fetchval("SELECT count(*) FROM reported_projects")
            if done >= 100:
                break
            await asyncio.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        await first.wait()
        at_kill = await database.pool.fetchval("SELECT count(*) FROM reported_projects")
        assert 0 < at_kill < total, f"the kill must land mid-ingest ({at_kill} of {total} stored)"

        second = await start_serve(env)
        try:
            for _ in range(1200):
                if await database.pool.fetchval("SELECT count(*) FROM reported_projects") == total:
                    break
                await asyncio.sleep(0.1)
            assert await database.pool.fetchval("SELECT count(*) FROM reported_projects") == total
            # Every project holds its two packages exactly once, whatever was redelivered; the
            # trend keeps one "added" per package and instance, noted by the recompute that follows.
            assert await database.pool.fetchval("SELECT count(*) FROM reported_dependencies") == 2 * total
            added = {(i % 40, f"lib-{i % 11}") for i in range(total)} | {(i % 40, f"crate-{i % 5}") for i in range(total)}
            for _ in range(300):
                if await database.pool.fetchval("SELECT count(*) FROM usage_events WHERE change = 'added'") >= len(added):
                    break
                await asyncio.sleep(0.1)
            assert await database.pool.fetchval("SELECT count(*) FROM usage_events WHERE change = 'added'") == len(added)
            assert await database.pool.fetchval("SELECT count(*) FROM usage_events WHERE change = 'dropped'") == 0
            assert await database.pool.fetchval("SELECT count(*) FROM rejected_reports") == 0
            info = await client.jetstream().consumer_info("CENTRALCLOUD_REPORTS", "centralcloud-reports")
            for _ in range(100):
                if info.num_ack_pending == 0 and info.num_pending == 0:
                    break
                await asyncio.sleep(0.1)
                info = await client.jetstream().consumer_info("CENTRALCLOUD_REPORTS", "centralcloud-reports")
            assert (info.num_ack_pending, info.num_pending) == (0, 0)
        finally:
            code, err = await stop_serve(second)
            assert code == 0, err[-2000:]
    finally:
        if first.returncode is None:
            first.kill()
            await first.wait()
        await client.close()
