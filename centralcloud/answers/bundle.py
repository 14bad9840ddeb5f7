"""The answers as the service runs them, built over the catalog's database, cache and fetching."""

from __future__ import annotations

import dataclasses

from centralcloud.answers import frameworks, needs, service
from centralcloud.facts import catalog


@dataclasses.dataclass(frozen=True)
class Bundle:
    answers: service.Answers
    needs: needs.Needs
    frameworks: frameworks.Frameworks

    async def close(self) -> None:
        await self.needs.close()


def build(
    the_catalog: catalog.Catalog,
    *,
    options: service.Options | None = None,
    discovery_deadline: float = 2.0,
    min_plugins: int = frameworks.MIN_PLUGINS,
) -> Bundle:
    """Answers sharing the catalog's store, cache and on-demand fetches (its `refresh`)."""
    options = options or service.Options(deadline=the_catalog.request_timeout)

    async def refresh(ref):  # type: ignore[no-untyped-def]
        # Unconditional: the package is not stored, so there are no validators to send.
        return await the_catalog.refresh(ref, conditional=False)

    answers = service.Answers(
        database=the_catalog.database, read_cache=the_catalog.cache, refresh=refresh, sources=the_catalog.sources,
        options=options, checks=the_catalog.checks,
    )
    return Bundle(
        answers=answers,
        needs=needs.Needs(
            database=the_catalog.database, searcher=the_catalog.searcher, read_cache=the_catalog.cache,
            refresh=refresh, sources=the_catalog.sources, discovery_deadline=min(discovery_deadline, options.deadline), min_instances=options.min_instances,
        ),
        frameworks=frameworks.Frameworks(answers=answers, min_plugins=min_plugins),
    )
