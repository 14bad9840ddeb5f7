"""A provider that reads packages straight from their registry through the source adapters.

The store-backed provider of the service wraps the same calls; this one serves
on-demand resolution and the installer-agreement tests.
"""

from __future__ import annotations

from centralcloud.core import errors, model
from centralcloud.sources import base


class SourceProvider:
    """Facts from one registry adapter (npm, pypi, cargo or hex)."""

    def __init__(self, source: base.Source) -> None:
        self.source = source

    async def package(self, name: str) -> model.PackageFacts:
        result = await self.source.fetch(name)
        if result.package is None:  # only a conditional fetch answers 304, and none is made here
            raise errors.BadResponse(f"{self.source.name} answered 304 to an unconditional fetch", source=self.source.name)
        return result.package

    async def dependencies(self, name: str, version: model.Version) -> tuple[model.Dependency, ...]:
        if version.dependencies is not None:
            return version.dependencies
        return (await read_release(self.source, name, version)).dependencies or ()


async def read_release(source: base.Source | None, name: str, version: model.Version) -> model.Version:
    """One version as its registry's per-release document tells it (dependencies, runtime requirement)."""
    fetch_release = getattr(source, "fetch_release", None)
    if source is None or fetch_release is None:
        raise errors.NotFound(f"no per-release document is read for {name} {version.number}")
    try:
        return await fetch_release(name, version.number, metadata_url=version.metadata_url)
    except errors.NotFound:
        # Indexes may announce a metadata file they do not serve; the per-version document may still be there.
        if version.metadata_url is None:
            raise
        return await fetch_release(name, version.number)
