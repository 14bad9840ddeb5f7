"""Domain operations behind the package endpoints.

`get` reads through the cache and PostgreSQL, and fetches a package not yet stored from
its registry within the request's deadline; concurrent requests for one package share a
single fetch. `refresh` is the one path by which facts enter the store (on demand and
from the sync), and it drops the package from the cache.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Literal

import msgspec

from centralcloud import advisories, cache, db, errors, messages, names, search, store
from centralcloud.sources import base, github, npm_audit, osv

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
        advisories_max_age: float = 6 * 3600,
    ) -> None:
        self.database = database
        self.sources = sources
        self.cache = read_cache
        self.request_timeout = request_timeout
        self.github = github_source
        self.osv = osv_source
        self.npm_audit = npm_audit_source
        self.advisories_max_age = advisories_max_age
        self.source_rest = 60.0
        """Seconds an advisory source that failed is not asked again by on-demand answers."""
        self.fuzzy_search = False
        """Typo-tolerant name matching (pg_trgm), switched on by the app where the server has it."""
        self.searcher = search.Searcher(database)
        self.names: search.NameIndex | None = None
        """Package names in memory for typo tolerance where pg_trgm is missing; new packages join it."""
        self._down: dict[str, tuple[float, str]] = {}
        self._inflight: dict[tuple[str, str], asyncio.Future[RefreshOutcome]] = {}
        self._background: set[asyncio.Task[RefreshOutcome]] = set()
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
                await store.touch(self.database, ecosystem=ref.ecosystem, name=ref.name)
            return "unchanged"
        facts = result.package
        await store.save_package(self.database, facts, etag=result.etag, last_modified=result.last_modified)
        if self.names is not None:
            self.names.add(ecosystem=facts.ecosystem, name=facts.name)
        for advisory in advisories.from_registry(facts):
            await advisories.save(self.database, advisory)
        await self.cache.invalidate_package(ref.ecosystem, ref.name)
        logger.debug(
            "stored %s/%s", ref.ecosystem, ref.name,
            extra={"action": "store_package", "ecosystem": ref.ecosystem, "package": ref.name},
        )
        return "updated"

    async def refresh_repository(self, url: str) -> str | None:
        """Fetch GitHub facts for a repository URL and link packages to them; failures only log."""
        if self.github is None or github.parse_github_url(url) is None:
            return None
        normalized = base.normalize_repository_url(url) or url
        row = await self.database.fetchrow("repository_validator", normalized)
        try:
            facts, etag = await self.github.fetch_repository(normalized, etag=row["etag"] if row else None)
        except errors.CentralCloudError as err:
            logger.info("repository %s not refreshed: %s", normalized, err.message,
                        extra={"action": "refresh_repository", "source": "github"})
            return "failed"
        if facts is None:
            repository_id = await self.database.fetchval("touch_repository", normalized)
            outcome = "unchanged"
        else:
            repository_id = await store.save_repository(self.database, facts, etag=etag, url=normalized)
            outcome = "updated"
        if repository_id is not None:
            await self.database.execute("link_repository", repository_id, url)
        return outcome

    async def refresh_advisories(self, ref: names.PackageRef) -> tuple[list[str], bool]:
        """Ask every advisory source about one package and store what they say.

        Returns the warnings and whether OSV answered.

        The package counts as checked when OSV answered; the npm registry's own advisories
        add to OSV's but do not replace it.
        """
        warnings: list[str] = []
        checked = False
        if self.osv is None:
            warnings.append("no OSV source configured: only registry and imported advisories are known")
        elif (resting := self._resting("osv")) is not None:
            warnings.append(resting)
        else:
            try:
                for advisory in await self.osv.query(ref.ecosystem, ref.name):
                    await advisories.save(self.database, advisory)
                checked = True
            except errors.SourceError as err:
                self._failed_source("osv", err)
                warnings.append(f"osv: {err.message}")
        if ref.ecosystem == "npm" and self.npm_audit is not None:
            if (resting := self._resting("npm-audit")) is not None:
                warnings.append(resting)
            else:
                try:
                    await self.refresh_npm_audit([ref.name])
                except errors.SourceError as err:
                    self._failed_source("npm-audit", err)
                    warnings.append(f"npm advisories: {err.message}")
        if checked:
            await self.database.execute("mark_advisories_synced", ref.ecosystem, ref.name)
        await self.cache.invalidate_package(ref.ecosystem, ref.name)
        return warnings, checked

    def _failed_source(self, source: str, err: errors.SourceError) -> None:
        # An advisory source that just failed is left alone for a while, so that every
        # question does not wait for its retries again (offline and air-gapped deployments).
        self._down[source] = (time.monotonic() + self.source_rest, err.message)

    def _resting(self, source: str) -> str | None:
        until, reason = self._down.get(source, (0.0, ""))
        left = until - time.monotonic()
        if left <= 0:
            return None
        return f"{source}: not asked again for {left:.0f}s after it failed ({reason})"

    async def refresh_npm_audit(self, package_names: list[str]) -> int:
        """The npm registry's advisories for every stored version of the given npm packages."""
        if self.npm_audit is None or not package_names:
            return 0
        rows = await self.database.fetch("version_numbers", "npm", package_names)
        found = await self.npm_audit.bulk({row["name"]: list(row["numbers"]) for row in rows})
        for advisory in found:
            await advisories.save(self.database, advisory)
        return len(found)

    async def advisories(self, ref: names.PackageRef, *, version: str | None) -> messages.AdvisoriesReply:
        state = await self.database.fetchrow("package_advisory_state", ref.ecosystem, ref.name)
        if state is None:
            await self._fetch_on_demand(ref)
            state = await self.database.fetchrow("package_advisory_state", ref.ecosystem, ref.name)
            if state is None:
                raise errors.NotFound(f"{ref.ecosystem} package {ref.name!r} was not found", purl=ref.purl)
        warnings: list[str] = []
        checked_at = state["advisories_synced_at"]
        stale = checked_at is None or (advisories.utcnow() - checked_at).total_seconds() > self.advisories_max_age
        if stale:
            try:
                problems, checked = await asyncio.wait_for(self.refresh_advisories(ref), self.request_timeout)
                warnings += [f"{problem}; answered from stored advisories" for problem in problems]
                if checked:
                    checked_at = advisories.utcnow()
            except TimeoutError:
                warnings.append(f"advisory sources gave no answer within {self.request_timeout:g}s; answered from stored advisories")
        found, undetermined = await advisories.for_package(
            self.database, ecosystem=ref.ecosystem, name=ref.name, version=version
        )
        affected: bool | None = None
        if version is not None:
            affected = True if found else (None if undetermined else False)
        return messages.AdvisoriesReply(
            ecosystem=ref.ecosystem,
            name=ref.name,
            purl=names.to_purl(ref.ecosystem, ref.name, version),
            version=version,
            affected=affected,
            advisories=found,
            undetermined=undetermined,
            checked_at=checked_at,
            warnings=warnings,
        )

    async def get(self, ref: names.PackageRef, *, max_versions: int) -> bytes:
        """The encoded PackageReply for one package."""
        key = f"{cache.package_prefix(ref.ecosystem, ref.name)}{max_versions}"
        cached = await self.cache.get(key)
        if cached is not None:
            return cached
        reply = await store.load_package(
            self.database, ecosystem=ref.ecosystem, name=ref.name, max_versions=max_versions
        )
        if reply is None:
            await self._fetch_on_demand(ref)
            reply = await store.load_package(
                self.database, ecosystem=ref.ecosystem, name=ref.name, max_versions=max_versions
            )
            if reply is None:
                raise errors.NotFound(f"{ref.ecosystem} package {ref.name!r} was not found", purl=ref.purl)
        if reply.latest_version:
            try:
                found, undetermined = await advisories.for_package(
                    self.database, ecosystem=ref.ecosystem, name=ref.name, version=reply.latest_version
                )
                reply.advisories_latest = len(found)
                reply.advisories_undetermined = len(undetermined)
            except errors.BadRequest:
                pass  # a latest version the scheme cannot read: leave the counts unknown
        encoded = self._encoder.encode(reply)
        await self.cache.set(key, encoded)
        return encoded

    async def _fetch_on_demand(self, ref: names.PackageRef) -> None:
        task = asyncio.ensure_future(self.refresh(ref, conditional=False))
        self._background.add(task)
        task.add_done_callback(self._settled)
        try:
            # shield: a request that gives up must not cancel the fetch other requests share.
            await asyncio.wait_for(asyncio.shield(task), self.request_timeout)
        except TimeoutError:
            raise errors.DeadlineExceeded(
                f"fetching {ref.ecosystem} package {ref.name!r} took longer than {self.request_timeout:g}s; "
                "it continues in the background, try again shortly",
                source=ref.ecosystem,
            ) from None
        await store.record_requests(self.database, [ref], origin="on_demand")
        # Repository facts follow in the background: an answer never waits for GitHub.
        url = await self.database.fetchval("package_repository_url", ref.ecosystem, ref.name)
        if url and self.github is not None:
            follow_up = asyncio.ensure_future(self._repository_then_forget(ref, url))
            self._background.add(follow_up)
            follow_up.add_done_callback(self._background.discard)

    async def _repository_then_forget(self, ref: names.PackageRef, url: str) -> None:
        if await self.refresh_repository(url) == "updated":
            await self.cache.invalidate_package(ref.ecosystem, ref.name)

    def _settled(self, task: asyncio.Task[RefreshOutcome]) -> None:
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

    async def search(self, *, query: str, ecosystem: str | None, limit: int) -> bytes:
        key = f"{cache.SEARCH}{ecosystem or '*'}:{limit}:{' '.join(search.query_terms(query))}"
        cached = await self.cache.get(key)
        if cached is not None:
            return cached
        hits = await self.searcher.search(
            query=query, ecosystem=ecosystem, limit=limit, fuzzy=self.fuzzy_search, name_index=self.names
        )
        encoded = self._encoder.encode(messages.SearchReply(query=query, hits=hits))
        await self.cache.set(key, encoded)
        return encoded

    async def request(self, packages: list[messages.PackageName]) -> messages.RequestPackagesReply:
        accepted: list[messages.AcceptedPackage] = []
        rejected: list[messages.RejectedPackage] = []
        refs: dict[tuple[str, str], names.PackageRef] = {}
        for index, item in enumerate(packages):
            try:
                ref = names.ref(ecosystem_name=item.ecosystem, name=item.name, purl=item.purl)
            except errors.CentralCloudError as err:
                rejected.append(messages.RejectedPackage(index=index, input=item, error=error_body(err)))
                continue
            if (ref.ecosystem, ref.name) not in refs:
                refs[(ref.ecosystem, ref.name)] = ref
                accepted.append(messages.AcceptedPackage(ecosystem=ref.ecosystem, name=ref.name, purl=ref.purl))
        await store.record_requests(self.database, refs.values(), origin="request")
        return messages.RequestPackagesReply(accepted=accepted, rejected=rejected)


def error_body(err: errors.CentralCloudError) -> messages.ErrorBody:
    return messages.ErrorBody(code=err.kind, message=err.message, status=err.status, details=dict(err.details))
