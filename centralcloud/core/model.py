"""The normalized model every source maps its registry's JSON into.

Adapters produce these; the store writes them; replies are built from what the
store reads back. Ecosystem names are the purl types: npm, cargo, hex, pypi.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import msgspec

DependencyKind = Literal["runtime", "dev", "optional", "peer", "build"]


class Dependency(msgspec.Struct, frozen=True, kw_only=True):
    """A dependency declared by one version of a package."""

    name: str
    """Normalized name of the package depended upon."""
    ecosystem: str
    """Ecosystem of the package depended upon (normally the depender's own)."""
    requirement: str
    """The version requirement exactly as declared ("^4.17.0", ">=2.0,<3", "~> 1.7")."""
    kind: DependencyKind = "runtime"
    """runtime, dev, optional, peer or build."""
    optional: bool = False
    """True when the dependency is only pulled in on request (extras, optional peers, features)."""
    condition: str | None = None
    """Extra, feature or environment marker that activates it, when there is one."""
    alias: str | None = None
    """The name the depender uses for it when that differs from `name` (Cargo's `package =` renames)."""
    features: tuple[str, ...] = ()
    """Features (Cargo) or extras (PyPI) the depender asks of it."""
    default_features: bool = True
    """Whether its default features are wanted too (Cargo's `default-features`)."""


class Version(msgspec.Struct, frozen=True, kw_only=True):
    """One published version of a package."""

    number: str
    """The version string as the registry spells it."""
    published_at: dt.datetime | None = None
    """When it was published (UTC), if the registry says."""
    prerelease: bool = False
    """True for alpha/beta/rc/dev releases by the ecosystem's own rules."""
    yanked: bool = False
    """Withdrawn by its publisher (PyPI/crates.io yanked, Hex retired)."""
    yanked_reason: str | None = None
    """Why it was withdrawn, when given."""
    deprecated: bool = False
    """Marked deprecated (npm's per-version `deprecated`)."""
    deprecated_reason: str | None = None
    """The deprecation message, when given."""
    licenses: tuple[str, ...] = ()
    """Licenses declared by this version, when they differ per version."""
    dependencies: tuple[Dependency, ...] | None = None
    """Declared dependencies; None when the source did not say (not fetched), () when none."""
    requires_runtime: str | None = None
    """The runtime this version needs, in the runtime's own requirement syntax: PyPI Requires-Python,
    npm engines.node, Cargo rust_version (a minimum), Hex's elixir requirement."""
    features: dict[str, tuple[str, ...]] | None = None
    """Cargo features: each feature's name and what it enables ("dep:x", "x/feat", "x?/feat", other features)."""
    metadata_url: str | None = None
    """Where this version's core metadata can be read without downloading it (PyPI's PEP 658 file)."""


class SourceAdvisory(msgspec.Struct, frozen=True, kw_only=True):
    """An advisory a package registry carries itself (PyPI's `vulnerabilities`)."""

    id: str
    """The advisory's id at its source (PYSEC-…, GHSA-…, OSV id)."""
    aliases: tuple[str, ...] = ()
    """Other ids of the same advisory (CVE-…, GHSA-…)."""
    summary: str | None = None
    """One-line summary."""
    details: str | None = None
    """Long description."""
    fixed_in: tuple[str, ...] = ()
    """Versions that fix it."""
    affected_versions: tuple[str, ...] = ()
    """Versions the source lists as affected."""
    link: str | None = None
    """Where to read more."""
    withdrawn: dt.datetime | None = None
    """When it was withdrawn, if it was."""


class PackageFacts(msgspec.Struct, kw_only=True):
    """Everything one registry says about one package."""

    ecosystem: str
    """npm, cargo, hex or pypi."""
    name: str
    """Normalized name (PEP 503 for PyPI, lower-case for npm/cargo/hex)."""
    display_name: str
    """The name as the registry displays it."""
    description: str | None = None
    """Short description."""
    keywords: tuple[str, ...] = ()
    """Keywords or tags declared by the publisher."""
    classifiers: tuple[str, ...] = ()
    """Trove classifiers (PyPI) or categories (crates.io)."""
    licenses: tuple[str, ...] = ()
    """License identifiers or names of the latest version."""
    homepage: str | None = None
    """Homepage link."""
    repository_url: str | None = None
    """Source repository link, normalized to https where recognizable."""
    documentation_url: str | None = None
    """Documentation link."""
    latest_version: str | None = None
    """The registry's own notion of latest (npm dist-tag latest; newest stable non-yanked elsewhere)."""
    deprecated: bool = False
    """The package as a whole is deprecated or retired."""
    deprecated_reason: str | None = None
    """Why, when given."""
    downloads: int | None = None
    """Total downloads, when the registry says."""
    recent_downloads: int | None = None
    """Recent downloads (last 90 days or the registry's own window), when given."""
    peer_frameworks: tuple[str, ...] = ()
    """Peer dependencies of the latest version: frameworks the package plugs into."""
    versions: tuple[Version, ...] = ()
    """Every version the registry lists."""
    advisories: tuple[SourceAdvisory, ...] = ()
    """Advisories the registry itself attaches to the package."""
    extra: dict[str, object] = msgspec.field(default_factory=dict)
    """Source-specific facts kept for later use (crates.io features, hex build tools)."""


class Found(msgspec.Struct, frozen=True, kw_only=True):
    """A package a registry's own search named: enough to rank it before its facts are fetched."""

    ecosystem: str
    """npm, cargo or hex (PyPI has no search endpoint)."""
    name: str
    """Normalized name."""
    description: str | None = None
    """Short description."""
    keywords: tuple[str, ...] = ()
    """Keywords the registry lists with it."""
    latest_version: str | None = None
    """Its latest version as the search says."""
    downloads: int | None = None
    """Downloads as the search says (npm's search gives none)."""


class FetchResult(msgspec.Struct, kw_only=True):
    """What an adapter's fetch returns."""

    package: PackageFacts | None
    """The facts, or None when the source answered 304 Not Modified."""
    etag: str | None = None
    """The validator to send as If-None-Match next time."""
    last_modified: str | None = None
    """The validator to send as If-Modified-Since next time."""

    @property
    def not_modified(self) -> bool:
        return self.package is None


class AffectedRange(msgspec.Struct, frozen=True, kw_only=True):
    """One OSV `ranges` entry."""

    type: str
    """SEMVER, ECOSYSTEM or GIT."""
    events: tuple[dict[str, str], ...]
    """OSV events in the record's order: {"introduced": v}, {"fixed": v}, {"last_affected": v}, {"limit": v}."""


class AffectedPackage(msgspec.Struct, frozen=True, kw_only=True):
    """The part of an advisory about one package."""

    ecosystem: str
    """Our ecosystem name (npm, cargo, hex, pypi)."""
    name: str
    """Normalized package name."""
    ranges: tuple[AffectedRange, ...] = ()
    """Affected version ranges."""
    versions: tuple[str, ...] = ()
    """Explicitly listed affected versions."""
    flags: tuple[str, ...] = ()
    """Problems found while reading it (e.g. "unknown_range_type:GIT"); flagged entries are kept, never matched silently."""


class Advisory(msgspec.Struct, kw_only=True):
    """A security advisory, merged across sources by its OSV id and aliases."""

    id: str
    """OSV id (GHSA-…, PYSEC-…, RUSTSEC-…)."""
    aliases: tuple[str, ...] = ()
    """Other ids of the same advisory (CVE-…, GHSA-…)."""
    summary: str | None = None
    """One-line summary."""
    details: str | None = None
    """Long description."""
    severity_vector: str | None = None
    """CVSS vector string, when given."""
    severity_score: float | None = None
    """CVSS base score computed from the vector."""
    severity: str | None = None
    """none, low, medium, high or critical."""
    published: dt.datetime | None = None
    """When it was published."""
    modified: dt.datetime | None = None
    """When it was last modified."""
    withdrawn: dt.datetime | None = None
    """When it was withdrawn, if it was."""
    references: tuple[str, ...] = ()
    """Reference URLs."""
    affected: tuple[AffectedPackage, ...] = ()
    """Affected packages in the ecosystems we know."""
    source: str = "osv"
    """Where it came from: osv, pypi, npm, import."""


class RepositoryFacts(msgspec.Struct, kw_only=True):
    """Facts about a source repository (GitHub)."""

    url: str
    """Normalized https URL."""
    host: str
    """github.com."""
    owner: str
    """Owner login."""
    name: str
    """Repository name."""
    description: str | None = None
    """Description."""
    stars: int | None = None
    """Stargazers."""
    forks: int | None = None
    """Forks."""
    open_issues: int | None = None
    """Open issues (GitHub counts pull requests too)."""
    pushed_at: dt.datetime | None = None
    """Last push."""
    archived: bool | None = None
    """Archived."""
    disabled: bool | None = None
    """Disabled."""
    license: str | None = None
    """SPDX id of the detected license."""
    topics: tuple[str, ...] = ()
    """Topics."""
    default_branch: str | None = None
    """Default branch."""
