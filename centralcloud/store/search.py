"""Package search that stays fast as the store grows.

A query ranks a bounded set of candidates, never every match: in a registry, words such as
"web" or "http" occur in a large share of descriptions, and scoring all of those rows is what
made search slow. Candidates are the most popular packages matching every word as written
(or, when fewer than asked for do, any word or a word's beginning), plus exact name matches.
How to find the most popular matches depends on how common the words are, which ANALYZE's
lexeme statistics tell:

* common words: walk packages in popularity order and stop after enough matches;
* rarer words: read every match through the GIN index and keep the most popular.

A walk reads about candidates / share rows, the index about share * packages: each is far
cheaper on its own side of the crossover.

Typos in names are matched by pg_trgm where the server has it; elsewhere (embedded
PostgreSQL) by the in-memory index of `facts/name_index.py`, whose matches are read here.
"""

from __future__ import annotations

import bisect
import math
import re
import time
from typing import Any, Protocol

from centralcloud.core import ecosystems, errors, names
from centralcloud.store import db, packages
from centralcloud.wire import messages

_WORD = re.compile(r"[^\W_]+", re.UNICODE)

CANDIDATES = 50
"""Matches ranked per query at least (besides exact name matches); three per hit asked for above that.
Text relevance moves a package's rank by at most about twofold against the popularity prior,
so a package beyond the first few times `limit` by popularity rarely makes the top `limit`."""
STATISTICS_MAX_AGE = 600.0
"""Seconds the lexeme statistics are reused before being read again."""
LOOKUP_ROW_COST = 2.5
"""A row read through the index, in walked rows: a walk keeps rereading the most popular rows,
which stay in PostgreSQL's buffers, while matches of rarer words lie on pages read afresh."""
POSTING_COST_ALL = 0.02
"""A GIN posting of a word that must match, in walked rows (most are skipped)."""
POSTING_COST_ANY = 0.15
"""A GIN posting of a word or prefix that may match, in walked rows (all are merged)."""
RARE_SHARE = 0.0005
"""Share of packages assumed for a word the statistics do not list (they list the commonest)."""


def query_terms(text: str) -> list[str]:
    """The words of a search query, safe to join into tsquery syntax."""
    return [word.lower() for word in _WORD.findall(text)][:16]


def exact_names(text: str, terms: list[str]) -> list[str]:
    """Names a query may be spelling out: "body parser" may mean body-parser or bodyparser."""
    spelled = text.strip().lower()
    candidates = [spelled, "-".join(terms), "".join(terms), "_".join(terms), ".".join(terms)]
    return list(dict.fromkeys(name for name in candidates if name))


class LexemeStatistics:
    """How common each of the commonest lexemes is, to estimate how many packages a query matches."""

    def __init__(self, frequencies: dict[str, float], packages: int) -> None:
        self.lexemes = sorted(frequencies)
        self.frequencies = frequencies
        self.packages = packages
        self.floor = min(RARE_SHARE, min(frequencies.values(), default=RARE_SHARE))
        self.read_at = time.monotonic()

    @classmethod
    async def read(cls, database: db.Database) -> LexemeStatistics:
        row = await database.fetchrow("search_lexeme_frequencies")
        assert row is not None  # the query always returns one row
        return cls(dict(zip(row["lexemes"], row["frequencies"])), int(row["packages"] or 0))

    def share(self, term: str, *, prefix: bool) -> float:
        """Estimated share of packages holding `term`, or with `prefix` a word beginning with it.

        The english form of a word is its stem, usually a prefix of it ("libraries" ->
        "librari"), so listed lexemes that start a long enough part of the word count too.
        """
        total = 0.0
        if prefix:
            start = bisect.bisect_left(self.lexemes, term)
            for lexeme in self.lexemes[start:]:
                if not lexeme.startswith(term):
                    break
                total += self.frequencies[lexeme]
        else:
            total += self.frequencies.get(term, 0.0)
        for cut in range(len(term) - 1, max(len(term) - 3, 3), -1):
            total += self.frequencies.get(term[:cut], 0.0)
        return min(1.0, max(total, self.floor))

    def walk(self, terms: list[str], *, all_words: bool, candidates: int) -> bool:
        """True when walking in popularity order is cheaper than reading every match.

        Every word as written must match (`all_words`), or any word or its beginning. A walk
        reads about candidates / share rows. The index reads each word's postings, then every
        match (measured on PostgreSQL 15 at a million packages: 1.5 to 3 µs a walked row, 2 to
        5 µs a looked-up one, see LOOKUP_ROW_COST). GIN skips through the postings of common words
        when all must match, but merges every lexeme a prefix expands to. Words are taken as
        independent.
        """
        shares = [self.share(term, prefix=not all_words) for term in terms]
        share = math.prod(shares) if all_words else min(1.0, sum(shares))
        packages = max(self.packages, 1)
        walked = candidates / share
        posting = POSTING_COST_ALL if all_words else POSTING_COST_ANY
        looked_up = LOOKUP_ROW_COST * share * packages + posting * sum(shares) * packages
        return walked < looked_up


class NameMatcher(Protocol):
    """What finds names within a typo or two (facts/name_index.NameIndex)."""

    def match(self, text: str, *, ecosystem: str | None, limit: int) -> list[tuple[str, str, int]]: ...


class Searcher:
    """Runs searches on one database; keeps the lexeme statistics between queries."""

    def __init__(self, database: db.Database, *, candidates: int = CANDIDATES) -> None:
        self.database = database
        self.candidates = candidates
        """Matches ranked per query at least."""
        self._statistics: LexemeStatistics | None = None

    async def statistics(self) -> LexemeStatistics:
        if self._statistics is None or time.monotonic() - self._statistics.read_at > STATISTICS_MAX_AGE:
            self._statistics = await LexemeStatistics.read(self.database)
        return self._statistics

    async def search(
        self,
        *,
        query: str,
        ecosystem: str | None,
        limit: int,
        fuzzy: bool = False,
        name_index: NameMatcher | None = None,
    ) -> list[messages.SearchHit]:
        """Ranked hits: exact names first, then every word matched as written, then any word or
        its beginning ("djang" finds django); then names within a typo or two, through pg_trgm
        (`fuzzy`) or else the in-memory `name_index`."""
        terms = query_terms(query)
        if not terms:
            return []
        statistics = await self.statistics()
        searched = [ecosystem] if ecosystem else list(ecosystems.KEYS)
        candidates = max(self.candidates, 3 * limit)
        rows = []
        for all_words in (True, False):
            seen = {(row["ecosystem"], row["name"]) for row in rows}
            found = await self.database.fetch(
                "search_ranked",
                terms,
                all_words,
                statistics.walk(terms, all_words=all_words, candidates=candidates),
                ecosystem,
                candidates,
                exact_names(query, terms) if all_words else [],
                searched,
                limit,
            )
            rows += [row for row in found if (row["ecosystem"], row["name"]) not in seen][: limit - len(rows)]
            if len(rows) >= limit:
                break
        if len(rows) < limit:
            rows += await self._typos(query, terms, ecosystem=ecosystem, limit=limit, rows=rows, fuzzy=fuzzy,
                                      name_index=name_index)
        return [hit(row) for row in rows]

    async def _typos(
        self, query: str, terms: list[str], *, ecosystem: str | None, limit: int, rows: list, fuzzy: bool,
        name_index: NameMatcher | None,
    ) -> list:
        seen = {(row["ecosystem"], row["name"]) for row in rows}
        if fuzzy:
            extra = await self.database.fetch("search_packages_fuzzy", " ".join(terms), ecosystem, limit)
        elif name_index is not None:
            matches = name_index.match(query, ecosystem=ecosystem, limit=limit)
            if not matches:
                return []
            found = await self.database.fetch(
                "search_named", [e for e, _, _ in matches], [n for _, n, _ in matches]
            )
            distance = {(e, n): d for e, n, d in matches}
            # Nearest spelling first, then the more popular; the score stays below full-text hits.
            extra = sorted(found, key=lambda row: (distance[(row["ecosystem"], row["name"])], -row["rank"]))
            extra = [
                {**dict(row), "rank": row["rank"] * 0.1 / (1 + distance[(row["ecosystem"], row["name"])])}
                for row in extra
            ]
        else:
            return []
        return [row for row in extra if (row["ecosystem"], row["name"]) not in seen][: limit - len(rows)]


def hit(row: Any) -> messages.SearchHit:
    return messages.SearchHit(
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


async def all_names(database: db.Executor) -> list[tuple[str, str]]:
    """Every stored package's (ecosystem, name)."""
    return [(row["ecosystem"], row["name"]) for row in await database.fetch("search_all_names")]


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
