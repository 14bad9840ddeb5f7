"""crates.io: versions and dependencies from the sparse index, metadata from the web API.

The sparse index (one file per crate, one JSON object per line and version) is
what Cargo itself reads: it carries every version's dependencies, features and
yanked flag, and answers conditional requests, so it decides whether anything
changed. The API adds what the index lacks: description, links, downloads,
keywords, categories, licenses and publication times. crates.io's data-access
policy allows one API request a second; every CargoSource of a process shares
one limiter by default, and the index is not limited.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Mapping
from typing import Any

import aiohttp
import msgspec

from centralcloud import versions
from centralcloud.core import errors, model, names
from centralcloud.sources import base, http, limits, readers, repository_urls
from centralcloud.versions import cargo as cargo_versions

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://crates.io"
DEFAULT_INDEX_URL = "https://index.crates.io"

API_LIMITER = limits.RateLimiter(per_second=1.0)
"""The process-wide pace of crates.io API requests (its crawler policy: at most one a second)."""

# Index `kind` values; entries from before build dependencies existed have no kind at all.
_KINDS = {"normal": "runtime", "dev": "dev", "build": "build"}


def index_path(name: str) -> str:
    """The sparse index path of crate `name` (Cargo's scheme: by length, then by leading characters)."""
    lowered = name.lower()
    if len(lowered) <= 2:
        return f"{len(lowered)}/{lowered}"
    if len(lowered) == 3:
        return f"3/{lowered[0]}/{lowered}"
    return f"{lowered[:2]}/{lowered[2:4]}/{lowered}"


class _SparseIndex(http.HttpSource):
    """The sparse index: its files are JSON lines, not one JSON document."""

    name = "cargo"
    ecosystem = "cargo"

    def _decode(self, resp: aiohttp.ClientResponse, body: bytearray, url: str) -> Any:
        # http.HttpSource offers no raw-body read, so the line format is decoded here.
        entries = []
        for number, line in enumerate(bytes(body).splitlines(), start=1):
            if not line.strip():
                continue
            try:
                entries.append(msgspec.json.decode(line))
            except msgspec.DecodeError as err:
                raise errors.BadResponse(
                    f"cargo index answered {url} with an unreadable line {number} ({resp.content_type}): {err}",
                    source=self.name,
                    content_type=resp.content_type,
                ) from err
        return entries


class CargoSource(base.Source):
    """crates.io (or a registry serving the same sparse index and API)."""

    ecosystem = "cargo"
    name = "cargo"

    @classmethod
    def configured(cls, *, settings: Any, session: aiohttp.ClientSession, policy: http.HttpPolicy) -> CargoSource:
        return cls(
            session=session, base_url=settings.crates_url or DEFAULT_API_URL, policy=policy,
            index_url=settings.crates_index_url or DEFAULT_INDEX_URL,
        )

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        base_url: str = DEFAULT_API_URL,
        policy: http.HttpPolicy = http.HttpPolicy(),
        index_url: str = DEFAULT_INDEX_URL,
        api_limiter: limits.RateLimiter | None = None,
    ) -> None:
        super().__init__(session=session, base_url=base_url, policy=policy)
        self.api_limiter = api_limiter or API_LIMITER
        """Paces API requests, retries included; shared process-wide unless one is given."""
        # Every attempt at the API, retries included, waits for its slot.
        self.session = limits.GatedSession(session, before=self.api_limiter.acquire)  # type: ignore[assignment]
        self.index = _SparseIndex(session=session, base_url=index_url, policy=policy)

    async def fetch(
        self, name: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> model.FetchResult:
        """The crate's facts; the validators are the index file's, which changes with every publish or yank."""
        package = names.normalize(self.ecosystem, name)
        index = await self.index.get_json(index_path(package), etag=etag, last_modified=last_modified)
        if index.not_modified:
            return model.FetchResult(package=None, etag=index.etag, last_modified=index.last_modified)
        api = await self.get_json(f"api/v1/crates/{package}")
        with readers.mapping_errors(source=self.name, ecosystem=self.ecosystem, package=package):
            facts = self._facts(package, index.json, api.json)
        log.debug(
            "fetched cargo %s: %d versions",
            package,
            len(facts.versions),
            extra={"action": "source.fetch", "ecosystem": self.ecosystem, "package": package},
        )
        return model.FetchResult(package=facts, etag=index.etag, last_modified=index.last_modified)

    async def search(self, text: str, *, limit: int) -> list[model.Found]:
        """Crates the API's search (`crates?q=`) finds for `text`, by its relevance."""
        response = await self.get_json("api/v1/crates?" + urllib.parse.urlencode({"q": text, "per_page": limit}))
        found = []
        with readers.mapping_errors(source=self.name, ecosystem=self.ecosystem, package=text):
            for crate in readers.expect(readers.obj(response.json).get("crates") or [], list, source=self.name, what="crates"):
                crate = readers.obj(crate)
                name = readers.text(crate.get("name"))
                if not name:
                    continue
                found.append(model.Found(
                    ecosystem=self.ecosystem, name=names.normalize(self.ecosystem, name),
                    description=readers.text(crate.get("description")),
                    keywords=readers.strings(crate.get("keywords")),
                    latest_version=readers.text(crate.get("max_stable_version")) or readers.text(crate.get("max_version")),
                    downloads=crate.get("downloads") if isinstance(crate.get("downloads"), int) else None,
                ))  # fmt: skip
        return found

    def _facts(self, package: str, lines: Any, api: Any) -> model.PackageFacts:
        lines = readers.expect(lines, list, source=self.name, what="the index file")
        entries = [readers.expect(line, dict, source=self.name, what="an index line") for line in lines]
        if not entries:
            raise errors.BadResponse(f"the cargo index file of {package} lists no versions", source=self.name)
        api = readers.expect(api, dict, source=self.name, what="the crate document")
        crate = readers.required(api, "crate", dict, source=self.name)
        published = self._api_versions(api)

        versions = tuple(self._version(package, entry, published) for entry in entries)
        latest = readers.text(crate.get("max_stable_version")) or _newest_stable(versions)
        latest_entry = next(
            (entry for entry in reversed(entries) if entry.get("vers") == latest), entries[-1]
        )
        latest_version = next((version for version in versions if version.number == latest), None)
        return model.PackageFacts(
            ecosystem=self.ecosystem,
            name=package,
            display_name=readers.text(crate.get("name")) or readers.text(latest_entry.get("name")) or package,
            description=readers.text(crate.get("description")),
            keywords=_labels(api.get("keywords"), "keyword") or readers.strings(crate.get("keywords")),
            classifiers=_labels(api.get("categories"), "category") or readers.strings(crate.get("categories")),
            licenses=latest_version.licenses if latest_version else (),
            homepage=readers.text(crate.get("homepage")),
            repository_url=repository_urls.normalize_repository_url(crate.get("repository")),
            documentation_url=readers.text(crate.get("documentation")),
            latest_version=latest,
            downloads=_count(crate.get("downloads")),
            recent_downloads=_count(crate.get("recent_downloads")),
            versions=versions,
            extra=_extra(latest_entry, crate),
        )

    def _api_versions(self, api: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """The API's versions by number; crates.io may stop embedding them, so absence is allowed."""
        listed = api.get("versions")
        if listed is None:
            return {}
        listed = readers.expect(listed, list, source=self.name, what="'versions'")
        found = {}
        for item in listed:
            item = readers.expect(item, dict, source=self.name, what="a version")
            found[readers.required(item, "num", str, source=self.name)] = item
        return found

    def _version(
        self, package: str, entry: dict[str, Any], published: Mapping[str, dict[str, Any]]
    ) -> model.Version:
        number = readers.required(entry, "vers", str, source=self.name)
        details = published.get(number, {})
        yanked = entry.get("yanked") is True
        license_expression = readers.text(details.get("license"))
        return model.Version(
            number=number,
            published_at=readers.parse_timestamp(details.get("created_at")),
            prerelease=versions.scheme("cargo").prerelease_flag(number),
            yanked=yanked,
            yanked_reason=readers.text(details.get("yank_message")) if yanked else None,
            licenses=(license_expression,) if license_expression else (),
            dependencies=self._dependencies(package, number, entry.get("deps")),
            requires_runtime=readers.text(entry.get("rust_version")),
            features=_features(entry),
        )

    def _dependencies(self, package: str, number: str, deps: object) -> tuple[model.Dependency, ...]:
        if deps is None:
            return ()
        found = []
        for dep in readers.expect(deps, list, source=self.name, what="'deps'"):
            dep = readers.expect(dep, dict, source=self.name, what="a dependency")
            alias = readers.required(dep, "name", str, source=self.name)
            # A renamed dependency (`foo = { package = "bar" }`) is listed under its alias.
            real = dep.get("package")
            real = alias if real is None else readers.expect(real, str, source=self.name, what="'package'")
            requirement = readers.required(dep, "req", str, source=self.name)
            kind = _KINDS.get(dep.get("kind") or "normal")
            if kind is None:
                self._skip(package, version=number, why=f"dependency {alias!r} has unknown kind {dep.get('kind')!r}")
                continue
            try:
                normalized = names.normalize(self.ecosystem, real)
            except errors.InvalidName:
                self._skip(package, version=number, why=f"dependency {alias!r} names invalid crate {real!r}")
                continue
            found.append(
                model.Dependency(
                    name=normalized,
                    ecosystem=self.ecosystem,
                    requirement=requirement,
                    kind=kind,
                    optional=dep.get("optional") is True,
                    # `cfg(windows)` or a target triple: the platforms it applies to.
                    condition=readers.text(dep.get("target")),
                    alias=alias if alias != real else None,
                    features=readers.strings(dep.get("features")),
                    default_features=dep.get("default_features") is not False,
                )
            )
        return tuple(found)


def _newest_stable(versions: tuple[model.Version, ...]) -> str | None:
    """The highest release that is neither yanked nor a prerelease, by SemVer precedence."""
    best: tuple[Any, str] | None = None
    for version in versions:
        if version.yanked or version.prerelease:
            continue
        try:
            key = cargo_versions.parse_version(version.number).key
        except ValueError:
            continue
        if best is None or key > best[0]:
            best = (key, version.number)
    return best[1] if best else None


def _features(entry: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    """A version's features; `features2` holds the entries using `dep:` or `?/` syntax, kept apart for old Cargos."""
    found: dict[str, tuple[str, ...]] = {}
    for key in ("features", "features2"):
        for feature, enables in readers.obj(entry.get(key)).items():
            found[feature] = readers.strings(enables)
    return found


def _labels(value: object, field: str) -> tuple[str, ...]:
    """The display labels of the API's side-loaded keywords or categories."""
    if not isinstance(value, list):
        return ()
    return readers.strings([item.get(field) for item in value if isinstance(item, dict)])


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _extra(entry: dict[str, Any], crate: dict[str, Any]) -> dict[str, object]:
    """Features, MSRV and `links` of the latest version, as the index states them."""
    features: dict[str, object] = {}
    # `features2` holds the entries using `dep:` or `?/` syntax, kept apart for old Cargos.
    for key in ("features", "features2"):
        features.update(readers.obj(entry.get(key)))
    extra: dict[str, object] = {}
    if features:
        extra["features"] = features
    for key in ("rust_version", "links"):
        value = readers.text(entry.get(key))
        if value:
            extra[key] = value
    max_version = readers.text(crate.get("max_version"))
    if max_version:
        extra["max_version"] = max_version
    return extra
