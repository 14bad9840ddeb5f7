"""Domain operations behind the package endpoints.

`get` reads through the cache and PostgreSQL, and fetches a package not yet stored from
its registry within the request's deadline; concurrent requests for one package share a
single fetch. `refresh` is the one path by which facts enter the store (on demand and
from the sync), and it drops the package from the cache.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Mapping
from typing import Any, Literal

import msgspec

from centralcloud.core import deadlines, errors, names
from centralcloud.facts import advisories, advisory_checks, cache, name_index, repositories
from centralcloud.sources import base, github, npm_audit, osv
from centralcloud.store import advisories as store_advisories
from centralcloud.store import db, search
from centralcloud.store import packages as store
from centralcloud.store import repositories as store_repositories
from centralcloud.wire import errors as wire_errors
from centralcloud.wire import messages

logger = logging.getLogger(__name__)

RefreshOutcome = Literal["updated", "unchanged"]


class Catalog:
    def __init__(
        self,
        *,
        database: db.Database,
        sources: Mapping[str, base.Source],
        read_cache: cache.ReadCache,
        request_timeout: float,
        github_source: github.GithubSource | None = None,
        osv_source: osv.OsvSource | None = None,
        npm_audit_source: npm_audit.NpmAuditSource | None = None,
        advisories_freshness: float = 48 * 3600,
        trust_imported_advisories: bool = False,
        max_background_fetches: int = 32,
    ) -> None:
        self.database = database
        self.sources = sources
        self.cache = read_cache
        self.request_timeout = request_timeout
        self.checks = advisory_checks.AdvisoryChecks(
            database=database, read_cache=read_cache, osv_source=osv_source, npm_audit_source=npm_audit_source,
            freshness=advisories_freshness, trust_imports=trust_imported_advisories,
        )
        """Advisory sources and the advisories answer."""
        self.repositories = repositories.RepositoryFacts(database=database, github_source=github_source)
        """GitHub facts, fetched in the background after a package's first fetch."""
        self.fuzzy_search = False
        """Typo-tolerant name matching (pg_trgm), switched on by the app where the server has it."""
        self.searcher = search.Searcher(database)
        self.names: name_index.NameIndex | None = None
        """Package names in memory for typo tolerance where pg_trgm is missing; new packages join it."""
        self._inflight: dict[tuple[str, str], asyncio.Future[RefreshOutcome]] = {}
        self._background: set[asyncio.Future[Any]] = set()
        self._fetching: dict[tuple[str, str], asyncio.Future[RefreshOutcome]] = {}
        self.max_background_fetches = max_background_fetches
        """On-demand fetches under way per source; a request needing one more gets a 503 at once."""
        self._encoder = msgspec.json.Encoder()

    def source(self, ecosystem: str) -> base.Source:
        try:
            return self.sources[ecosystem]
        except KeyError:
            raise errors.SourceUnavailable(
                f"no source is configured for {ecosystem} packages", source=ecosystem
            ) from None

    async def refresh(
        self,
        ref: names.PackageRef,
        *,
        conditional: bool = True,
        validators: tuple[str | None, str | None] | None = None,
        touch: bool = True,
    ) -> RefreshOutcome:
        """Fetch one package from its registry and store it; shared by concurrent callers.

        The sync passes `validators` it read in bulk and marks unchanged packages in bulk
        (`touch=False`), which saves two round trips to PostgreSQL per package.
        """
        key = (ref.ecosystem, ref.name)
        running = self._inflight.get(key)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[RefreshOutcome] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            outcome = await self._refresh(ref, conditional=conditional, validators=validators, touch=touch)
        except BaseException as err:
            future.set_exception(err)
            # Mark retrieved so an unawaited shared failure does not warn.
            future.exception()
            raise
        else:
            future.set_result(outcome)
            return outcome
        finally:
            del self._inflight[key]

    async def _refresh(
        self,
        ref: names.PackageRef,
        *,
        conditional: bool,
        validators: tuple[str | None, str | None] | None,
        touch: bool,
    ) -> RefreshOutcome:
        source = self.source(ref.ecosystem)
        etag = last_modified = None
        if conditional:
            stored = validators
            if stored is None:
                stored = await store.validators(self.database, ecosystem=ref.ecosystem, name=ref.name)
            if stored is not None:
                etag, last_modified = stored
        result = await source.fetch(ref.name, etag=etag, last_modified=last_modified)
        if result.package is None:
            if touch:
                await store.touch(self.database, [(ref.ecosystem, ref.name)])
            return "unchanged"
        facts = result.package
        await store.save_package(self.database, facts, etag=result.etag, last_modified=result.last_modified)
        if self.names is not None:
            self.names.add(ecosystem=facts.ecosystem, name=facts.name)
        for advisory in advisories.from_registry(facts):
            await store_advisories.save(self.database, advisory)
        await self.cache.invalidate_package(ref.ecosystem, ref.name)
        logger.debug(
            "stored %s/%s", ref.ecosystem, ref.name,
            extra={"action": "store_package", "ecosystem": ref.ecosystem, "package": ref.name},
        )
        return "updated"

    async def advisories(self, ref: names.PackageRef, *, version: str | None) -> messages.AdvisoriesReply:
        """The advisories answer; a package not yet stored is fetched first."""
        if await store_advisories.state(self.database, ecosystem=ref.ecosystem, name=ref.name) is None:
            await self._fetch_on_demand(ref)
        return await self.checks.answer(ref, version=version, timeout=self.request_timeout)

    async def cached_get(self, ref: names.PackageRef, *, max_versions: int) -> bytes | None:
        """The encoded PackageReply if the read cache holds it; never waits on anything else."""
        return await self.cache.get(_package_key(ref, max_versions=max_versions))

    async def get(self, ref: names.PackageRef, *, max_versions: int) -> bytes:
        """The encoded PackageReply for one package."""
        key = _package_key(ref, max_versions=max_versions)
        cached = await self.cache.get(key)
        if cached is not None:
            return cached
        stored = await store.read_package(
            self.database, ecosystem=ref.ecosystem, name=ref.name, max_versions=max_versions, for_encoding=True
        )
        if stored is None:
            await self._fetch_on_demand(ref)
            stored = await store.read_package(
                self.database, ecosystem=ref.ecosystem, name=ref.name, max_versions=max_versions, for_encoding=True
            )
            if stored is None:
                raise errors.NotFound(f"{ref.ecosystem} package {ref.name!r} was not found", purl=ref.purl)
        reply = stored.reply
        if reply.latest_version:
            reply.advisories_latest, reply.advisories_undetermined = await self.checks.latest_counts(
                ref, latest=reply.latest_version, stored=stored
            )
        encoded = self._encoder.encode(reply)
        await self.cache.set(key, encoded)
        return encoded

    def _start_fetch(self, ref: names.PackageRef) -> asyncio.Future[RefreshOutcome]:
        """The fetch of `ref` under way, or a new one if its source has room for it."""
        key = (ref.ecosystem, ref.name)
        if key in self._fetching:
            return self._fetching[key]
        busy = sum(1 for ecosystem, _ in self._fetching if ecosystem == ref.ecosystem)
        if busy >= self.max_background_fetches:
            raise errors.Overloaded(
                f"{busy} {ref.ecosystem} packages are being fetched already; try again shortly",
                retry_after=1.0, source=ref.ecosystem,
            )
        # Detached from the request: the fetch outlives a request that gives up, and others share it.
        task: asyncio.Future[RefreshOutcome] = asyncio.get_running_loop().create_task(
            self.refresh(ref, conditional=False), context=deadlines.detached()
        )
        self._fetching[key] = task
        self._background.add(task)
        task.add_done_callback(self._settled)
        task.add_done_callback(lambda _: self._fetching.pop(key, None))
        return task

    async def _fetch_on_demand(self, ref: names.PackageRef) -> None:
        task = self._start_fetch(ref)
        wait = self.request_timeout
        left = deadlines.remaining()
        if left is not None:
            wait = min(wait, max(left - 0.1, 0.0))  # answer with a 504 before the request's own deadline
        try:
            # shield: a request that gives up must not cancel the fetch other requests share.
            await asyncio.wait_for(asyncio.shield(task), wait)
        except TimeoutError:
            raise errors.DeadlineExceeded(
                f"fetching {ref.ecosystem} package {ref.name!r} took longer than {wait:g}s; "
                "it continues in the background, try again shortly",
                source=ref.ecosystem,
            ) from None
        await store.record_requests(self.database, [ref], origin="on_demand")
        # Repository facts and advisories follow in the background: an answer never waits for
        # GitHub or OSV, and until OSV has answered, the package's advisory counts say "unknown".
        url = await store_repositories.package_url(self.database, ecosystem=ref.ecosystem, name=ref.name)
        if self.checks.osv is not None:
            self._follow(self.checks.refresh(ref))
        if url and self.repositories.github is not None:
            self._follow(self._repository_then_forget(ref, url))

    def _follow(self, work: Coroutine[Any, Any, object]) -> None:
        task = asyncio.get_running_loop().create_task(work, context=deadlines.detached())
        self._background.add(task)
        task.add_done_callback(self._settled)

    async def _repository_then_forget(self, ref: names.PackageRef, url: str) -> None:
        if await self.repositories.refresh(url) == "updated":
            await self.cache.invalidate_package(ref.ecosystem, ref.name)

    def _settled(self, task: asyncio.Task[object]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            err = task.exception()
            logger.info("on-demand fetch failed: %s", err, extra={"action": "fetch_on_demand"})

    async def close(self) -> None:
        """Cancel on-demand fetches still running (their requests already timed out)."""
        for task in list(self._background):
            task.cancel()
        if self._background:
            await asyncio.wait(set(self._background), timeout=5)

    def _search_reply(self, query: str, hits: bytes) -> bytes:
        # Queries that differ only in case or punctuation share cached hits, so the reply is
        # built per request: each caller sees its own query. msgspec writes Raw bytes as they are.
        return self._encoder.encode(messages.SearchReply(query=query, hits=msgspec.Raw(hits)))  # type: ignore[arg-type]

    async def cached_search(self, *, query: str, ecosystem: str | None, limit: int) -> bytes | None:
        """The encoded SearchReply if the read cache holds its hits; never waits on anything else."""
        hits = await self.cache.get(_search_key(query=query, ecosystem=ecosystem, limit=limit))
        return None if hits is None else self._search_reply(query, hits)

    async def search(self, *, query: str, ecosystem: str | None, limit: int) -> bytes:
        key = _search_key(query=query, ecosystem=ecosystem, limit=limit)
        cached = await self.cache.get(key)
        if cached is not None:
            return self._search_reply(query, cached)
        hits = await self.searcher.search(
            query=query, ecosystem=ecosystem, limit=limit, fuzzy=self.fuzzy_search, name_index=self.names
        )
        encoded = self._encoder.encode(hits)
        await self.cache.set(key, encoded)
        return self._search_reply(query, encoded)

    async def request(self, packages: list[messages.PackageName]) -> messages.RequestPackagesReply:
        accepted: list[messages.AcceptedPackage] = []
        rejected: list[messages.RejectedPackage] = []
        refs: dict[tuple[str, str], names.PackageRef] = {}
        for index, item in enumerate(packages):
            try:
                ref = names.ref(ecosystem_name=item.ecosystem, name=item.name, purl=item.purl)
            except errors.CentralCloudError as err:
                rejected.append(messages.RejectedPackage(index=index, input=item, error=wire_errors.body(err)))
                continue
            if (ref.ecosystem, ref.name) not in refs:
                refs[(ref.ecosystem, ref.name)] = ref
                accepted.append(messages.AcceptedPackage(ecosystem=ref.ecosystem, name=ref.name, purl=ref.purl))
        await store.record_requests(self.database, refs.values(), origin="request")
        return messages.RequestPackagesReply(accepted=accepted, rejected=rejected)


def _package_key(ref: names.PackageRef, *, max_versions: int) -> str:
    return f"{cache.package_prefix(ref.ecosystem, ref.name)}{max_versions}"


def _search_key(*, query: str, ecosystem: str | None, limit: int) -> str:
    return f"{cache.SEARCH}{ecosystem or '*'}:{limit}:{' '.join(search_terms(query))}"


def search_terms(query: str) -> list[str]:
    """The words a search looks for (what its cache key is made of)."""
    return search.query_terms(query)
