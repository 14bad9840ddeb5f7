"""Package search: full-text over name, keywords and description, with typo matching where
the server offers pg_trgm."""

from __future__ import annotations

import re

from centralcloud.core import errors, names
from centralcloud.store import db, packages
from centralcloud.wire import messages


_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def query_terms(text: str) -> list[str]:
    """The words of a search query, safe to join into tsquery syntax."""
    return [word.lower() for word in _WORD.findall(text)][:16]


async def search(
    database: db.Database, *, query: str, ecosystem: str | None, limit: int, fuzzy: bool = False
) -> list[messages.SearchHit]:
    """Full-text matches (every word also as a prefix, so "djang" finds django); with `fuzzy`
    (pg_trgm installed), names within a typo or two fill the remaining places."""
    terms = query_terms(query)
    if not terms:
        return []
    prefixed = [f"{term}:*" for term in terms]
    rows = list(await database.fetch("search_packages", " | ".join(prefixed), " & ".join(terms), ecosystem, limit))
    if fuzzy and len(rows) < limit:
        seen = {(row["ecosystem"], row["name"]) for row in rows}
        extra = await database.fetch("search_packages_fuzzy", " ".join(terms), ecosystem, limit)
        rows += [row for row in extra if (row["ecosystem"], row["name"]) not in seen][: limit - len(rows)]
    return [
        messages.SearchHit(
            ecosystem=row["ecosystem"],
            name=row["name"],
            purl=names.to_purl(row["ecosystem"], row["name"]),
            description=row["description"],
            latest_version=row["latest_version"],
            licenses=list(row["licenses"]),
            repository_url=row["repository_url"],
            downloads=packages.downloads_info(row),
            stars=row["stars"],
            deprecated=row["deprecated"],
            score=round(float(row["rank"]), 6),
        )
        for row in rows
    ]


async def enable_fuzzy_search(database: db.Database) -> bool:
    """Install pg_trgm where the server offers it and we may; True when typo matching is available."""
    if await database.fetchval("trigram_installed"):
        return True
    if not await database.fetchval("trigram_available"):
        return False
    try:
        await database.execute("install_trigram")
    except errors.DatabaseError:
        return False  # e.g. not allowed to create extensions: search works without typo matching
    return bool(await database.fetchval("trigram_installed"))


