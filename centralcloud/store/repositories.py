"""Source repositories (GitHub facts) and the packages that point at them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from centralcloud.core import clock, model
from centralcloud.store import db


async def validator(database: db.Executor, url: str) -> str | None:
    """The ETag stored with a repository, or None (unknown repository or none kept)."""
    row = await database.fetchrow("repository_validator", url)
    return row["etag"] if row else None


async def save_repository(database: db.Database, facts: model.RepositoryFacts, *, etag: str | None, url: str) -> int:
    return await database.fetchval(
        "upsert_repository",
        url,
        facts.host,
        facts.owner,
        facts.name,
        facts.description,
        facts.stars,
        facts.forks,
        facts.open_issues,
        clock.aware(facts.pushed_at),
        facts.archived,
        facts.disabled,
        facts.license,
        list(facts.topics),
        facts.default_branch,
        etag,
    )


async def touch(database: db.Executor, url: str) -> int | None:
    """Mark a repository checked and unchanged; its id, or None when it is not stored."""
    return await database.fetchval("touch_repository", url)


async def link(database: db.Executor, *, repository_id: int, url: str) -> None:
    """Point every package whose repository URL is `url` at the stored repository."""
    await database.execute("link_repository", repository_id, url)


async def stale_urls(
    database: db.Executor, refs: Iterable[tuple[str, str]], *, refreshed_before: dt.datetime
) -> list[str]:
    """Repository URLs of these packages whose facts are older than the cutoff."""
    refs = list(refs)
    rows = await database.fetch(
        "stale_repositories", [e for e, _ in refs], [n for _, n in refs], refreshed_before
    )
    return [row["repository_url"] for row in rows]


async def package_url(database: db.Executor, *, ecosystem: str, name: str) -> str | None:
    """The repository URL a package declares."""
    return await database.fetchval("package_repository_url", ecosystem, name)
