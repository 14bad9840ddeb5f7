"""Asking the advisory sources about packages, and the `packages.advisories` answer.

OSV is the source of record; the npm registry's bulk endpoint (the one `npm audit` uses)
adds npm's view. A source that just failed rests a while, so that an offline or
air-gapped deployment answers fast from what is stored instead of waiting for retries
on every question.

"Could not check" never reads as "safe": when no advisory source has answered for a
package within the freshness window, a version with no known advisory is `affected: null`,
with the reason and the source in `undetermined`. Only a deployment that says it relies
on imported exports answers from them, for the ecosystems an export covers, and says as
of when.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time

from centralcloud import versions
from centralcloud.core import clock, deadlines, errors, names
from centralcloud.facts import advisories, cache
from centralcloud.sources import npm_audit, osv
from centralcloud.store import advisories as store_advisories
from centralcloud.store import db
from centralcloud.store import packages as store_packages
from centralcloud.wire import messages


@dataclasses.dataclass(frozen=True)
class Coverage:
    """Whether the stored advisories of a package can be taken as complete."""

    checked_at: dt.datetime | None
    """When an advisory source last answered for the package."""
    as_of: dt.datetime | None = None
    """The imported export the answer rests on instead, when it does."""

    @property
    def known(self) -> bool:
        return self.checked_at is not None or self.as_of is not None


class AdvisoryChecks:
    def __init__(
        self,
        *,
        database: db.Database,
        read_cache: cache.ReadCache,
        osv_source: osv.OsvSource | None,
        npm_audit_source: npm_audit.NpmAuditSource | None,
        max_age: float = 6 * 3600,
        rest: float = 60.0,
        freshness: float = 48 * 3600,
        trust_imports: bool = False,
    ) -> None:
        self.database = database
        self.cache = read_cache
        self.osv = osv_source
        self.npm_audit = npm_audit_source
        self.max_age = max_age
        """Seconds after which stored advisories of a package are checked again on demand."""
        self.rest = rest
        """Seconds an advisory source that failed is not asked again by on-demand answers."""
        self.freshness = freshness
        """Seconds an advisory source's answer counts; past it, "nothing known" is "not checked"."""
        self.trust_imports = trust_imports
        """The deployment relies on imported exports where no source answers (air-gapped)."""
        self._down: dict[str, tuple[float, str]] = {}
        self._inflight: dict[tuple[str, str], asyncio.Future[tuple[list[str], bool]]] = {}

    async def refresh(self, ref: names.PackageRef) -> tuple[list[str], bool]:
        """Ask every advisory source about one package and store what they say.

        Returns the warnings and whether OSV answered. The package counts as checked when
        OSV answered; the npm registry's own advisories add to OSV's but do not replace it.
        Concurrent callers for one package share one round of questions.
        """
        key = (ref.ecosystem, ref.name)
        running = self._inflight.get(key)
        if running is None:
            # Shared by every caller: bounded by none of their deadlines.
            running = asyncio.get_running_loop().create_task(self._refresh(ref), context=deadlines.detached())
            self._inflight[key] = running
            running.add_done_callback(lambda _: self._inflight.pop(key, None))
        return await asyncio.shield(running)

    async def _refresh(self, ref: names.PackageRef) -> tuple[list[str], bool]:
        warnings: list[str] = []
        checked = False
        if self.osv is None:
            warnings.append("no OSV source configured: only registry and imported advisories are known")
        elif (resting := self._resting("osv")) is not None:
            warnings.append(resting)
        else:
            try:
                for advisory in await self.osv.query(ref.ecosystem, ref.name):
                    await store_advisories.save(self.database, advisory)
                checked = True
            except errors.SourceError as err:
                self._failed("osv", err)
                warnings.append(f"osv: {err.message}")
        if ref.ecosystem == "npm" and self.npm_audit is not None:
            if (resting := self._resting("npm-audit")) is not None:
                warnings.append(resting)
            else:
                try:
                    await self.refresh_npm_audit([ref.name])
                except errors.SourceError as err:
                    self._failed("npm-audit", err)
                    warnings.append(f"npm advisories: {err.message}")
        if checked:
            await store_advisories.mark_checked(self.database, [(ref.ecosystem, ref.name)])
        await self.cache.invalidate_package(ref.ecosystem, ref.name)
        return warnings, checked

    def _failed(self, source: str, err: errors.SourceError) -> None:
        self._down[source] = (time.monotonic() + self.rest, err.message)

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
        numbers = await store_advisories.version_numbers(self.database, ecosystem="npm", names=package_names)
        found = await self.npm_audit.bulk(numbers)
        for advisory in found:
            await store_advisories.save(self.database, advisory)
        return len(found)

    async def coverage(self, *, ecosystem: str, checked_at: dt.datetime | None) -> Coverage:
        """Whether a package whose sources last answered at `checked_at` counts as checked."""
        fresh = self._fresh(checked_at)
        if fresh.known or not self.trust_imports:
            return fresh
        return Coverage(checked_at=None, as_of=await store_advisories.import_as_of(self.database, ecosystem=ecosystem))

    def stored_coverage(self, stored: store_packages.StoredPackage) -> Coverage:
        """`coverage` of a package as read, with the import date that came with it."""
        fresh = self._fresh(stored.advisories_checked_at)
        if fresh.known or not self.trust_imports:
            return fresh
        return Coverage(checked_at=None, as_of=stored.advisories_import_as_of)

    def _fresh(self, checked_at: dt.datetime | None) -> Coverage:
        if checked_at is not None and (clock.utcnow() - checked_at).total_seconds() <= self.freshness:
            return Coverage(checked_at=checked_at)
        return Coverage(checked_at=None)

    async def package_coverage(self, ref: names.PackageRef) -> Coverage:
        """`coverage` of a stored package, its bookkeeping read first (unknown when not stored)."""
        state = await store_advisories.state(self.database, ecosystem=ref.ecosystem, name=ref.name)
        return await self.coverage(
            ecosystem=ref.ecosystem, checked_at=state["advisories_synced_at"] if state is not None else None
        )

    async def latest_counts(
        self, ref: names.PackageRef, *, latest: str, stored: store_packages.StoredPackage
    ) -> tuple[int | None, int | None]:
        """(affecting, undetermined) advisories of a package's latest version for `packages.get`.

        None for "affecting" when nothing is known to affect it and no source answered
        within the freshness window; both None when the version cannot be read. `stored` is
        the package as read with its advisory bookkeeping: no advisory query is needed when
        no advisory names it.
        """
        if not versions.scheme(ref.ecosystem).is_valid(latest):
            return None, None
        found: list[messages.AdvisoryInfo] = []
        undetermined: list[messages.Undetermined] = []
        if stored.advisories_named:
            found, undetermined = await advisories.for_package(
                self.database, ecosystem=ref.ecosystem, name=ref.name, version=latest
            )
        if not found and not self.stored_coverage(stored).known:
            return None, len(undetermined)
        return len(found), len(undetermined)

    async def answer(
        self, ref: names.PackageRef, *, version: str | None, timeout: float
    ) -> messages.AdvisoriesReply:
        """The advisories affecting `version` of a stored package (all of them when None)."""
        state = await store_advisories.state(self.database, ecosystem=ref.ecosystem, name=ref.name)
        if state is None:
            raise errors.NotFound(f"{ref.ecosystem} package {ref.name!r} was not found", purl=ref.purl)
        warnings: list[str] = []
        checked_at = state["advisories_synced_at"]
        stale = checked_at is None or (clock.utcnow() - checked_at).total_seconds() > self.max_age
        failure = None
        if stale:
            try:
                problems, checked = await asyncio.wait_for(self.refresh(ref), timeout)
                warnings += [f"{problem}; answered from stored advisories" for problem in problems]
                if checked:
                    checked_at = clock.utcnow()
                elif problems:
                    failure = problems[0]
            except TimeoutError:
                failure = f"advisory sources gave no answer within {timeout:g}s"
                warnings.append(f"{failure}; answered from stored advisories")
        found, undetermined = await advisories.for_package(
            self.database, ecosystem=ref.ecosystem, name=ref.name, version=version
        )
        coverage = await self.coverage(ecosystem=ref.ecosystem, checked_at=checked_at)
        if not coverage.known:
            since = f"since {checked_at:%Y-%m-%d %H:%M} UTC" if checked_at else "ever"
            undetermined.append(messages.Undetermined(
                id=None, aliases=[], source="osv" if self.osv is not None else None,
                reason=(
                    f"no advisory source has answered for this package {since}"
                    + (f" ({failure})" if failure else "")
                    + "; advisories not listed here may still affect it"
                ),
            ))
        elif coverage.as_of is not None:
            warnings.append(f"answered from the imported advisory export as of {coverage.as_of:%Y-%m-%d}")
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
            as_of=coverage.as_of,
        )
