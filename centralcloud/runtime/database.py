"""The configured PostgreSQL, or the embedded one; and what the CLI does with it without the service."""

from __future__ import annotations

import contextlib
import datetime
import logging
from collections.abc import AsyncIterator

from centralcloud.core import clock
from centralcloud.runtime import config, embedded_postgres
from centralcloud.sources import osv_export
from centralcloud.store import advisories as store_advisories
from centralcloud.store import db, migrations

logger = logging.getLogger(__name__)


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
    database = await db.Database.connect(database_url, query_timeout=settings.database_timeout)
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

