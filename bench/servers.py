"""What every benchmark starts: PostgreSQL and NATS, embedded unless URLs are given."""

from __future__ import annotations

import contextlib
import os
import pathlib
import tempfile

from centralcloud.runtime import embedded_nats, embedded_postgres
from centralcloud.store import db, migrations


async def database(stack: contextlib.AsyncExitStack, *, max_size: int = 10) -> db.Database:
    """A migrated database: CENTRALCLOUD_TEST_DATABASE_URL, or embedded PostgreSQL in a temporary directory."""
    dsn = os.environ.get("CENTRALCLOUD_TEST_DATABASE_URL")
    if not dsn:
        directory = pathlib.Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="centralcloud-bench-")))
        postgres = embedded_postgres.EmbeddedPostgres(data_dir=directory)
        dsn = await postgres.start()
        stack.push_async_callback(postgres.stop)
    connected = await db.Database.connect(dsn, max_size=max_size)
    stack.push_async_callback(connected.close)
    await migrations.migrate(connected)
    return connected


async def nats_url(stack: contextlib.AsyncExitStack) -> str:
    """CENTRALCLOUD_TEST_NATS_URL, or an embedded nats-server on a free port."""
    url = os.environ.get("CENTRALCLOUD_TEST_NATS_URL")
    if url:
        return url
    server = embedded_nats.EmbeddedNats(host="127.0.0.1", port=0, data_dir=None)
    url = await server.start()
    stack.push_async_callback(server.stop)
    return url
