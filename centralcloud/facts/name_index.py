"""Every package name in memory, for typo tolerance where PostgreSQL has no pg_trgm.

Names within an edit or two of the query are found with rapidfuzz (a maintained library
with bit-parallel edit distances); the store then reads those packages as search hits.
The index is built at start and new packages join it as they are stored.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from rapidfuzz import process
from rapidfuzz.distance import OSA

from centralcloud.core import ecosystems
from centralcloud.store import db
from centralcloud.store import search as store_search


def allowed_edits(text: str) -> int:
    """Typos forgiven in a name of this length: none in very short names, where one edit
    reaches too many others; a transposition counts as one."""
    if len(text) <= 3:
        return 0
    return 1 if len(text) <= 5 else 2


class _Bucket:
    """Names of one length sharing one letter: lower-cased, as stored, and their ecosystems."""

    __slots__ = ("keys", "names", "ecosystems")

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.names: list[str] = []
        self.ecosystems: list[str] = []


class NameIndex:
    """Every package name in memory, for typo-tolerant lookups.

    A name within k edits of the query differs in length by at most k, and nearly always keeps
    its first or its last letter (a typo at both ends takes two edits at opposite places). So
    names are filed twice, by (length, first letter) and by (length, last letter), and a
    lookup compares the query with a few small buckets only, using rapidfuzz's bit-parallel
    optimal-string-alignment distance (a swap of neighbours is one edit: "djnago" -> django).
    """

    def __init__(self) -> None:
        self._by_first: dict[tuple[int, str], _Bucket] = defaultdict(_Bucket)
        self._by_last: dict[tuple[int, str], _Bucket] = defaultdict(_Bucket)
        self._count = 0

    @classmethod
    async def load(cls, database: db.Database) -> NameIndex:
        index = cls()
        for ecosystem, name in await store_search.all_names(database):
            index._file(ecosystem, name)  # stored names are unique
        return index

    def __len__(self) -> int:
        return self._count

    def update(self, packages: Iterable[tuple[str, str]]) -> None:
        """Add packages (ecosystem, name); those already known are skipped."""
        for ecosystem, name in packages:
            key = name.lower()
            first = self._by_first.get((len(key), key[:1]))
            if first is None or not any(k == key and e == ecosystem for k, e in zip(first.keys, first.ecosystems)):
                self._file(ecosystem, name)

    def _file(self, ecosystem: str, name: str) -> None:
        key = name.lower()
        if key == name:
            key = name  # one string object for both lists: most names are lower case already
        # Ecosystem strings are shared, so each entry costs a pointer.
        ecosystem = _ECOSYSTEM_NAMES.get(ecosystem, ecosystem)
        for bucket in (self._by_first[(len(key), key[:1])], self._by_last[(len(key), key[-1:])]):
            bucket.keys.append(key)
            bucket.names.append(name)
            bucket.ecosystems.append(ecosystem)
        self._count += 1

    def add(self, *, ecosystem: str, name: str) -> None:
        self.update([(ecosystem, name)])

    def match(self, text: str, *, ecosystem: str | None, limit: int) -> list[tuple[str, str, int]]:
        """(ecosystem, name, edits) of names within the allowed edits of `text`, nearest first."""
        probe = "-".join(store_search.query_terms(text)) if " " in text.strip() else text.strip().lower()
        edits = allowed_edits(probe)
        if edits == 0:
            return []
        found: dict[tuple[str, str], int] = {}
        for length in range(max(1, len(probe) - edits), len(probe) + edits + 1):
            for bucket in (self._by_first.get((length, probe[:1])), self._by_last.get((length, probe[-1:]))):
                if bucket is None:
                    continue
                for _, distance, position in process.extract(
                    probe, bucket.keys, scorer=OSA.distance, score_cutoff=edits, limit=None
                ):
                    if ecosystem is None or bucket.ecosystems[position] == ecosystem:
                        found[(bucket.ecosystems[position], bucket.names[position])] = int(distance)
        nearest = sorted(found.items(), key=lambda item: (item[1], item[0][1], item[0][0]))
        return [(found_ecosystem, name, distance) for (found_ecosystem, name), distance in nearest[:limit]]


_ECOSYSTEM_NAMES = {name: name for name in ecosystems.KEYS}
