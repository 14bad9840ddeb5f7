"""Each loss and return of the NATS connection is logged once."""

from __future__ import annotations

import asyncio
import logging

import pytest

from centralcloud.runtime import embedded_nats, processes
from centralcloud.runtime import nats_options as nats_connection


async def test_disconnect_and_reconnect_are_logged_once_each(caplog: pytest.LogCaptureFixture) -> None:
    port = processes.free_port()
    server = embedded_nats.EmbeddedNats(host="127.0.0.1", port=port, data_dir=None)
    url = await server.start()
    events = nats_connection.ConnectionEvents()
    client = await nats_connection.connect_nats(url, events=events)
    try:
        with caplog.at_level(logging.INFO, logger="centralcloud.runtime.nats_options"):
            await server.stop()
            for _ in range(100):
                if not events.connected():
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)  # several reconnect attempts fail meanwhile
            server = embedded_nats.EmbeddedNats(host="127.0.0.1", port=port, data_dir=None)
            await server.start()
            for _ in range(200):
                if events.connected():
                    break
                await asyncio.sleep(0.05)
            await client.flush(timeout=2)
        assert events.connected() and events.last_error
        actions = [getattr(r, "action", None) for r in caplog.records]
        assert actions.count("nats_disconnect") == 1, actions
        assert actions.count("nats_reconnect") == 1, actions
    finally:
        await client.close()
        await server.stop()
