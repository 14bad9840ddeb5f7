"""The answers over the store: recommend, dependencies and dependents.

Each reads the facts the store holds, fetches what is missing through the catalog
within the request's deadline, runs the pure answer (`recommend`, the resolvers) and
caches the encoded reply like the facts: per package where one package is the input,
in the answers group (dropped whenever any package or advisory changes) otherwise.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from collections.abc import Mapping
from typing import Any

import msgspec

from centralcloud import versions
from centralcloud.answers import provider as providers
from centralcloud.answers import recommend
from centralcloud.answers.resolve import _graph
from centralcloud.answers.resolve import cargo as cargo_resolve
from centralcloud.answers.resolve import hex as hex_resolve
from centralcloud.answers.resolve import npm as npm_resolve
from centralcloud.answers.resolve import pypi as pypi_resolve
from centralcloud.core import clock, deadlines, errors, model, names
from centralcloud.facts import advisories, advisory_checks, cache
from centralcloud.patterns import metrics
from centralcloud.sources import base
from centralcloud.store import answers as store_answers
from centralcloud.store import db
from centralcloud.wire import messages

HEX_RELEASES = 5
"""Hex release documents read per recommendation to learn candidates' elixir requirement (one request each)."""
DEPENDENTS_SCOPE = "stored packages only: exact over what this service stores, not a registry-wide count"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Options:
    """What configuration decides for the answers."""

    deadline: float = 4.0
    """Seconds an answer waits for on-demand fetches before answering with what it has."""
    min_age_days: float = 0.0
    """Default cooldown of `recommend` (CENTRALCLOUD_RECOMMEND_MIN_AGE_DAYS)."""
    python: str = pypi_resolve.DEFAULT_PYTHON
    """Python a PyPI tree is resolved for when the request names none (CENTRALCLOUD_DEFAULT_PYTHON)."""
    min_instances: int = metrics.DEFAULT_MIN_INSTANCES
    """The pattern privacy threshold: team counts below it are not shown."""


class Answers:
    """recommend, dependencies and dependents, over one database and the catalog's fetching."""

    def __init__(
        self,
        *,
        database: db.Database,
        read_cache: cache.ReadCache,
        refresh: providers.Refresh,
        sources: Mapping[str, base.Source],
        options: Options,
        checks: advisory_checks.AdvisoryChecks | None = None,
    ) -> None:
        self.database = database
        self.checks = checks
        """Whether a package's advisories count as checked (None: assume they do)."""
        self.cache = read_cache
        self.refresh = refresh
        self.sources = sources
        self.options = options
        self._encoder = msgspec.json.Encoder()

    def provider(self, ecosystem: str) -> providers.StoreProvider:
        return providers.StoreProvider(database=self.database, ecosystem=ecosystem, refresh=self.refresh, sources=self.sources)

    async def facts(self, ref: names.PackageRef, *, details: bool = False) -> model.PackageFacts:
        """The stored package, fetched first when not stored; a 504 past the deadline (the fetch goes on).
        Without `details`, its versions' dependencies and features are left unread (see load_facts)."""
        return (await self._facts(ref, details=details))[0]

    async def _facts(self, ref: names.PackageRef, *, details: bool) -> tuple[model.PackageFacts, bool]:
        """`facts`, and whether the package had to be fetched from its registry."""
        provider = self.provider(ref.ecosystem)
        # The fetch goes on past this request's deadline, so it runs without it.
        task = asyncio.get_running_loop().create_task(provider.package(ref.name, details=details), context=deadlines.detached())
        try:
            return await asyncio.wait_for(asyncio.shield(task), self.options.deadline), bool(provider.fetched)
        except TimeoutError:
            task.add_done_callback(_retrieve)
            raise errors.DeadlineExceeded(
                f"fetching {ref.ecosystem} package {ref.name!r} took longer than {self.options.deadline:g}s; "
                "it continues in the background, try again shortly",
                source=ref.ecosystem,
            ) from None

    # ---- recommend ----------------------------------------------------------------

    async def recommend(self, request: messages.RecommendRequest) -> bytes:
        ref = names.ref(ecosystem_name=request.ecosystem, name=request.name, purl=request.purl)
        runtime = recommend.check_runtime(request.runtime)
        current = request.current or ref.version
        key = cache.package_prefix(ref.ecosystem, ref.name) + "recommend-" + _digest(
            [request.requirement, current, sorted(runtime.items()), request.allow_prerelease, request.min_age_days]
        )
        cached = await self.cache.get(key)
        if cached is not None:
            return cached
        options = recommend.Options(
            requirement=request.requirement,
            current=current,
            runtime=runtime,
            allow_prerelease=request.allow_prerelease,
            min_age_days=self.options.min_age_days if request.min_age_days is None else request.min_age_days,
            now=clock.utcnow(),
        )
        if options.requirement is not None:
            versions.scheme(ref.ecosystem).max_satisfying((), options.requirement)  # a 400 before any fetch
        # The advisories are read while the versions are; a package fetched just now is read again,
        # since its registry document may have brought advisories (PyPI's `vulnerabilities`).
        rows = asyncio.ensure_future(advisories.package_advisories(self.database, ecosystem=ref.ecosystem, name=ref.name))
        try:
            facts, fetched = await self._facts(ref, details=False)
        finally:
            rows.add_done_callback(_retrieve)
        stored = await rows
        if fetched:
            stored = await advisories.package_advisories(self.database, ecosystem=ref.ecosystem, name=ref.name)
        affected = advisories.affected_among(ref.ecosystem, stored, [v.number for v in facts.versions])
        options = dataclasses.replace(options, advisories_checked=await self._advisories_checked(ref))
        answer = recommend.recommend(
            ecosystem=ref.ecosystem, candidates=recommend.candidates_from(facts, advisories=affected), options=options
        )
        if ref.ecosystem == "hex" and "elixir" in runtime:
            answer = await self._hex_runtime(ref, facts, affected, options, answer)
        reply = msgspec.convert(
            msgspec.to_builtins(answer) | {"purl": names.to_purl(ref.ecosystem, ref.name, answer.version)},
            type=messages.RecommendReply,
        )
        encoded = self._encoder.encode(reply)
        await self.cache.set(key, encoded)
        return encoded

    async def _advisories_checked(self, ref: names.PackageRef) -> bool:
        # "Could not check" never reads as "no known advisory".
        if self.checks is None:
            return True
        return (await self.checks.package_coverage(ref)).known

    async def _hex_runtime(
        self,
        ref: names.PackageRef,
        facts: model.PackageFacts,
        affected: dict[str, list[str]],
        options: recommend.Options,
        answer: recommend.Recommendation,
    ) -> recommend.Recommendation:
        """Hex keeps the elixir requirement in each release's document: read it for the pick until the
        pick's requirement is known, at most HEX_RELEASES documents, within the deadline."""
        provider = self.provider(ref.ecosystem)
        by_number = {version.number: version for version in facts.versions}
        loop = asyncio.get_running_loop()
        ends = loop.time() + self.options.deadline
        for _ in range(HEX_RELEASES):
            picked = by_number[answer.version]
            if picked.requires_runtime is not None:
                break
            try:
                release = await asyncio.wait_for(provider.release(ref.name, picked), max(ends - loop.time(), 0.01))
            except (TimeoutError, errors.CentralCloudError):
                break  # the pick stands as it is, its requirement unknown
            by_number[picked.number] = msgspec.structs.replace(picked, requires_runtime=release.requires_runtime or "")
            facts = msgspec.structs.replace(facts, versions=tuple(by_number.values()))
            answer = recommend.recommend(
                ecosystem=ref.ecosystem, candidates=recommend.candidates_from(facts, advisories=affected), options=options
            )
        return answer

    # ---- dependencies -------------------------------------------------------------

    async def dependencies(self, request: messages.DependenciesRequest) -> bytes:
        ref = names.ref(ecosystem_name=request.ecosystem, name=request.name, purl=request.purl)
        runtime = recommend.check_runtime(request.runtime)
        target = None
        if request.target is not None:
            target_ref = names.parse_purl(request.target)
            if target_ref.ecosystem != ref.ecosystem:
                raise errors.BadRequest("the target must be a package of the root's ecosystem", target=request.target)
            target = target_ref.name
        version = request.version or ref.version
        if version is not None and request.requirement is not None:
            raise errors.BadRequest("give a version or a requirement, not both")
        scheme = versions.scheme(ref.ecosystem)
        if request.requirement is not None:
            scheme.max_satisfying((), request.requirement)  # a 400 before any fetch
        elif version is not None and not scheme.is_valid(version):
            raise errors.BadRequest(f"{version!r} is not a valid {ref.ecosystem} version", version=version)
        key = cache.ANSWERS + "deps-" + _digest(
            [ref.ecosystem, ref.name, version, request.requirement, sorted(runtime.items()), sorted(request.include),
             sorted(request.extras), sorted(request.features), target]
        )
        cached = await self.cache.get(key)
        if cached is not None:
            return cached
        if version is None:
            version = await self._pick(ref, request.requirement)
        resolution = await self._resolve(ref, version=version, runtime=runtime, request=request, target=target)
        encoded = self._encoder.encode(msgspec.convert(msgspec.to_builtins(resolution), type=messages.DependenciesReply))
        if resolution.complete:
            await self.cache.set(key, encoded)
        return encoded

    async def _pick(self, ref: names.PackageRef, requirement: str | None) -> str:
        """The version a requirement resolves to: its highest match; without one, the latest."""
        facts = await self.facts(ref)
        numbers = [v.number for v in facts.versions if not v.yanked]
        picked = (
            versions.scheme(ref.ecosystem).max_satisfying(numbers, requirement)
            if requirement is not None else facts.latest_version
        )
        if picked is None:
            raise errors.NotFound(f"no {ref.ecosystem} version of {ref.name} satisfies {requirement}", purl=ref.purl)
        return picked

    async def _resolve(
        self, ref: names.PackageRef, *, version: str, runtime: dict[str, str], request: messages.DependenciesRequest,
        target: str | None,
    ) -> _graph.Resolution:
        provider = self.provider(ref.ecosystem)
        deadline = self.options.deadline
        if ref.ecosystem == "npm":
            return await npm_resolve.resolve(
                provider, name=ref.name, version=version, node=runtime.get("node"),
                include_dev="dev" in request.include, target=target, deadline=deadline,
            )
        if ref.ecosystem == "pypi":
            return await pypi_resolve.resolve(
                provider, name=ref.name, requirement=f"=={version}", python=runtime.get("python", self.options.python),
                extras=request.extras, target=target, deadline=deadline,
            )
        if ref.ecosystem == "cargo":
            return await cargo_resolve.resolve(
                provider, name=ref.name, requirement=f"={version}", features=request.features,
                rust=runtime.get("rust"), target=target, deadline=deadline,
            )
        return await hex_resolve.resolve(
            provider, name=ref.name, requirement=f"== {version}", include_optional="optional" in request.include,
            target=target, deadline=deadline,
        )

    # ---- dependents ---------------------------------------------------------------

    async def dependents(self, request: messages.DependentsRequest) -> bytes:
        ref = names.ref(ecosystem_name=request.ecosystem, name=request.name, purl=request.purl)
        key = cache.ANSWERS + "dependents-" + _digest([ref.ecosystem, ref.name])
        cached = await self.cache.get(key)
        if cached is not None:
            return cached
        facts = await self.facts(ref)
        scheme = versions.scheme(ref.ecosystem)
        found = []
        for row in await store_answers.dependents(self.database, ecosystem=ref.ecosystem, name=ref.name):
            found.append(
                messages.answers.DependentInfo(
                    purl=names.to_purl(ref.ecosystem, row["name"], row["latest_version"]),
                    name=row["name"],
                    version=row["latest_version"],
                    requirement=row["requirement"],
                    kind=row["kind"],
                    lagging=_lagging(scheme, facts.latest_version, row["requirement"]),
                )
            )
        reach = await store_answers.team_reach(self.database, ecosystem=ref.ecosystem, name=ref.name)
        reply = messages.DependentsReply(
            purl=ref.purl,
            latest_version=facts.latest_version,
            count=len({entry.name for entry in found}),
            lagging=len({entry.name for entry in found if entry.lagging}),
            dependents=found,
            team=self._team_reach(reach),
            scope=DEPENDENTS_SCOPE,
        )
        encoded = self._encoder.encode(reply)
        await self.cache.set(key, encoded)
        return encoded

    def _team_reach(self, reach: store_answers.TeamReach) -> messages.answers.TeamReachInfo:
        def shown(count: int, instances: int) -> int | None:
            return metrics.visible(count, instances=instances, min_instances=self.options.min_instances)

        return messages.answers.TeamReachInfo(
            direct_instances=shown(reach.direct_instances, reach.direct_instances),
            direct_projects=shown(reach.direct_projects, reach.direct_instances),
            instances=shown(reach.instances, reach.instances),
            projects=shown(reach.projects, reach.instances),
        )


def _lagging(scheme: versions.Scheme, latest: str | None, requirement: str) -> bool | None:
    if latest is None:
        return None
    try:
        return not scheme.satisfies(latest, requirement)
    except errors.BadRequest:
        return None


def _digest(parts: Any) -> str:
    return hashlib.blake2b(msgspec.json.encode(parts), digest_size=12).hexdigest()


def _retrieve(task: asyncio.Future[Any]) -> None:
    # A fetch the request stopped waiting for: its failure is the catalog's to log, not an unretrieved one.
    if not task.cancelled():
        task.exception()

