"""hex.pm: the package document, plus the release document of the latest stable release.

The package document lists every release and retirement but no requirements;
those live in one document per release. Only the latest stable release's is
fetched (the others keep `dependencies=None`), because hex.pm allows about a
hundred requests a minute without a key. The budget it announces in
`x-ratelimit-*` headers is kept per source instance: once it is spent, the next
request, a retry included, waits for the window to reset.
"""

from __future__ import annotations

import logging
import re
import urllib.parse
from typing import Any

import aiohttp

from centralcloud import versions
from centralcloud.core import errors, model, names
from centralcloud.sources import base, http, limits, readers, repository_urls

log = logging.getLogger(__name__)

DEFAULT_URL = "https://hex.pm"

# Elixir's Version decides what a prerelease is, so a release's flag agrees with requirement matching.
_VERSIONS = versions.scheme("hex")
# meta.links keys are free text ("GitHub", "Github", "Source", "Docs"); compared folded.
_REPOSITORY_LINKS = ("github", "gitlab", "source", "sourcecode", "repository", "bitbucket", "codeberg")
_DOCUMENTATION_LINKS = ("docs", "documentation", "hexdocs")
_HOMEPAGE_LINKS = ("homepage", "home", "website")
# Retirement reasons that say the package as a whole moved on when its latest release carries them.
_DEPRECATING_REASONS = ("deprecated", "renamed")


class HexSource(base.Source):
    """hex.pm's HTTP API (or a private Hex repository serving the same API)."""

    ecosystem = "hex"
    name = "hex"

    @classmethod
    def configured(cls, *, settings: Any, session: aiohttp.ClientSession, policy: http.HttpPolicy) -> HexSource:
        key = settings.hex_api_key.get_secret_value() if settings.hex_api_key else None
        return cls(session=session, base_url=settings.hex_url or DEFAULT_URL, policy=policy, api_key=key)

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        base_url: str = DEFAULT_URL,
        policy: http.HttpPolicy = http.HttpPolicy(),
        api_key: str | None = None,
        max_budget_wait: float = 65.0,
    ) -> None:
        super().__init__(session=session, base_url=base_url, policy=policy)
        self.budget = limits.HeaderBudget()
        """The request budget hex.pm last announced to this instance."""
        self.max_budget_wait = max_budget_wait
        """Longest wait for a spent budget to reset; a later reset fails fast with SourceUnavailable."""
        self._auth = {"authorization": api_key} if api_key else {}
        self.session = limits.GatedSession(  # type: ignore[assignment]
            session, before=self._wait_for_budget, after=self._observe
        )

    async def fetch(
        self, name: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> model.FetchResult:
        package = names.normalize(self.ecosystem, name)
        response = await self.get_json(
            f"api/packages/{package}", etag=etag, last_modified=last_modified, headers=self._auth
        )
        if response.not_modified:
            return model.FetchResult(package=None, etag=response.etag, last_modified=response.last_modified)
        with readers.mapping_errors(source=self.name, ecosystem=self.ecosystem, package=package):
            doc = readers.expect(response.json, dict, source=self.name, what="the package document")
            releases = _releases(doc, source=self.name)
            latest = _latest(doc, releases)
        release = None
        if latest is not None:
            # Release numbers come from hex.pm itself; still, only SemVer characters go into a path.
            if not re.fullmatch(r"[0-9A-Za-z.+-]+", latest):
                raise errors.BadResponse(f"hex.pm named a release {latest!r}", source=self.name)
            release = (await self.get_json(f"api/packages/{package}/releases/{latest}", headers=self._auth)).json
        with readers.mapping_errors(source=self.name, ecosystem=self.ecosystem, package=package):
            facts = self._facts(package, doc, releases, latest, release)
        log.debug(
            "fetched hex %s: %d versions",
            package,
            len(facts.versions),
            extra={"action": "source.fetch", "ecosystem": self.ecosystem, "package": package},
        )
        return model.FetchResult(package=facts, etag=response.etag, last_modified=response.last_modified)

    async def search(self, text: str, *, limit: int) -> list[model.Found]:
        """Packages hex.pm's search (`packages?search=`) finds for `text`, most downloaded first."""
        query = urllib.parse.urlencode({"search": text, "sort": "downloads"})
        response = await self.get_json(f"api/packages?{query}", headers=self._auth)
        found = []
        with readers.mapping_errors(source=self.name, ecosystem=self.ecosystem, package=text):
            for doc in readers.expect(response.json or [], list, source=self.name, what="the search result")[:limit]:
                doc = readers.obj(doc)
                name = readers.text(doc.get("name"))
                if not name:
                    continue
                found.append(model.Found(
                    ecosystem=self.ecosystem, name=names.normalize(self.ecosystem, name),
                    description=readers.text(readers.obj(doc.get("meta")).get("description")),
                    latest_version=readers.text(doc.get("latest_stable_version")) or readers.text(doc.get("latest_version")),
                    downloads=_count(readers.obj(doc.get("downloads")).get("all")),
                ))  # fmt: skip
        return found

    async def fetch_release(self, name: str, version: str, *, metadata_url: str | None = None) -> model.Version:
        """One release's requirements and its `elixir` requirement, from its release document.

        One request per release, within the source's budget: callers ask for candidates only.
        """
        package = names.normalize(self.ecosystem, name)
        if not re.fullmatch(r"[0-9A-Za-z.+-]+", version):
            raise errors.BadRequest(f"{version!r} is not a hex release", version=version)
        response = await self.get_json(f"api/packages/{package}/releases/{version}", headers=self._auth)
        with readers.mapping_errors(source=self.name, ecosystem=self.ecosystem, package=package):
            release = readers.expect(response.json, dict, source=self.name, what="the release document")
            return model.Version(
                number=version,
                published_at=readers.parse_timestamp(release.get("inserted_at")),
                prerelease=_VERSIONS.prerelease_flag(version),
                yanked=release.get("retired") is not None,
                yanked_reason=_retirement_reason(release.get("retired")),
                dependencies=self._requirements(package, version, release.get("requirements")),
                requires_runtime=readers.text(readers.obj(release.get("meta")).get("elixir")),
            )

    def _facts(
        self,
        package: str,
        doc: dict[str, Any],
        releases: list[dict[str, Any]],
        latest: str | None,
        release: Any,
    ) -> model.PackageFacts:
        meta = readers.obj(doc.get("meta"))
        links = {
            re.sub(r"[^a-z0-9]", "", label.lower()): url.strip()
            for label, url in readers.obj(meta.get("links")).items()
            if readers.text(url)
        }
        retirements = readers.obj(doc.get("retirements"))
        dependencies = None
        release_meta: dict[str, Any] = {}
        if release is not None:
            release = readers.expect(release, dict, source=self.name, what="the release document")
            dependencies = self._requirements(package, latest or "", release.get("requirements"))
            release_meta = readers.obj(release.get("meta"))

        versions = []
        latest_retirement: dict[str, Any] = {}
        for item in releases:
            number = item["version"]
            retirement = retirements.get(number)
            if retirement is None and number == latest and release is not None and release.get("retired"):
                # The release document may know of a retirement the package document predates.
                retirement = release["retired"]
            reason = _retirement_reason(retirement)
            if number == latest and retirement is not None:
                latest_retirement = readers.obj(retirement)
            versions.append(
                model.Version(
                    number=number,
                    published_at=readers.parse_timestamp(item.get("inserted_at")),
                    prerelease=_VERSIONS.prerelease_flag(number),
                    yanked=retirement is not None,
                    yanked_reason=reason,
                    dependencies=dependencies if number == latest else None,
                    requires_runtime=readers.text(release_meta.get("elixir")) if number == latest else None,
                )
            )

        deprecated = readers.text(latest_retirement.get("reason")) in _DEPRECATING_REASONS
        downloads = readers.obj(doc.get("downloads"))
        extra: dict[str, object] = {}
        build_tools = readers.strings(release_meta.get("build_tools"))
        if build_tools:
            extra["build_tools"] = list(build_tools)
        for key in ("elixir", "app"):
            if value := readers.text(release_meta.get(key)):
                extra[key] = value
        return model.PackageFacts(
            ecosystem=self.ecosystem,
            name=package,
            display_name=readers.text(doc.get("name")) or package,
            description=readers.text(meta.get("description")),
            licenses=readers.strings(meta.get("licenses")),
            homepage=_link(links, _HOMEPAGE_LINKS),
            repository_url=repository_urls.normalize_repository_url(_link(links, _REPOSITORY_LINKS)),
            documentation_url=_link(links, _DOCUMENTATION_LINKS) or readers.text(doc.get("docs_html_url")),
            latest_version=latest,
            deprecated=deprecated,
            deprecated_reason=_retirement_reason(latest_retirement) if deprecated else None,
            downloads=_count(downloads.get("all")),
            recent_downloads=_count(downloads.get("recent")),
            versions=tuple(versions),
            extra=extra,
        )

    def _requirements(self, package: str, number: str, value: object) -> tuple[model.Dependency, ...]:
        if value is None:
            return ()
        found = []
        for dependency_name, requirement in readers.expect(
            value, dict, source=self.name, what="'requirements'"
        ).items():
            requirement = readers.expect(requirement, dict, source=self.name, what=f"requirement {dependency_name!r}")
            declared = readers.required(requirement, "requirement", str, source=self.name)
            try:
                normalized = names.normalize(self.ecosystem, dependency_name)
            except errors.InvalidName:
                log.info(
                    "hex %s@%s: skipped requirement on invalid package %r",
                    package,
                    number,
                    dependency_name,
                    extra={"action": "source.skip", "ecosystem": self.ecosystem, "package": package},
                )
                continue
            found.append(
                model.Dependency(
                    name=normalized,
                    ecosystem=self.ecosystem,
                    requirement=declared,
                    optional=requirement.get("optional") is True,
                )
            )
        return tuple(found)

    async def _wait_for_budget(self) -> None:
        if not self.budget.exhausted():
            return
        delay = self.budget.seconds_until_reset()
        if delay > self.max_budget_wait:
            raise errors.SourceUnavailable(
                f"hex.pm rate limit spent until {self.budget.reset_datetime:%Y-%m-%dT%H:%M:%SZ}",
                source=self.name,
                reset=self.budget.reset_datetime.isoformat() if self.budget.reset_datetime else None,
            )
        log.info(
            "hex.pm rate limit spent; waiting %.1fs for it to reset",
            delay,
            extra={"action": "source.rate_limit", "ecosystem": self.ecosystem, "source": self.name, "delay": delay},
        )
        await self.budget.wait()

    def _observe(self, status: int, headers: Any) -> None:
        # A 429 carries the headers too; without them the base's retry backoff is the pause.
        self.budget.observe(headers)


def _releases(doc: dict[str, Any], *, source: str) -> list[dict[str, Any]]:
    releases = readers.required(doc, "releases", list, source=source)
    for item in releases:
        readers.expect(item, dict, source=source, what="a release")
        readers.required(item, "version", str, source=source)
    return releases


def _latest(doc: dict[str, Any], releases: list[dict[str, Any]]) -> str | None:
    """hex.pm's latest stable release, else the newest stable unretired one, else its latest."""
    stable = readers.text(doc.get("latest_stable_version"))
    if stable:
        return stable
    retired = readers.obj(doc.get("retirements"))
    # hex.pm lists releases newest first.
    for item in releases:
        if not _VERSIONS.prerelease_flag(item["version"]) and item["version"] not in retired:
            return item["version"]
    return readers.text(doc.get("latest_version"))


def _retirement_reason(retirement: object) -> str | None:
    """ "reason: message", or whichever of the two is given."""
    if retirement is None:
        return None
    retirement = readers.obj(retirement)
    parts = [part for part in (readers.text(retirement.get("reason")), readers.text(retirement.get("message"))) if part]
    return ": ".join(parts) or None


def _link(links: dict[str, str], labels: tuple[str, ...]) -> str | None:
    return next((links[label] for label in labels if label in links), None)


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
