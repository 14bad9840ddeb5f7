"""centralcloud.packages.advisories: advisories affecting a package version."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec

from centralcloud.wire.messages import common


class AdvisoriesRequest(common.PackageName):
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

    id: str | None
    """OSV id; None when no advisory source could be asked about the package at all."""
    aliases: list[str]
    """Other ids."""
    reason: str
    """Why it could not be decided (unknown range type, unreadable version, no source answered)."""
    source: str | None = None
    """The advisory source that could not be asked, when that is the reason."""


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
    """True when an advisory affects the version; None without a version, when some advisory is undetermined and none matched, or when no advisory source answered within the configured freshness (never False for "could not check")."""
    advisories: list[AdvisoryInfo]
    """Matching advisories, most severe first."""
    undetermined: list[Undetermined]
    """Advisories that could not be evaluated: treat as possibly affected."""
    checked_at: dt.datetime | None
    """When the package's advisories were last fetched from an advisory source (None: only registry or imported data)."""
    warnings: list[str]
    """Sources that failed for this answer, and other caveats."""
    as_of: dt.datetime | None = None
    """Set when the answer rests on an imported advisory export: the date of that export's newest record."""
