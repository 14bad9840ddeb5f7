"""Asking the advisory sources about packages, and the `packages.advisories` answer.

OSV is the source of record; the npm registry's bulk endpoint (the one `npm audit` uses)
adds npm's view. A source that just failed rests a while, so that an offline or
air-gapped deployment answers fast from what is stored instead of waiting for retries
on every question.
"""

from __future__ import annotations

import asyncio
import time

from centralcloud.core import clock, errors, names
from centralcloud.facts import advisories, cache
from centralcloud.sources import npm_audit, osv
from centralcloud.store import advisories as store_advisories
from centralcloud.store import db
from centralcloud.wire import messages


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
    ) -> None:
        self.database = database
        self.cache = read_cache
        self.osv = osv_source
        self.npm_audit = npm_audit_source
        self.max_age = max_age
        """Seconds after which stored advisories of a package are checked again on demand."""
        self.rest = rest
        """Seconds an advisory source that failed is not asked again by on-demand answers."""
        self._down: dict[str, tuple[float, str]] = {}

    async def refresh(self, ref: names.PackageRef) -> tuple[list[str], bool]:
        """Ask every advisory source about one package and store what they say.

        Returns the warnings and whether OSV answered. The package counts as checked when
        OSV answered; the npm registry's own advisories add to OSV's but do not replace it.
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
        if stale:
            try:
                problems, checked = await asyncio.wait_for(self.refresh(ref), timeout)
                warnings += [f"{problem}; answered from stored advisories" for problem in problems]
                if checked:
                    checked_at = clock.utcnow()
            except TimeoutError:
                warnings.append(f"advisory sources gave no answer within {timeout:g}s; answered from stored advisories")
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
