"""Runtime wiring for `centralcloud serve`: embedded servers, database, NATS, sources, service.

Everything is entered into one AsyncExitStack, so shutdown runs in reverse order of
start-up: stop taking requests, finish those in flight, close NATS, HTTP and the
database pool, then stop the embedded servers. SIGINT and SIGTERM start that shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import signal
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import nats

from centralcloud import (
    __version__, advisories, auth, cache, catalog, config, db, embedded, errors, migrations, schedule, service, store, sync,
)
from centralcloud.sources import base, cargo, github, hex as hexpm, npm, npm_audit, osv, pypi, registries

logger = logging.getLogger(__name__)


def http_policy(settings: config.Settings) -> base.HttpPolicy:
    agent = f"centralcloud/{__version__} (+package knowledge service"
    agent += f"; {settings.contact})" if settings.contact else ")"
    return base.HttpPolicy(timeout=settings.http_timeout, user_agent=agent)


def build_sources(settings: config.Settings, session: aiohttp.ClientSession) -> dict[str, base.Source]:
    """One adapter per ecosystem whose endpoint is known; a missing one is logged, not fatal."""
    policy = http_policy(settings)
    found: dict[str, base.Source] = {}
    makers: dict[str, tuple[Callable[[], str], Callable[[str], base.Source]]] = {
        "npm": (
            lambda: settings.npm_url or registries.npm_registry_url(),
            lambda url: npm.NpmSource(session=session, base_url=url, policy=policy),
        ),
        "pypi": (
            lambda: settings.pypi_url or registries.pypi_url(),
            lambda url: pypi.PypiSource(session=session, base_url=url, policy=policy),
        ),
        "cargo": (
            lambda: settings.crates_url or cargo.DEFAULT_API_URL,
            lambda url: cargo.CargoSource(
                session=session, base_url=url, policy=policy,
                index_url=settings.crates_index_url or cargo.DEFAULT_INDEX_URL,
            ),
        ),
        "hex": (
            lambda: settings.hex_url or hexpm.DEFAULT_URL,
            lambda url: hexpm.HexSource(
                session=session, base_url=url, policy=policy,
                api_key=settings.hex_api_key.get_secret_value() if settings.hex_api_key else None,
            ),
        ),
    }
    for ecosystem, (locate, make) in makers.items():
        try:
            url = locate()
        except errors.ConfigError as err:
            logger.warning("%s source disabled: %s", ecosystem, err.message, extra={"action": "configure", "ecosystem": ecosystem})
            continue
        found[ecosystem] = make(url)
    return found


def build_github(settings: config.Settings, session: aiohttp.ClientSession) -> github.GithubSource:
    token = settings.github_token.get_secret_value() if settings.github_token else None
    return github.GithubSource(
        session=session, base_url=settings.github_url or github.DEFAULT_URL, policy=http_policy(settings), token=token
    )


def build_osv(settings: config.Settings, session: aiohttp.ClientSession) -> osv.OsvSource:
    return osv.OsvSource(session=session, base_url=settings.osv_url or osv.DEFAULT_URL, policy=http_policy(settings))


def nats_host_port(url: str) -> tuple[str, int]:
    parsed = urllib.parse.urlsplit(url)
    return parsed.hostname or "127.0.0.1", parsed.port or 4222


async def run(
    settings: config.Settings, *, stop: asyncio.Event | None = None, ready: asyncio.Event | None = None
) -> None:
    """Serve until `stop` is set (or SIGINT/SIGTERM arrives)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    plan = schedule.Schedule(settings.sync_cron, timezone=settings.sync_timezone)  # fail before starting anything
    async with contextlib.AsyncExitStack() as stack:
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, stop.set)
                stack.callback(loop.remove_signal_handler, signum)

        database = await open_database(settings, stack)
        nats_url = settings.nats_url
        nats_options = auth.settings_connect_options(settings)
        if settings.use_embedded_nats:
            host, port = nats_host_port(settings.nats_url)
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            secure_config = None
            # Open on loopback for a no-setup start; anyone else who can reach it gets the roles.
            if settings.nats_secure or not auth.is_loopback(host):
                secure_config = auth.embedded_config(
                    auth_dir=settings.credentials_dir, store_dir=settings.data_dir / "nats",
                    server_name=embedded.NATS_SERVER_NAME,
                )
                nats_options = auth.settings_connect_options(
                    settings, credentials=auth.user_directory(settings.credentials_dir, role=auth.SERVICE)
                )
            server = embedded.EmbeddedNats(host=host, port=port, data_dir=settings.data_dir, config_file=secure_config)
            stack.push_async_callback(server.stop)
            nats_url = await server.start()
            logger.info("embedded nats-server listening on %s", nats_url, extra={"action": "start"})

        applied = await migrations.migrate(database)
        if applied:
            logger.info("migrations applied: %s", applied, extra={"action": "migrate"})

        client = await connect_nats(nats_url, options=nats_options)
        stack.push_async_callback(_close_nats, client)

        session = aiohttp.ClientSession()
        stack.push_async_callback(session.close)
        sources = build_sources(settings, session)

        the_catalog = catalog.Catalog(
            database=database,
            sources=sources,
            read_cache=cache.ReadCache(ttl=settings.cache_ttl, max_size=settings.cache_size),
            request_timeout=settings.request_timeout,
            github_source=build_github(settings, session),
            osv_source=build_osv(settings, session),
            npm_audit_source=(
                npm_audit.NpmAuditSource(session=session, base_url=sources["npm"].base_url, policy=http_policy(settings))
                if "npm" in sources else None
            ),
        )
        stack.push_async_callback(the_catalog.close)
        the_catalog.fuzzy_search = await store.enable_fuzzy_search(database)
        if not the_catalog.fuzzy_search:
            logger.info("pg_trgm is not available: search matches words and prefixes, not typos", extra={"action": "start"})

        job = sync.SyncJob(
            database=database,
            the_catalog=the_catalog,
            options=sync.Options(
                depth=settings.dependency_depth, retention=datetime.timedelta(days=settings.retention_days)
            ),
            publish=client.publish,
        )
        stack.push_async_callback(job.close)
        invalidations = await client.subscribe(sync.INVALIDATE_SUBJECT, cb=_invalidator(the_catalog))
        stack.push_async_callback(invalidations.unsubscribe)
        if settings.sync_enabled:
            scheduler = asyncio.create_task(job.scheduler(plan, stop))
            stack.push_async_callback(_cancel, scheduler)

        limits = service.Limits(max_request_bytes=settings.max_request_bytes, max_concurrency=settings.max_concurrency)
        handlers = service.Handlers(the_catalog, job)
        the_service = await service.start(
            client, handlers=handlers.table(), limits=limits, queue_group=settings.queue_group
        )
        stack.push_async_callback(service.stop, the_service, limits)
        logger.info(
            "centralcloud %s serving on %s (sources: %s)", __version__, nats_url, ", ".join(sorted(sources)) or "none",
            extra={"action": "serve"},
        )
        if ready is not None:
            ready.set()
        await stop.wait()
        logger.info("shutting down", extra={"action": "stop"})


def _invalidator(the_catalog: catalog.Catalog) -> Callable[[Any], Awaitable[None]]:
    """Drop this replica's cached answers when any replica's sync run ends (scores moved for all)."""

    async def on_message(msg: Any) -> None:
        await the_catalog.cache.clear()

    return on_message


async def _cancel(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def connect_nats(url: str, *, options: dict[str, Any] | None = None) -> nats.aio.client.Client:
    async def on_error(err: Exception) -> None:
        logger.warning("NATS: %s", err, extra={"action": "nats"})

    try:
        return await nats.connect(
            url, name="centralcloud", error_cb=on_error, max_reconnect_attempts=-1, connect_timeout=5,
            allow_reconnect=True, **(options or {}),
        )
    except Exception as err:
        raise errors.ConfigError(
            f"cannot connect to NATS at {url}: {err}; start a nats-server there or set CENTRALCLOUD_NATS_URL"
        ) from err


async def _close_nats(client: nats.aio.client.Client) -> None:
    with contextlib.suppress(Exception):
        await client.drain()
    with contextlib.suppress(Exception):
        await client.close()


async def open_database(settings: config.Settings, stack: contextlib.AsyncExitStack) -> db.Database:
    """The configured database, or embedded PostgreSQL in the data directory; closed with `stack`."""
    database_url = settings.database_url
    if settings.use_embedded_postgres:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        postgres = embedded.EmbeddedPostgres(data_dir=settings.data_dir)
        stack.push_async_callback(postgres.stop)
        database_url = await postgres.start()
        logger.info("embedded PostgreSQL ready in %s", settings.data_dir / "postgres", extra={"action": "start"})
    assert database_url is not None
    database = await db.Database.connect(database_url)
    stack.push_async_callback(database.close)
    return database


@contextlib.asynccontextmanager
async def local_database(settings: config.Settings, *, migrate: bool = True) -> AsyncIterator[db.Database]:
    """The configured (or embedded) database, for commands that work without the service."""
    async with contextlib.AsyncExitStack() as stack:
        database = await open_database(settings, stack)
        if migrate:
            await migrations.migrate(database)
        yield database


async def migrate_only(settings: config.Settings) -> list[int]:
    async with local_database(settings, migrate=False) as database:
        return await migrations.migrate(database)


async def import_advisories(settings: config.Settings, path: str) -> osv.ImportReport:
    """Load an OSV export (all.zip or a directory of OSV JSON files) into the database."""
    report = osv.ImportReport()
    async with local_database(settings) as database:
        for advisory in osv.iter_export(path, report=report, source="import"):
            await advisories.save(database, advisory)
    return report
