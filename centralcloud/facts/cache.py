"""The in-memory read cache in front of PostgreSQL (aiocache), with a TTL and a size bound.

Values are encoded reply bytes, so a hit costs a dictionary lookup and nothing else.
Keys are grouped per package (`pkg:<ecosystem>:<name>:…`) so a re-sync drops exactly
that package's entries; search results are dropped whole, since any change may reorder them.
The groups are indexed here: aiocache's namespace clear scans every key, and a sync drops
thousands of packages one by one.
"""

from __future__ import annotations

from aiocache import SimpleMemoryCache

SEARCH = "search:"
ANSWERS = "answers:"
"""Answers that read many packages (trees, dependents, frameworks, recommendations): dropped with any package."""
PATTERNS = "patterns:"
"""Group of the pattern answers (usage, pairs, popular), dropped whole when aggregates move."""


def package_prefix(ecosystem: str, name: str) -> str:
    return f"pkg:{ecosystem}:{name}:"


class BoundedMemoryCache(SimpleMemoryCache):
    """SimpleMemoryCache that evicts the least recently written entries past `max_size`."""

    def __init__(self, *, max_size: int, **kwargs: object) -> None:
        # The memory backend never blocks, so aiocache's per-call wait_for is pure overhead.
        super().__init__(timeout=None, **kwargs)
        self.max_size = max_size

    async def _set(self, key, value, ttl=None, _cas_token=None, _conn=None):  # type: ignore[override]
        if key in self._cache:
            # Re-insert so dict order tracks recency of writes.
            self._cache.pop(key)
        result = await super()._set(key, value, ttl=ttl, _cas_token=_cas_token, _conn=_conn)
        while len(self._cache) > self.max_size:
            oldest = next(iter(self._cache))
            await self._delete(oldest)
        return result


class ReadCache:
    """The cache as the catalog uses it."""

    def __init__(self, *, ttl: float, max_size: int) -> None:
        self.ttl = ttl
        self.backend = BoundedMemoryCache(max_size=max_size)
        # Group prefix -> keys written under it. Keys that expired or were evicted may linger
        # until their group is dropped; deleting an absent key is a no-op.
        self._groups: dict[str, set[str]] = {}

    async def get(self, key: str) -> bytes | None:
        if self.ttl <= 0:
            return None
        return await self.backend.get(key)

    async def set(self, key: str, value: bytes) -> None:
        if self.ttl > 0:
            await self.backend.set(key, value, ttl=self.ttl)
            group = next((g for g in (SEARCH, ANSWERS) if key.startswith(g)), None) or key.rpartition(":")[0] + ":"
            self._groups.setdefault(group, set()).add(key)

    async def invalidate_package(self, ecosystem: str, name: str) -> None:
        for group in (package_prefix(ecosystem, name), SEARCH, ANSWERS):
            for key in self._groups.pop(group, ()):
                await self.backend.delete(key)

    async def invalidate_group(self, group: str) -> None:
        """Drop every key written under `group` (a prefix ending in ':' with no other ':')."""
        for key in self._groups.pop(group, ()):
            await self.backend.delete(key)

    async def clear(self) -> None:
        self._groups.clear()
        await self.backend.clear()

    def __len__(self) -> int:
        return len(self.backend._cache)
