"""The resolvers' facts from the store: stored packages first, missing ones fetched on demand.

A package not stored is fetched through the catalog's refresh (shared with every other
request for it) and read back; a version whose dependencies were never fetched is read
from its registry's per-release document and kept. The resolvers' Fetcher waits for
these within the request's deadline and shields them, so a fetch that misses the
deadline still completes and the next answer finds it stored.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from centralcloud.answers.resolve import fetching
from centralcloud.core import errors, model, names
from centralcloud.sources import base
from centralcloud.store import answers as store_answers
from centralcloud.store import db

Refresh = Callable[[names.PackageRef], Awaitable[object]]
"""Fetch one package from its registry and store it (the catalog's `refresh`)."""


class StoreProvider:
    """Facts of one ecosystem, read from the store and completed from the registry."""

    def __init__(
        self, *, database: db.Database, ecosystem: str, refresh: Refresh, sources: Mapping[str, base.Source]
    ) -> None:
        self.database = database
        self.ecosystem = ecosystem
        self.refresh = refresh
        self.source = sources.get(ecosystem)
        self.fetched: list[str] = []
        """Packages this provider had to fetch from the registry."""
        self._undecoded: dict[tuple[str, str], str] = {}

    async def package(self, name: str, *, details: bool = True) -> model.PackageFacts:
        """The package's facts; without `details`, no version's dependencies or features (see load_facts)."""
        facts = await store_answers.load_facts(self.database, ecosystem=self.ecosystem, name=name, details=details)
        if facts is not None:
            return facts
        ref = names.PackageRef(ecosystem=self.ecosystem, name=names.normalize(self.ecosystem, name))
        await self.refresh(ref)
        self.fetched.append(name)
        facts = await store_answers.load_facts(self.database, ecosystem=self.ecosystem, name=ref.name, details=details)
        if facts is None:
            raise errors.NotFound(f"{self.ecosystem} package {name!r} was not found", purl=ref.purl)
        return facts

    async def package_batch(self, names_: list[str]) -> dict[str, model.PackageFacts]:
        """The stored ones among `names_`, in one query; the resolvers fetch the others one by one.
        Their versions' dependencies are decoded when a resolver asks for them (`dependencies`)."""
        loaded = await store_answers.load_undecoded(self.database, ecosystem=self.ecosystem, names=names_)
        for name, (_, raw) in loaded.items():
            self._undecoded.update(((name, number), text) for number, text in raw.items())
        return {name: facts for name, (facts, _) in loaded.items()}

    def dependencies_at_hand(self, name: str, version: model.Version) -> tuple[model.Dependency, ...] | None:
        """The version's stored dependencies when a batch read brought them (decoded now), else None."""
        text = self._undecoded.get((name, version.number))
        return None if text is None else store_answers.decode_dependencies(text)

    async def dependencies(self, name: str, version: model.Version) -> tuple[model.Dependency, ...]:
        if version.dependencies is not None:
            return version.dependencies
        at_hand = self.dependencies_at_hand(name, version)
        if at_hand is not None:
            return at_hand
        release = await self.release(name, version)
        return release.dependencies or ()

    async def release(self, name: str, version: model.Version) -> model.Version:
        """One version as its registry's per-release document tells it, kept in the store."""
        release = await fetching.read_release(self.source, name, version)
        await store_answers.save_version_details(self.database, ecosystem=self.ecosystem, name=name, version=release)
        return release
