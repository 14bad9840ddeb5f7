"""Runtime wiring for `centralcloud serve`: embedded servers, database, NATS, sources, service.

Everything is entered into one AsyncExitStack, so shutdown runs in reverse order of
start-up: stop taking requests, finish those in flight, close NATS, HTTP and the
database pool, then stop the embedded servers. SIGINT and SIGTERM start that shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import gc
import logging
import pathlib
import signal
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import msgspec
import nats

from centralcloud import __version__
from centralcloud.answers import bundle
from centralcloud.answers import service as answers_service
from centralcloud.edge import endpoint, handlers, rates, streams
from centralcloud.facts import alerts, backfill, cache, catalog, health, knowledge, name_index
from centralcloud.jobs import runner as sync
from centralcloud.jobs import schedule
from centralcloud.runtime import auth, builders, config, credentials, embedded_nats, observe, workers
from centralcloud.runtime import database as local
from centralcloud.runtime import nats_options as nats_connection
from centralcloud.sources import http, npm_audit
from centralcloud.store import migrations, search
from centralcloud.wire import messages, subjects

logger = logging.getLogger(__name__)


async def start_embedded_nats(
    settings: config.Settings, stack: contextlib.AsyncExitStack
) -> tuple[str, dict[str, Any], pathlib.Path | None]:
    """The NATS URL to serve on, and how the service connects there: the embedded nats-server
    when there is one (with the roles of runtime/auth.py under `--secure` or when it listens
    beyond localhost), otherwise the configured URL with the configured credentials. Third: the
    service user's credentials when this process made them for a secure embedded server."""
    options = nats_connection.settings_connect_options(settings)
    if not settings.use_embedded_nats:
        return settings.nats_url, options, None
    host, port = nats_connection.nats_host_port(settings.nats_url)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    secure_config = service_credentials = None
    # Open on loopback for a no-setup start; anyone else who can reach it meets the roles.
    if settings.nats_secure or not credentials.is_loopback(host):
        secure_config = credentials.embedded_config(
            auth_dir=settings.credentials_dir, store_dir=settings.data_dir / "nats",
            server_name=embedded_nats.NATS_SERVER_NAME,
        )
        service_credentials = credentials.user_directory(settings.credentials_dir, role=auth.SERVICE)
        options = nats_connection.settings_connect_options(settings, credentials=service_credentials)
    server = embedded_nats.EmbeddedNats(host=host, port=port, data_dir=settings.data_dir, config_file=secure_config)
    stack.push_async_callback(server.stop)
    url = await server.start()
    logger.info("embedded nats-server listening on %s", url, extra={"action": "start", "secure": secure_config is not None})
    return url, options, service_credentials


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

        database = await local.open_database(settings, stack)
        nats_url, nats_options, service_credentials = await start_embedded_nats(settings, stack)

        applied = await migrations.migrate(database)
        if applied:
            logger.info("migrations applied: %s", applied, extra={"action": "migrate"})

        events = nats_connection.ConnectionEvents()
        client = await nats_connection.connect_nats(nats_url, events=events, options=nats_options)
        stack.push_async_callback(nats_connection.close_nats, client)

        # No shared cap: each source bounds its own connections (a hanging one holds only its own).
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        stack.push_async_callback(session.close)
        sources = builders.build_sources(settings, session)

        the_catalog = catalog.Catalog(
            database=database,
            sources=sources,
            read_cache=cache.ReadCache(ttl=settings.cache_ttl, max_size=settings.cache_size),
            request_timeout=settings.request_timeout,
            github_source=builders.build_github(settings, session),
            osv_source=builders.build_osv(settings, session),
            npm_audit_source=(
                npm_audit.NpmAuditSource(session=session, base_url=sources["npm"].base_url, policy=builders.http_policy(settings))
                if "npm" in sources else None
            ),
            advisories_freshness=settings.advisories_freshness_hours * 3600,
            trust_imported_advisories=settings.advisories_from_imports,
            max_background_fetches=settings.background_fetches_per_source,
        )
        stack.push_async_callback(the_catalog.close)
        the_catalog.fuzzy_search = await search.enable_fuzzy_search(database)
        if not the_catalog.fuzzy_search:
            the_catalog.names = await name_index.NameIndex.load(database)
            logger.info("pg_trgm is not available: typos in names are matched in memory (%d names)",
                        len(the_catalog.names), extra={"action": "start"})

        the_knowledge, the_alerts = await start_patterns(settings, client, the_catalog, stack, stop)
        job = sync.SyncJob(
            database=database,
            the_catalog=the_catalog,
            options=sync.Options(
                depth=settings.dependency_depth, retention=datetime.timedelta(days=settings.retention_days),
                not_found_for=datetime.timedelta(days=settings.not_found_days), max_unknown=settings.sync_max_unknown,
            ),
            publish=client.publish,
            download_sources=builders.build_download_sources(settings, session),
            knowledge=the_knowledge,
            alerts=the_alerts,
        )
        stack.push_async_callback(job.close)
        invalidations = await client.subscribe(subjects.CACHE_INVALIDATE.name, cb=_invalidator(the_catalog))
        stack.push_async_callback(invalidations.unsubscribe)
        if settings.sync_enabled:
            scheduler = asyncio.create_task(job.scheduler(plan, stop))
            stack.push_async_callback(_cancel, scheduler)

        the_answers = bundle.build(
            the_catalog,
            options=answers_service.Options(
                deadline=settings.request_timeout, min_age_days=settings.recommend_min_age_days,
                python=settings.default_python,
            ),
            discovery_deadline=settings.discovery_timeout,
            min_plugins=settings.framework_min_plugins,
        )
        stack.push_async_callback(the_answers.close)
        checks = health.Health(
            database=database, sources=watched_sources(the_catalog), nats=events,
        )
        limits = endpoint.Limits(
            max_request_bytes=settings.max_request_bytes, max_concurrency=settings.max_concurrency,
            deadline=settings.request_deadline, queue_wait=settings.queue_wait,
        )
        table = handlers.Handlers(
            the_catalog, job, the_answers, the_knowledge, checks=checks,
            request_rate=rates.Buckets(per_minute=settings.request_rate_per_minute, burst=settings.request_burst),
        )
        the_service = await endpoint.start(
            client, handlers=table.table(), cached=table.cached_table(), limits=limits, queue_group=settings.queue_group
        )
        stack.push_async_callback(endpoint.stop, the_service, limits)
        if settings.health_http:
            runner = await observe.serve(
                settings.health_http, checks=checks, endpoint_stats=lambda: endpoint.stats(the_service)
            )
            stack.push_async_callback(runner.cleanup)
        if settings.workers > 1:
            # Stopped first on the way out: before this process's servers go. Under a secure
            # embedded nats-server the workers connect as the service user, as this process does.
            handed = settings if service_credentials is None else settings.model_copy(
                update={"nats_credentials": service_credentials}
            )
            others = await workers.Workers.start(
                handed, count=settings.workers - 1, database_url=database.dsn, nats_url=nats_url, json_logs=json_logs
            )
            stack.push_async_callback(others.stop)
        # What startup made lives as long as the service: out of the collector's sight, a full collection
        # walks only what requests made (it was the slowest tail of an answer: 34 ms against 17 at p95).
        gc.freeze()
        stack.callback(gc.unfreeze)
        logger.info(
            "centralcloud %s serving on %s (sources: %s)", __version__, nats_url, ", ".join(sorted(sources)) or "none",
            extra={"action": "serve"},
        )
        if ready is not None:
            ready.set()
        await stop.wait()
        logger.info("shutting down", extra={"action": "stop"})


def stream_settings(settings: config.Settings) -> streams.Settings:
    return streams.Settings(
        replicas=settings.reports_replicas, max_age=settings.reports_max_age_days * 86400,
        max_bytes=settings.reports_max_bytes, duplicate_window=settings.reports_duplicate_window,
        alerts_max_age=settings.alerts_max_age_days * 86400, ack_wait=settings.reports_ack_wait,
        max_attempts=settings.reports_max_attempts,
    )


async def start_patterns(
    settings: config.Settings, client: nats.aio.client.Client, the_catalog: catalog.Catalog,
    stack: contextlib.AsyncExitStack, stop: asyncio.Event,
) -> tuple[knowledge.Knowledge, alerts.Alerts]:
    """The report streams, the shared report consumer and what follows a report (issue 8)."""
    js = client.jetstream()
    options = stream_settings(settings)
    await streams.ensure_streams(js, options)
    fetcher = backfill.Backfill(the_catalog=the_catalog, rate=settings.pattern_fetch_rate)
    the_alerts = alerts.Alerts(database=the_catalog.database, checks=the_catalog.checks, publish=streams.AlertPublisher(js))
    stack.push_async_callback(the_alerts.close)
    the_knowledge = knowledge.Knowledge(
        database=the_catalog.database, read_cache=the_catalog.cache,
        settings=knowledge.Settings(min_instances=settings.pattern_min_instances),
        fetch_unknown=fetcher.add, on_stored=the_alerts.for_project, broadcast=_broadcaster(client),
    )
    stack.push_async_callback(the_knowledge.close)
    consumer = streams.ReportConsumer(js=js, the_knowledge=the_knowledge, settings=options)
    for work in (
        consumer.run(stop), fetcher.run(stop),
        the_knowledge.recompute_when_dirty(interval=settings.pattern_recompute_seconds, stop=stop),
    ):
        stack.push_async_callback(_cancel, asyncio.create_task(work))
    return the_knowledge, the_alerts


def _invalidator(the_catalog: catalog.Catalog) -> Callable[[Any], Awaitable[None]]:
    """Drop this replica's cached answers when any replica's sync run ends (scores moved for
    all), or one group of them when that group's data moved (the pattern aggregates)."""
    decoder = msgspec.json.Decoder(messages.CacheInvalidation)

    async def on_message(msg: Any) -> None:
        try:
            wanted = decoder.decode(msg.data)
        except msgspec.DecodeError:
            wanted = messages.CacheInvalidation(all=True)  # unreadable: dropping all is always safe
        if wanted.group is not None and not wanted.all:
            await the_catalog.cache.invalidate_group(wanted.group)
        else:
            await the_catalog.cache.clear()

    return on_message


def _broadcaster(client: nats.aio.client.Client) -> Callable[[str], Awaitable[None]]:
    """Tell every replica (this one included) to drop a cache group."""

    async def broadcast(group: str) -> None:
        await client.publish(subjects.CACHE_INVALIDATE.name, msgspec.json.encode(messages.CacheInvalidation(group=group)))

    return broadcast


async def _cancel(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def watched_sources(the_catalog: catalog.Catalog) -> dict[str, http.HttpSource]:
    """Every source health reports on: the registries, then GitHub and the advisory sources."""
    found: dict[str, http.HttpSource] = dict(the_catalog.sources)
    for side in (the_catalog.repositories.github, the_catalog.checks.osv, the_catalog.checks.npm_audit):
        if side is not None:
            found.setdefault(side.name, side)
    return found


