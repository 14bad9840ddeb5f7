"""Package search that stays fast as the store grows, and typo tolerance without pg_trgm.

A query ranks a bounded set of candidates, never every match: in a registry, words such as
"web" or "http" occur in a large share of descriptions, and scoring all of those rows is what
made search slow. Candidates are the most popular packages matching every word (or, when
fewer than asked for do, any word), plus exact name matches. How to find the most popular
matches depends on how common the words are, which ANALYZE's lexeme statistics tell:

* common words: walk packages in popularity order and stop after enough matches;
* rarer words: read every match through the GIN index and keep the most popular.

Each costs about as many rows as the other at the crossover, and far fewer on its own side.

Where pg_trgm is missing (embedded PostgreSQL), `NameIndex` keeps every package name in
memory and finds names within an edit or two of the query with rapidfuzz.
"""

from __future__ import annotations

import bisect
import math
import re
import time
from collections import defaultdict
from collections.abc import Iterable

from rapidfuzz import process
from rapidfuzz.distance import OSA

from centralcloud import db, messages, names

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
ECOSYSTEMS = ["npm", "pypi", "cargo", "hex"]

CANDIDATES = 200
"""Matches ranked per query at most (besides exact name matches)."""
STATISTICS_MAX_AGE = 600.0
"""Seconds the lexeme statistics are reused before being read again."""
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

    def share(self, term: str) -> float:
        """Estimated share of packages matching `term` as a prefix (the way search matches words).

        The english form of a word is its stem, usually a prefix of it ("libraries" ->
        "librari"), so listed lexemes that start a long enough part of the word count too.
        """
        start = bisect.bisect_left(self.lexemes, term)
        total = 0.0
        for lexeme in self.lexemes[start:]:
            if not lexeme.startswith(term):
                break
            total += self.frequencies[lexeme]
        for cut in range(len(term) - 1, max(len(term) - 3, 3), -1):
            total += self.frequencies.get(term[:cut], 0.0)
        return min(1.0, max(total, self.floor))

    def walk(self, terms: list[str], *, all_words: bool, candidates: int) -> bool:
        """True when walking in popularity order is cheaper than reading every match.

        A walk reads about candidates / share rows; the index reads share * packages rows.
        Words are taken as independent.
        """
        shares = [self.share(term) for term in terms]
        share = math.prod(shares) if all_words else min(1.0, sum(shares))
        return candidates / share < share * max(self.packages, 1)


class Searcher:
    """Runs searches on one database; keeps the lexeme statistics between queries."""

    def __init__(self, database: db.Database, *, candidates: int = CANDIDATES) -> None:
        self.database = database
        self.candidates = candidates
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
        name_index: NameIndex | None = None,
    ) -> list[messages.SearchHit]:
        """Ranked hits: exact names first, then every word matched, then any word; then names
        within a typo or two, through pg_trgm (`fuzzy`) or else the in-memory `name_index`."""
        terms = query_terms(query)
        if not terms:
            return []
        statistics = await self.statistics()
        searched = [ecosystem] if ecosystem else ECOSYSTEMS
        rows = []
        for all_words in (True, False):
            if len(terms) == 1 and not all_words:
                break  # one word: "any" is "all"
            seen = {(row["ecosystem"], row["name"]) for row in rows}
            found = await self.database.fetch(
                "search_ranked",
                terms,
                all_words,
                statistics.walk(terms, all_words=all_words, candidates=self.candidates),
                ecosystem,
                self.candidates,
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
        name_index: NameIndex | None,
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


def hit(row: object) -> messages.SearchHit:
    return messages.SearchHit(
        ecosystem=row["ecosystem"],  # type: ignore[index]
        name=row["name"],  # type: ignore[index]
        purl=names.to_purl(row["ecosystem"], row["name"]),  # type: ignore[index]
        description=row["description"],  # type: ignore[index]
        latest_version=row["latest_version"],  # type: ignore[index]
        licenses=list(row["licenses"]),  # type: ignore[index]
        repository_url=row["repository_url"],  # type: ignore[index]
        downloads=row["downloads"],  # type: ignore[index]
        stars=row["stars"],  # type: ignore[index]
        deprecated=row["deprecated"],  # type: ignore[index]
        score=round(float(row["rank"]), 6),  # type: ignore[index]
    )


def allowed_edits(text: str) -> int:
    """Typos forgiven in a name of this length: none in very short names, where one edit
    reaches too many others; a transposition counts as one."""
    if len(text) <= 3:
        return 0
    return 1 if len(text) <= 5 else 2


class NameIndex:
    """Every package name in memory, grouped by length, for typo-tolerant lookups.

    A name within k edits of the query differs in length by at most k, so a lookup compares
    the query with the names of nearby lengths only, with rapidfuzz's bit-parallel
    optimal-string-alignment distance (a swap of neighbours is one edit: "djnago" -> django).
    """

    def __init__(self) -> None:
        self._names: dict[int, list[str]] = defaultdict(list)
        self._stored: dict[int, list[str]] = defaultdict(list)
        self._ecosystems: dict[int, list[str]] = defaultdict(list)
        self._known: set[tuple[str, str]] = set()

    @classmethod
    async def load(cls, database: db.Database) -> NameIndex:
        index = cls()
        index.update((row["ecosystem"], row["name"]) for row in await database.fetch("search_all_names"))
        return index

    def __len__(self) -> int:
        return len(self._known)

    def update(self, packages: Iterable[tuple[str, str]]) -> None:
        """Add packages (ecosystem, name); those already known are skipped."""
        for ecosystem, name in packages:
            if (ecosystem, name) in self._known:
                continue
            self._known.add((ecosystem, name))
            key = name.lower()
            if key == name:
                key = name  # one string object for both lists: most names are lower case already
            self._names[len(key)].append(key)
            self._stored[len(key)].append(name)
            # Ecosystem strings are shared, so each entry costs a pointer.
            self._ecosystems[len(key)].append(_ECOSYSTEM_NAMES.get(ecosystem, ecosystem))

    def add(self, *, ecosystem: str, name: str) -> None:
        self.update([(ecosystem, name)])

    def match(self, text: str, *, ecosystem: str | None, limit: int) -> list[tuple[str, str, int]]:
        """(ecosystem, name, edits) of names within the allowed edits of `text`, nearest first."""
        probe = "-".join(query_terms(text)) if " " in text.strip() else text.strip().lower()
        edits = allowed_edits(probe)
        if edits == 0:
            return []
        found: list[tuple[int, str, str]] = []
        for length in range(max(1, len(probe) - edits), len(probe) + edits + 1):
            choices = self._names.get(length)
            if not choices:
                continue
            ecosystems, stored = self._ecosystems[length], self._stored[length]
            for _, distance, position in process.extract(
                probe, choices, scorer=OSA.distance, score_cutoff=edits, limit=None
            ):
                if ecosystem is None or ecosystems[position] == ecosystem:
                    found.append((int(distance), stored[position], ecosystems[position]))
        found.sort()
        return [(found_ecosystem, name, distance) for distance, name, found_ecosystem in found[:limit]]


_ECOSYSTEM_NAMES = {name: name for name in ECOSYSTEMS}
