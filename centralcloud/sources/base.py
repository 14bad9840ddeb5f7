"""The base of every registry adapter: a source that fetches one package's facts.

Adapters only build paths and map a registry's JSON into `centralcloud.core.model`;
HTTP lives in `sources.http` and the JSON readers in `sources.readers`.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable
from typing import Any

import aiohttp

from centralcloud.core import errors, model
from centralcloud.sources import http, readers

log = logging.getLogger(__name__)


class Source(http.HttpSource, abc.ABC):
    """A registry adapter: everything one registry says about one package."""

    ecosystem: str

    @classmethod
    def configured(cls, *, settings: Any, session: aiohttp.ClientSession, policy: http.HttpPolicy) -> Source:
        """This adapter as the service's settings configure it (`settings` has the
        `CENTRALCLOUD_*` fields); ConfigError when its endpoint cannot be found."""
        raise errors.ConfigError(f"{cls.__name__} cannot be configured from settings")

    @abc.abstractmethod
    async def fetch(
        self, name: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> model.FetchResult:
        """Fetch package `name`; the result has no package when the validators still match."""

    def _skip(self, package: str, why: str, *, version: str | None = None) -> None:
        """Log one entry of a registry document left out because it is unusable (the rest is kept)."""
        where = f"{package}@{version}" if version else package
        log.info(
            "%s %s: skipped an entry because %s",
            self.ecosystem,
            where,
            why,
            extra={"action": "source.skip", "ecosystem": self.ecosystem, "package": package, "version": version},
        )

    async def fetch_mapped(
        self,
        path: str,
        *,
        package: str,
        etag: str | None,
        last_modified: str | None,
        mapper: Callable[[str, Any], model.PackageFacts],
        decoder: http.Decoder | None = None,
    ) -> model.FetchResult:
        """GET one document and map it with `mapper(package, json)`; for registries with one document per package.

        With `decoder`, the body is decoded by it (typed structs, say) rather than into generic dicts."""
        response = await self.get_json(path, etag=etag, last_modified=last_modified, decoder=decoder)
        if response.not_modified:
            return model.FetchResult(package=None, etag=response.etag, last_modified=response.last_modified)
        with readers.mapping_errors(source=self.name, ecosystem=self.ecosystem, package=package):
            facts = mapper(package, response.json)
        log.debug(
            "fetched %s %s: %d versions",
            self.ecosystem,
            package,
            len(facts.versions),
            extra={"action": "source.fetch", "ecosystem": self.ecosystem, "package": package},
        )
        return model.FetchResult(package=facts, etag=response.etag, last_modified=response.last_modified)
