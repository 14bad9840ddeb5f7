"""Forward-only numbered migrations, applied under an advisory lock.

Several replicas may start at the same moment: each takes the same session-level
advisory lock, so exactly one applies what is missing and the others then find
nothing left to do.
"""

from __future__ import annotations

import logging
import pathlib
import re

from centralcloud.core import errors
from centralcloud.store import db

logger = logging.getLogger(__name__)

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# An arbitrary constant that identifies "CentralCloud schema migration" among advisory locks.
MIGRATION_LOCK = 0x43_43_4D_49


def available() -> list[tuple[int, str, pathlib.Path]]:
    """Every migration file as (number, name, path), in order."""
    found = []
    for path in sorted((db.sql_dir() / "migrations").iterdir()):
        match = _FILE.match(path.name)
        if match:
            found.append((int(match.group(1)), match.group(2), path))
    numbers = [number for number, _, _ in found]
    if numbers != list(range(1, len(numbers) + 1)):
        raise errors.ConfigError(f"migrations must be numbered 1..n without gaps, found {numbers}")
    return found


async def migrate(database: db.Database) -> list[int]:
    """Apply every missing migration; return the numbers applied now."""
    applied_now: list[int] = []
    async with database.connection() as connection:
        await connection.execute("lock_migrations", MIGRATION_LOCK)
        try:
            await connection.execute("create_migrations_table")
            done = {row["version"] for row in await connection.fetch("list_migrations")}
            for number, name, path in available():
                if number in done:
                    continue
                async with database.transaction() as tx:
                    await tx.execute_script(path.read_text(encoding="utf-8"))
                    await tx.execute("record_migration", number, name)
                applied_now.append(number)
                logger.info("applied migration %04d_%s", number, name, extra={"action": "migrate", "version": number})
        finally:
            await connection.execute("unlock_migrations", MIGRATION_LOCK)
    return applied_now
