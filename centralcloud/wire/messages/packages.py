"""centralcloud.packages.get, .search and .request: a package's facts, search, requests to sync."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec

from centralcloud.wire.messages import common


class PackageGetRequest(common.PackageName):
    """centralcloud.packages.get: facts about one package."""

    max_versions: Annotated[int, msgspec.Meta(ge=0, le=10000)] = 1000
    """At most this many versions in the reply, newest first."""


class VersionInfo(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One version of a package."""

    number: str
    """Version string."""
    published_at: dt.datetime | None = None
    """Publication time (UTC)."""
    prerelease: bool = False
    """A pre-release by the ecosystem's rules."""
    yanked: bool = False
    """Withdrawn by its publisher (yanked or retired)."""
    yanked_reason: str | None = None
    """Why it was withdrawn."""
    deprecated: bool = False
    """Marked deprecated."""
    deprecated_reason: str | None = None
    """The deprecation message."""
    licenses: list[str] = []
    """Licenses this version declares, where the registry gives them per version (npm, crates.io)."""


class DependencyInfo(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A declared dependency."""

    ecosystem: str
    """Ecosystem of the dependency."""
    name: str
    """Name of the dependency."""
    requirement: str
    """Version requirement as declared."""
    kind: str
    """runtime, dev, optional, peer or build."""
    optional: bool = False
    """Only installed on request."""
    condition: str | None = None
    """Extra, feature or marker that activates it."""


class RepositoryInfo(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Facts about the package's source repository."""

    url: str
    """Normalized repository URL."""
    stars: int | None = None
    """Stars (GitHub)."""
    forks: int | None = None
    """Forks."""
    open_issues: int | None = None
    """Open issues."""
    pushed_at: dt.datetime | None = None
    """Last push."""
    archived: bool | None = None
    """Archived (read-only) repository."""


class DownloadsInfo(msgspec.Struct, kw_only=True):
    """Download counts, each named by the period it covers; null where the registry gives none."""

    last_week: int | None = None
    """Downloads in the last 7 days (npm, PyPI)."""
    last_month: int | None = None
    """Downloads in the last 30 days (npm, PyPI)."""
    total: int | None = None
    """All-time downloads (crates.io, hex.pm)."""
    last_90_days: int | None = None
    """Downloads in the last 90 days (crates.io and hex.pm's recent window)."""


class QualityInfo(msgspec.Struct, kw_only=True):
    """The package's quality score with the parts that explain it (docs/quality.md)."""

    score: float | None
    """Overall, 0 to 100, over the dimensions that are known (`parts.score_over` names them)."""
    popularity: float | None
    """Downloads, stars and dependents, ranked within the ecosystem, 0 to 100; null when none is known
    (`parts.popularity_unknown` says why)."""
    maintenance: float
    """Release recency and cadence, archived/deprecated status, open issues, 0 to 100."""
    security: float
    """Advisories affecting the latest version and how fast past ones were fixed, 0 to 100."""
    community: float
    """How many instances use it, and dependents in our store, 0 to 100."""
    parts: dict[str, Any]
    """Every input and sub-score behind the numbers."""


class PackageReply(msgspec.Struct, kw_only=True):
    """centralcloud.packages.get reply."""

    ecosystem: str
    """npm, cargo, hex or pypi."""
    name: str
    """Normalized name."""
    purl: str
    """Package URL."""
    display_name: str
    """Name as the registry displays it."""
    description: str | None
    """Short description."""
    latest_version: str | None
    """The registry's own latest version (npm dist-tag latest; newest stable, non-yanked release elsewhere)."""
    licenses: list[str]
    """Licenses of the latest version."""
    keywords: list[str]
    """Keywords."""
    classifiers: list[str]
    """Trove classifiers or categories."""
    homepage: str | None
    """Homepage."""
    repository_url: str | None
    """Source repository."""
    documentation_url: str | None
    """Documentation."""
    deprecated: bool
    """The package as a whole is deprecated or retired."""
    deprecated_reason: str | None
    """Why."""
    downloads: DownloadsInfo | None
    """Download counts with the periods they cover; null when no source gives any."""
    repository: RepositoryInfo | None
    """Repository facts once synced."""
    dependencies: list[DependencyInfo]
    """Declared dependencies of the latest version."""
    versions: list[VersionInfo]
    """Versions, newest first (at most max_versions)."""
    versions_total: int
    """How many versions the package has in all."""
    synced_at: dt.datetime | None
    """When these facts were last fetched from the registry."""
    advisories_latest: int | None = None
    """Advisories known to affect the latest version (see centralcloud.packages.advisories); None when no advisory source has answered for the package within the configured freshness and none is known."""
    advisories_undetermined: int | None = None
    """Advisories that could not be evaluated for the latest version."""
    quality: QualityInfo | None = None
    """Quality score, once the sync has computed one."""


class SearchRequest(common.Request):
    """centralcloud.packages.search: find packages by what they do."""

    query: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    """Words describing what the package does or its name."""
    ecosystem: common.EcosystemName | None = None
    """Restrict to one ecosystem."""
    limit: Annotated[int, msgspec.Meta(ge=1, le=100)] = 10
    """Number of hits to return."""


class SearchHit(msgspec.Struct, kw_only=True):
    """One search result with its key facts."""

    ecosystem: str
    """Ecosystem."""
    name: str
    """Name."""
    purl: str
    """Package URL."""
    description: str | None
    """Short description."""
    latest_version: str | None
    """Latest version."""
    licenses: list[str]
    """Licenses."""
    repository_url: str | None
    """Source repository."""
    downloads: DownloadsInfo | None
    """Download counts with the periods they cover; null when no source gives any."""
    stars: int | None
    """Repository stars, where known."""
    deprecated: bool
    """Deprecated."""
    score: float
    """Relevance blended with popularity; higher is better."""


class SearchReply(msgspec.Struct, kw_only=True):
    """centralcloud.packages.search reply."""

    query: str
    """The query as received."""
    hits: list[SearchHit]
    """Matches, best first."""


class RequestPackagesRequest(common.Request):
    """centralcloud.packages.request: ask the sync to keep packages fresh."""

    packages: Annotated[list[common.PackageName], msgspec.Meta(min_length=1, max_length=1000)]
    """The packages, each by ecosystem and name or by purl."""


class AcceptedPackage(msgspec.Struct, kw_only=True):
    """A package accepted for syncing."""

    ecosystem: str
    """Ecosystem."""
    name: str
    """Normalized name."""
    purl: str
    """Package URL."""


class RejectedPackage(msgspec.Struct, kw_only=True):
    """A package that was not accepted, and why."""

    index: int
    """Position in the request's packages list."""
    input: common.PackageName
    """What was sent."""
    error: common.ErrorBody
    """Why it was rejected."""


class RequestPackagesReply(msgspec.Struct, kw_only=True):
    """centralcloud.packages.request reply."""

    accepted: list[AcceptedPackage]
    """Packages recorded for syncing."""
    rejected: list[RejectedPackage]
    """Packages refused, with reasons."""
