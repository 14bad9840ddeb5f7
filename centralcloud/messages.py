"""Every message on the wire, as msgspec Structs.

Requests are decoded strictly (unknown fields and wrong types are 400s); replies are
encoded from these types. The docstring under each field becomes its description in
the JSON Schemas under `schemas/` (see `centralcloud.schemas`).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=214)]
EcosystemName = Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
Purl = Annotated[str, msgspec.Meta(min_length=5, max_length=512)]


class Request(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of request messages."""


class ErrorBody(msgspec.Struct, kw_only=True):
    """What went wrong."""

    code: str
    """Stable machine-readable kind: bad_request, invalid_name, unknown_ecosystem, payload_too_large, not_found, source_unavailable, bad_response, deadline_exceeded, internal."""
    message: str
    """Human-readable explanation."""
    status: int
    """The same status as the Nats-Service-Error-Code header (400, 404, 500, 503, 504)."""
    details: dict[str, Any] = {}
    """Extra context such as the source that failed or the offending field."""


class ErrorReply(msgspec.Struct, kw_only=True):
    """The body of every error reply (the Nats-Service-Error headers carry the same code)."""

    error: ErrorBody
    """The error."""


class PackageName(Request):
    """A package named either by ecosystem and name or by package URL."""

    ecosystem: EcosystemName | None = None
    """npm, cargo, hex or pypi (purl types)."""
    name: Name | None = None
    """The package name as the ecosystem spells it (scoped npm names as @scope/name)."""
    purl: Purl | None = None
    """A package URL such as pkg:npm/express or pkg:pypi/django; instead of ecosystem and name."""


class PackageGetRequest(PackageName):
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
    """Advisories known to affect the latest version (see centralcloud.packages.advisories)."""
    advisories_undetermined: int | None = None
    """Advisories that could not be evaluated for the latest version."""
    quality: QualityInfo | None = None
    """Quality score, once the sync has computed one."""


class SearchRequest(Request):
    """centralcloud.packages.search: find packages by what they do."""

    query: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    """Words describing what the package does or its name."""
    ecosystem: EcosystemName | None = None
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


class RequestPackagesRequest(Request):
    """centralcloud.packages.request: ask the sync to keep packages fresh."""

    packages: Annotated[list[PackageName], msgspec.Meta(min_length=1, max_length=1000)]
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
    input: PackageName
    """What was sent."""
    error: ErrorBody
    """Why it was rejected."""


class RequestPackagesReply(msgspec.Struct, kw_only=True):
    """centralcloud.packages.request reply."""

    accepted: list[AcceptedPackage]
    """Packages recorded for syncing."""
    rejected: list[RejectedPackage]
    """Packages refused, with reasons."""


class AdvisoriesRequest(PackageName):
    """centralcloud.packages.advisories: is this version affected by an advisory?"""

    version: Annotated[str, msgspec.Meta(min_length=1, max_length=128)] | None = None
    """The version to check; without it, every advisory of the package with its affected ranges."""


class RangeInfo(msgspec.Struct, kw_only=True):
    """An OSV affected range."""

    type: str
    """SEMVER, ECOSYSTEM or GIT."""
    events: list[dict[str, str]]
    """OSV events: introduced, fixed, last_affected, limit."""


class AdvisoryInfo(msgspec.Struct, kw_only=True):
    """One advisory as it concerns the package asked about."""

    id: str
    """OSV id."""
    aliases: list[str]
    """Other ids: CVE-…, GHSA-…, PYSEC-…."""
    summary: str | None
    """One-line summary."""
    severity: str | None
    """none, low, medium, high or critical (or the source's own label)."""
    score: float | None
    """CVSS base score."""
    vector: str | None
    """CVSS vector."""
    published_at: dt.datetime | None
    """Published."""
    modified_at: dt.datetime | None
    """Last modified."""
    first_fixed: str | None
    """The first version that fixes it above the version asked about (the asker's release line); without a version, the lowest fix."""
    ranges: list[RangeInfo]
    """Affected ranges (only when no version was given)."""
    versions: list[str]
    """Explicitly listed affected versions (only when no version was given)."""
    references: list[str]
    """Where to read more."""
    sources: list[str]
    """Where the record came from: osv, import, pypi, npm."""


class Undetermined(msgspec.Struct, kw_only=True):
    """An advisory about the package that could not be evaluated for this version."""

    id: str
    """OSV id."""
    aliases: list[str]
    """Other ids."""
    reason: str
    """Why it could not be decided (unknown range type, unreadable version)."""


class AdvisoriesReply(msgspec.Struct, kw_only=True):
    """centralcloud.packages.advisories reply."""

    ecosystem: str
    """Ecosystem."""
    name: str
    """Normalized name."""
    purl: str
    """Package URL (with the version when one was asked about)."""
    version: str | None
    """The version checked, if any."""
    affected: bool | None
    """True when an advisory affects the version; None without a version or when some advisory is undetermined and none matched."""
    advisories: list[AdvisoryInfo]
    """Matching advisories, most severe first."""
    undetermined: list[Undetermined]
    """Advisories that could not be evaluated: treat as possibly affected."""
    checked_at: dt.datetime | None
    """When the package's advisories were last fetched from an advisory source (None: only registry or imported data)."""
    warnings: list[str]
    """Sources that failed for this answer, and other caveats."""


class SyncRunRequest(Request):
    """centralcloud.sync.run: start a sync now."""

    packages: Annotated[list[PackageName], msgspec.Meta(max_length=10000)] | None = None
    """Sync just these packages; without it, every package that is due."""


class SyncRunReply(msgspec.Struct, kw_only=True):
    """centralcloud.sync.run reply, sent at once."""

    run: int | None
    """Id of the run started, or of the run already under way."""
    started: bool
    """False when a run was already under way (on this or another replica)."""
    message: str
    """What happened, in words."""


class SyncStatusRequest(Request):
    """centralcloud.sync.status: the current or last runs."""

    run: int | None = None
    """One run by id; without it, the newest runs."""
    limit: Annotated[int, msgspec.Meta(ge=1, le=100)] = 10
    """How many runs without an id."""


class SourceCountsInfo(msgspec.Struct, kw_only=True):
    """Per-source counts of a run."""

    checked: int
    """Packages looked at."""
    unchanged: int
    """Unchanged at the source (a 304)."""
    updated: int
    """Fetched and stored anew."""
    failed: int
    """Failed, with reasons in failures."""


class SyncFailureInfo(msgspec.Struct, kw_only=True):
    """One package that failed."""

    ecosystem: str
    """Ecosystem."""
    name: str
    """Package."""
    source: str
    """Which source failed."""
    reason: str
    """Why."""
    failed_at: dt.datetime
    """When."""


class SyncRunInfo(msgspec.Struct, kw_only=True):
    """One run."""

    id: int
    """Run id."""
    state: str
    """running, succeeded, failed or interrupted."""
    phase: str | None
    """While running: syncing, advisories, repositories, downloads, scores or cleanup."""
    trigger: str
    """schedule, request or resume."""
    scheduled_for: dt.datetime | None
    """The cron tick it ran for."""
    started_at: dt.datetime
    """Start."""
    finished_at: dt.datetime | None
    """End."""
    total: int
    """Packages selected so far."""
    done: int
    """Packages handled so far (progress while running)."""
    counts: dict[str, SourceCountsInfo]
    """Counts per source."""
    failures: list[SyncFailureInfo]
    """Failed packages with reasons (first 50)."""
    error: str | None
    """Why the run itself failed, if it did."""


class SyncStatusReply(msgspec.Struct, kw_only=True):
    """centralcloud.sync.status reply."""

    runs: list[SyncRunInfo]
    """Newest first."""


# Subject → (request type, reply type); the schema generator and the service both read this.
ENDPOINTS: dict[str, tuple[type[msgspec.Struct], type[msgspec.Struct]]] = {
    "centralcloud.packages.get": (PackageGetRequest, PackageReply),
    "centralcloud.packages.search": (SearchRequest, SearchReply),
    "centralcloud.packages.request": (RequestPackagesRequest, RequestPackagesReply),
    "centralcloud.packages.advisories": (AdvisoriesRequest, AdvisoriesReply),
    "centralcloud.sync.run": (SyncRunRequest, SyncRunReply),
    "centralcloud.sync.status": (SyncStatusRequest, SyncStatusReply),
}
