"""Runtime wiring for `centralcloud serve`: embedded servers, database, NATS, sources, service.

Everything is entered into one AsyncExitStack, so shutdown runs in reverse order of
start-up: stop taking requests, finish those in flight, close NATS, HTTP and the
database pool, then stop the embedded servers. SIGINT and SIGTERM start that shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import importlib
import logging
import signal
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import nats

from centralcloud import __version__
from centralcloud.core import clock, ecosystems, errors
from centralcloud.edge import endpoint, handlers
from centralcloud.facts import cache, catalog
from centralcloud.jobs import downloads
from centralcloud.jobs import runner as sync
from centralcloud.jobs import schedule
from centralcloud.runtime import config, embedded_nats, embedded_postgres, workers
from centralcloud.sources import base, github, http, npm_audit, npm_downloads, osv, osv_export, pypistats
from centralcloud.store import advisories as store_advisories
from centralcloud.store import db, migrations, search
from centralcloud.wire import subjects

logger = logging.getLogger(__name__)


def http_policy(settings: config.Settings) -> http.HttpPolicy:
    agent = f"centralcloud/{__version__} (+package knowledge service"
    agent += f"; {settings.contact})" if settings.contact else ")"
    return http.HttpPolicy(timeout=settings.http_timeout, user_agent=agent)


def build_sources(settings: config.Settings, session: aiohttp.ClientSession) -> dict[str, base.Source]:
    """One adapter per ecosystem whose endpoint is known; a missing one is logged, not fatal."""
    policy = http_policy(settings)
    found: dict[str, base.Source] = {}
    for description in ecosystems.ALL:
        module, _, name = description.adapter.partition(":")
        adapter: type[base.Source] = getattr(importlib.import_module(f"centralcloud.sources.{module}"), name)
        try:
            found[description.key] = adapter.configured(settings=settings, session=session, policy=policy)
        except errors.ConfigError as err:
            logger.warning(
                "%s source disabled: %s", description.key, err.message,
                extra={"action": "configure", "ecosystem": description.key},
            )
    return found


def build_github(settings: config.Settings, session: aiohttp.ClientSession) -> github.GithubSource:
    token = settings.github_token.get_secret_value() if settings.github_token else None
    return github.GithubSource(
        session=session, base_url=settings.github_url or github.DEFAULT_URL, policy=http_policy(settings), token=token
    )


def build_osv(settings: config.Settings, session: aiohttp.ClientSession) -> osv.OsvSource:
    return osv.OsvSource(session=session, base_url=settings.osv_url or osv.DEFAULT_URL, policy=http_policy(settings))


def build_download_sources(settings: config.Settings, session: aiohttp.ClientSession) -> downloads.Sources:
    policy = http_policy(settings)
    return downloads.Sources(
        npm=npm_downloads.NpmDownloadsSource(
            session=session, base_url=settings.npm_downloads_url or npm_downloads.DEFAULT_URL, policy=policy
        ),
        pypi=pypistats.PypiStatsSource(
            session=session, base_url=settings.pypi_downloads_url or pypistats.DEFAULT_URL, policy=policy,
            budget=settings.pypi_downloads_budget,
        ) if settings.pypi_downloads_enabled else None,
    )


def nats_host_port(url: str) -> tuple[str, int]:
    parsed = urllib.parse.urlsplit(url)
    return parsed.hostname or "127.0.0.1", parsed.port or 4222


async def run(
    settings: config.Settings, *, stop: asyncio.Event | None = None, ready: asyncio.Event | None = None,
    json_logs: bool = False,
) -> None:
    """Serve until `stop` is set (or SIGINT/SIGTERM arrives), with `settings.workers - 1` more processes."""
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
        if settings.use_embedded_nats:
            host, port = nats_host_port(settings.nats_url)
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            server = embedded_nats.EmbeddedNats(host=host, port=port, data_dir=settings.data_dir)
            stack.push_async_callback(server.stop)
            nats_url = await server.start()
            logger.info("embedded nats-server listening on %s", nats_url, extra={"action": "start"})

        applied = await migrations.migrate(database)
        if applied:
            logger.info("migrations applied: %s", applied, extra={"action": "migrate"})

        client = await connect_nats(nats_url)
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
            advisories_freshness=settings.advisories_freshness_hours * 3600,
            trust_imported_advisories=settings.advisories_from_imports,
        )
        stack.push_async_callback(the_catalog.close)
        the_catalog.fuzzy_search = await search.enable_fuzzy_search(database)
        if not the_catalog.fuzzy_search:
            logger.info("pg_trgm is not available: search matches words and prefixes, not typos", extra={"action": "start"})

        job = sync.SyncJob(
            database=database,
            the_catalog=the_catalog,
            options=sync.Options(
                depth=settings.dependency_depth, retention=datetime.timedelta(days=settings.retention_days)
            ),
            publish=client.publish,
            download_sources=build_download_sources(settings, session),
        )
        stack.push_async_callback(job.close)
        invalidations = await client.subscribe(subjects.CACHE_INVALIDATE.name, cb=_invalidator(the_catalog))
        stack.push_async_callback(invalidations.unsubscribe)
        if settings.sync_enabled:
            scheduler = asyncio.create_task(job.scheduler(plan, stop))
            stack.push_async_callback(_cancel, scheduler)

        limits = endpoint.Limits(max_request_bytes=settings.max_request_bytes, max_concurrency=settings.max_concurrency)
        the_service = await endpoint.start(
            client, handlers=handlers.Handlers(the_catalog, job).table(), limits=limits, queue_group=settings.queue_group
        )
        stack.push_async_callback(endpoint.stop, the_service, limits)
        if settings.workers > 1:
            # Stopped first on the way out: before this process's servers go.
            others = await workers.Workers.start(
                settings, count=settings.workers - 1, database_url=database.dsn, nats_url=nats_url, json_logs=json_logs
            )
            stack.push_async_callback(others.stop)
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


async def connect_nats(url: str) -> nats.aio.client.Client:
    async def on_error(err: Exception) -> None:
        logger.warning("NATS: %s", err, extra={"action": "nats"})

    try:
        return await nats.connect(
            url, name="centralcloud", error_cb=on_error, max_reconnect_attempts=-1, connect_timeout=5,
            allow_reconnect=True,
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
        postgres = embedded_postgres.EmbeddedPostgres(data_dir=settings.data_dir)
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


async def import_advisories(settings: config.Settings, path: str) -> osv_export.ImportReport:
    """Load an OSV export (all.zip or a directory of OSV JSON files) into the database."""
    report = osv_export.ImportReport()
    # Per ecosystem: the newest record's date stands for the export's date, and how many were read.
    covered: dict[str, tuple[datetime.datetime, int]] = {}
    async with local_database(settings) as database:
        for advisory in osv_export.iter_export(path, report=report, source="import"):
            await store_advisories.save(database, advisory)
            stamp = clock.aware(advisory.modified or advisory.published)
            for ecosystem in {affected.ecosystem for affected in advisory.affected}:
                newest, count = covered.get(ecosystem, (None, 0))
                if stamp is not None and (newest is None or stamp > newest):
                    newest = stamp
                covered[ecosystem] = (newest, count + 1)
        for ecosystem, (newest, count) in covered.items():
            if newest is not None:
                await store_advisories.record_import(database, ecosystem=ecosystem, as_of=newest, records=count)
    return report
