"""Packages for a need (`centralcloud.packages.recommendations`).

The store holds what is used, so a need with fewer stored matches than asked for also
asks the registries' own search endpoints (npm's `/-/v1/search`, crates.io's `crates?q=`,
hex.pm's `packages?search=`; PyPI has none) within the discovery deadline. What they
name that is not stored is ranked from the search's own words, marked as discovered,
and fetched into the store in the background (then marked `discovered_at`), so asking
again ranks it on full facts. Words are matched as the registries give them (keywords,
categories, descriptions, English stemming in PostgreSQL); there is no synonym list.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
from collections.abc import Mapping

import msgspec

from centralcloud.answers import provider as providers
from centralcloud.answers import ranking
from centralcloud.core import clock, deadlines, errors, model, names
from centralcloud.facts import advisories, cache
from centralcloud.sources import base
from centralcloud.store import answers as store_answers
from centralcloud.store import db, search
from centralcloud.wire import messages

logger = logging.getLogger(__name__)

READ = 50
"""Stored candidates ranked per need at least (five per answer asked for above that): the search's
best hits, a bounded set found as the search room finds it (the most popular matches of every
word, then of any word), so the answer's cost does not grow with how many packages match."""
DISCOVERED_STORED = 10
"""Discovered packages per ecosystem fetched into the store in the background."""


class Needs:
    def __init__(
        self,
        *,
        database: db.Database,
        searcher: search.Searcher,
        read_cache: cache.ReadCache,
        refresh: providers.Refresh,
        sources: Mapping[str, base.Source],
        discovery_deadline: float,
        min_instances: int,
    ) -> None:
        self.database = database
        self.searcher = searcher
        self.cache = read_cache
        self.refresh = refresh
        self.searchable = {eco: source for eco, source in sources.items() if hasattr(source, "search")}
        self.discovery_deadline = discovery_deadline
        self.min_instances = min_instances
        self._background: set[asyncio.Task[None]] = set()
        self._encoder = msgspec.json.Encoder()

    async def recommendations(self, request: messages.RecommendationsRequest) -> bytes:
        terms = search.query_terms(request.need)
        if not terms:
            raise errors.BadRequest("need must name what the package should do, in words (e.g. \"task scheduler\")")
        ecosystem = names.ecosystem(request.ecosystem) if request.ecosystem is not None else None
        key = cache.ANSWERS + "needs-" + hashlib.blake2b(
            msgspec.json.encode([terms, ecosystem, request.limit, request.discover]), digest_size=12
        ).hexdigest()
        cached = await self.cache.get(key)
        if cached is not None:
            return cached
        hits = await self.searcher.search(query=" ".join(terms), ecosystem=ecosystem, limit=max(READ, 5 * request.limit))
        matches = await store_answers.need_matches(
            self.database, terms=terms, refs=[(hit.ecosystem, hit.name) for hit in hits]
        )
        foundations = _foundations(matches)
        known = {(m.ecosystem, m.name) for m in matches}
        matches += await store_answers.need_matches(
            self.database, terms=terms, refs=[ref for ref in foundations if ref not in known]
        )
        signals = {(m.ecosystem, m.name): _stored_signals(m, foundations.get((m.ecosystem, m.name))) for m in matches}
        discovery = None
        found_all: list[model.Found] = []
        if request.discover and len(matches) < request.limit:
            asked = [eco for eco in self.searchable if ecosystem in (None, eco)]
            if asked:
                discovery, found_all = await self._discover(" ".join(terms), asked, limit=request.limit)
                new = []
                for item in found_all:
                    if (item.ecosystem, item.name) not in signals:
                        signals[(item.ecosystem, item.name)] = _found_signals(item, terms)
                        new.append(item)
                discovery.found = len(new)
                for eco in asked:
                    self._store_later([item for item in new if item.ecosystem == eco][:DISCOVERED_STORED])
        team = await store_answers.team_use(self.database, signals)
        for ref, use in team.items():
            signals[ref] = dataclasses.replace(signals[ref], team_instances=use.instances, team_projects=use.projects)
        now = clock.utcnow()
        ranked = ranking.rank(list(signals.values()), now=now, min_instances=self.min_instances)
        by_ref = {(m.ecosystem, m.name): m for m in matches}
        # Only the head can be sunk by an advisory into or out of the answer: check it, then rank again.
        await self._vulnerable_latest(signals, by_ref, [item.signals for item in ranked[: 2 * request.limit]])
        ranked = ranking.rank(list(signals.values()), now=now, min_instances=self.min_instances)
        described = {(item.ecosystem, item.name): item for item in found_all}
        candidates = []
        for item in ranked[: request.limit]:
            s = item.signals
            source = by_ref.get((s.ecosystem, s.name)) or described.get((s.ecosystem, s.name))
            shown = s.team_instances >= self.min_instances
            candidates.append(messages.answers.RecommendedPackage(
                purl=names.to_purl(s.ecosystem, s.name), name=s.name, ecosystem=s.ecosystem,
                latest_version=source.latest_version if source else None,
                description=source.description if source else None,
                score=item.score, why=list(item.why),
                team=messages.answers.TeamInfo(
                    instances=s.team_instances if shown else 0, projects=s.team_projects if shown else 0
                ),
                advisories_latest=s.advisories_latest, quality=s.quality, downloads=s.downloads, stars=s.stars,
                discovered=s.discovered,
            ))  # fmt: skip
        reply = messages.RecommendationsReply(need=request.need, candidates=candidates, discovery=discovery)
        encoded = self._encoder.encode(reply)
        if discovery is None or not discovery.found:
            await self.cache.set(key, encoded)  # an answer with discovered packages improves once they are stored
        return encoded

    async def _vulnerable_latest(
        self,
        signals: dict[tuple[str, str], ranking.Signals],
        by_ref: dict[tuple[str, str], store_answers.NeedMatch],
        head: list[ranking.Signals],
    ) -> None:
        """Count the advisories on the latest version of the head's candidates that have any stored."""
        for candidate in head:
            stored = by_ref.get((candidate.ecosystem, candidate.name))
            if stored is None or not stored.has_advisories or not stored.latest_version:
                continue
            affected = await advisories.affected_versions(
                self.database, ecosystem=stored.ecosystem, name=stored.name, numbers=[stored.latest_version]
            )
            signals[(stored.ecosystem, stored.name)] = dataclasses.replace(
                candidate, advisories_latest=len(affected.get(stored.latest_version, ()))
            )

    async def _discover(
        self, text: str, ecosystems: list[str], *, limit: int
    ) -> tuple[messages.answers.DiscoveryInfo, list[model.Found]]:
        tasks = {eco: asyncio.ensure_future(self.searchable[eco].search(text, limit=limit)) for eco in ecosystems}
        done, pending = await asyncio.wait(tasks.values(), timeout=self.discovery_deadline)
        for task in pending:
            task.cancel()
        info = messages.answers.DiscoveryInfo(asked=sorted(ecosystems))
        found: list[model.Found] = []
        for eco, task in tasks.items():
            if task not in done or task.exception() is not None:
                info.failed.append(eco)
                if task in done:
                    logger.info("discovery in %s failed: %s", eco, task.exception(), extra={"action": "discover", "ecosystem": eco})
                continue
            found.extend(task.result())
        return info, found

    def _store_later(self, found: list[model.Found]) -> None:
        if found:
            task = asyncio.get_running_loop().create_task(self._store(found), context=deadlines.detached())
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _store(self, found: list[model.Found]) -> None:
        refs = [names.PackageRef(ecosystem=item.ecosystem, name=item.name) for item in found]
        outcomes = await asyncio.gather(*(self.refresh(ref) for ref in refs), return_exceptions=True)
        stored = [(ref.ecosystem, ref.name) for ref, outcome in zip(refs, outcomes) if not isinstance(outcome, BaseException)]
        await store_answers.mark_discovered(self.database, stored)

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        if self._background:
            await asyncio.wait(set(self._background), timeout=5)


def _foundations(matches: list[store_answers.NeedMatch]) -> dict[tuple[str, str], store_answers.NeedMatch]:
    """What full matches depend on and name in their description, each with its best such match."""
    found: dict[tuple[str, str], store_answers.NeedMatch] = {}
    for match in matches:
        if not match.every_word:
            continue
        for name in match.dependency_names:
            ref = (match.ecosystem, name)
            if ranking.names_in(match.description, name) and (ref not in found or found[ref].text_rank < match.text_rank):
                found[ref] = match
    return found


def _stored_signals(match: store_answers.NeedMatch, foundation_of: store_answers.NeedMatch | None) -> ranking.Signals:
    relevance = ranking.relevance(every_word=match.every_word, text_rank=match.text_rank)
    # Only a package matching some word itself inherits: tokio-cron-scheduler builds on tokio, yet
    # tokio is no answer to "task scheduler"; actix-rt's tokio is one to "async runtime".
    inherited = 0.0
    if foundation_of is not None and match.text_rank > 0:
        inherited = ranking.relevance(every_word=True, text_rank=foundation_of.text_rank)
    return ranking.Signals(
        ecosystem=match.ecosystem,
        name=match.name,
        relevance=max(relevance, inherited),
        quality=match.score,
        downloads=match.downloads,
        stars=match.stars,
        deprecated=match.deprecated,
        archived=bool(match.archived),
        advisories_latest=None if not match.advisories_checked or match.has_advisories else 0,
        last_release=match.latest_published_at,
        discovered=match.discovered,
        foundation_of=foundation_of.name if foundation_of and inherited > relevance else None,
    )


def _found_signals(item: model.Found, terms: list[str]) -> ranking.Signals:
    return ranking.Signals(
        ecosystem=item.ecosystem,
        name=item.name,
        relevance=ranking.text_relevance(terms, name=item.name, description=item.description, keywords=item.keywords),
        downloads=item.downloads,
        discovered=True,
    )
