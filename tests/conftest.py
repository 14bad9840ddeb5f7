"""Real PostgreSQL and a real nats-server for every test that needs them.

Where they come from, in order of preference: URLs from the environment
(CENTRALCLOUD_TEST_DATABASE_URL, CENTRALCLOUD_TEST_NATS_URL); containers through
testcontainers where a Docker engine answers; otherwise the embedded servers the
service itself uses. Each test gets its own database, cloned from a migrated template,
and (unless a URL is given) its own nats-server on a free port.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import tempfile
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Iterator

import aiohttp
import asyncpg
import pytest

import replay

from centralcloud.runtime import embedded_nats, embedded_postgres
from centralcloud.store import db, migrations


def docker_available() -> bool:
    if os.environ.get("CENTRALCLOUD_TEST_NO_DOCKER") == "1":
        return False
    if not (os.environ.get("DOCKER_HOST") or pathlib.Path("/var/run/docker.sock").exists()):
        return False
    try:
        import docker

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


@pytest.fixture(scope="session")
def docker() -> bool:
    return docker_available()


@pytest.fixture(scope="session")
async def postgres_server(docker: bool) -> AsyncIterator[str]:
    """A DSN for a server where the tests may create and drop databases."""
    url = os.environ.get("CENTRALCLOUD_TEST_DATABASE_URL")
    if url:
        yield url
        return
    if docker:
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:17-alpine", driver=None) as container:
            yield container.get_connection_url()
        return
    with tempfile.TemporaryDirectory(prefix="centralcloud-test-pg-") as directory:
        server = embedded_postgres.EmbeddedPostgres(data_dir=pathlib.Path(directory))
        dsn = await server.start()
        try:
            yield dsn
        finally:
            await server.stop()


def with_database(dsn: str, database: str) -> str:
    parts = urllib.parse.urlsplit(dsn)
    return urllib.parse.urlunsplit(parts._replace(path="/" + database))


@pytest.fixture(scope="session")
async def template_database(postgres_server: str) -> AsyncIterator[str]:
    """A migrated database that every test's database is cloned from."""
    name = f"cc_template_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(postgres_server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        database = await db.Database.connect(with_database(postgres_server, name))
        try:
            await migrations.migrate(database)
        finally:
            await database.close()
        yield name
    finally:
        with contextlib.suppress(Exception):
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def database_url(postgres_server: str, template_database: str) -> AsyncIterator[str]:
    """A fresh, migrated database of this test's own."""
    name = f"cc_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
        yield with_database(postgres_server, name)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def empty_database_url(postgres_server: str) -> AsyncIterator[str]:
    """A fresh database with no schema at all."""
    name = f"cc_empty_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield with_database(postgres_server, name)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[db.Database]:
    connection = await db.Database.connect(database_url)
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
async def nats_url(docker: bool) -> AsyncIterator[str]:
    """A NATS server with JetStream, this test's own unless one is given by URL."""
    url = os.environ.get("CENTRALCLOUD_TEST_NATS_URL")
    if url:
        yield url
        return
    if docker:
        from testcontainers.core.container import DockerContainer
        from testcontainers.core.waiting_utils import wait_for_logs

        container = DockerContainer("nats:2.11-alpine").with_command("-js").with_exposed_ports(4222)
        with container:
            wait_for_logs(container, "Server is ready")
            yield f"nats://{container.get_container_host_ip()}:{container.get_exposed_port(4222)}"
        return
    server = embedded_nats.EmbeddedNats(host="127.0.0.1", port=0, data_dir=None)
    started = await server.start()
    try:
        yield started
    finally:
        await server.stop()


@pytest.fixture
async def server() -> AsyncIterator[replay.ReplayServer]:
    """A local HTTP server replaying saved registry responses."""
    async with replay.ReplayServer() as running:
        yield running


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
def fixtures_dir() -> Iterator[pathlib.Path]:
    yield pathlib.Path(__file__).parent / "fixtures"
