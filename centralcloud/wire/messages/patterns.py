"""centralcloud.patterns.*: what the team's instances use and what goes together; alerts.

Counts shared by fewer than CENTRALCLOUD_PATTERN_MIN_INSTANCES instances are left out of
every answer, and no answer names another instance (docs/patterns.md).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

from centralcloud.wire.messages import common

Limit = Annotated[int, msgspec.Meta(ge=1, le=100)]
InstanceId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class UsageRequest(common.PackageName):
    """centralcloud.patterns.usage: who in the team uses a package."""


class VersionUsage(msgspec.Struct, kw_only=True):
    """One version in use."""

    version: str
    """The resolved version the reports name."""
    instances: int
    """Distinct instances with a project on it (shown only at or above the threshold)."""


class Trend(msgspec.Struct, kw_only=True):
    """Movement over the last 30 days."""

    added_30d: int
    """Distinct instances with a project that started using it."""
    dropped_30d: int
    """Distinct instances with a project that stopped using it."""


class UsageReply(msgspec.Struct, kw_only=True):
    """centralcloud.patterns.usage reply."""

    ecosystem: str
    """The purl type."""
    name: str
    """The normalized name."""
    purl: str
    """The package URL, without a version."""
    instances: int
    """Distinct instances whose reports name it, directly or not."""
    projects: int
    """Distinct projects (of all instances) whose reports name it."""
    direct_instances: int
    """Distinct instances with a project that depends on it directly."""
    versions: list[VersionUsage]
    """Versions in use, most instances first; only those shared by enough instances."""
    first_seen: dt.datetime | None
    """When a report first named it."""
    last_seen: dt.datetime | None
    """The newest report that names it."""
    trend: Trend
    """Adds and drops in the last 30 days."""


class PairsRequest(common.PackageName):
    """centralcloud.patterns.pairs: what goes together with a package."""

    limit: Limit = 10
    """How many pairs at most."""


class PairInfo(msgspec.Struct, kw_only=True):
    """A package used together with the asked one, over direct dependencies of the same project."""

    purl: str
    """The other package."""
    projects: int
    """Projects that use both."""
    instances: int
    """Distinct instances among those projects."""
    support: float
    """Share of all projects that use both."""
    confidence: float
    """Share of the projects using the asked package that also use this one."""
    confidence_reverse: float
    """Share of the projects using this package that also use the asked one."""
    lift: float
    """How many times more often they go together than if independent (1: independent)."""
    npmi: float
    """Normalized PMI in [-1, 1]; pairs are ordered by it."""


class PairsReply(msgspec.Struct, kw_only=True):
    """centralcloud.patterns.pairs reply."""

    purl: str
    """The asked package."""
    pairs: list[PairInfo]
    """Strongest first; only pairs shared by enough instances."""
    transactions: int
    """Projects with a direct dependency at the last recompute (the N of every measure)."""
    computed_at: dt.datetime | None
    """When pairs were last recomputed (after reports arrive, and in each sync)."""


class PopularRequest(common.Request):
    """centralcloud.patterns.popular: the team's top packages, pairs or learned patterns."""

    kind: Literal["packages", "pairs", "patterns"] = "packages"
    """What to rank."""
    ecosystem: common.EcosystemName | None = None
    """Only packages (or pairs with a package) of this purl type."""
    limit: Limit = 20
    """How many at most."""


class PopularPackage(msgspec.Struct, kw_only=True):
    """A package many instances use directly."""

    purl: str
    """The package."""
    instances: int
    """Distinct instances using it directly."""
    projects: int
    """Projects using it directly."""
    trend: Trend
    """Adds and drops in the last 30 days."""


class PopularPair(msgspec.Struct, kw_only=True):
    """Two packages many projects use together."""

    purls: list[str]
    """The two packages."""
    projects: int
    """Projects using both."""
    instances: int
    """Distinct instances among them."""
    lift: float
    """How many times more often together than if independent."""
    npmi: float
    """Normalized PMI in [-1, 1]."""


class AssociatedPackage(msgspec.Struct, kw_only=True):
    """A package that goes with a learned pattern."""

    purl: str
    """The package."""
    projects: int
    """Projects with both the pattern and the package."""
    lift: float
    """How many times more often together than if independent."""


class PopularPattern(msgspec.Struct, kw_only=True):
    """A framework, architecture pattern or practice the instances detected."""

    kind: str
    """framework, architecture, practice, ..."""
    name: str
    """The pattern's name, lower-case."""
    instances: int
    """Distinct instances with a project showing it."""
    projects: int
    """Projects showing it."""
    trend: Trend
    """Adds and drops in the last 30 days."""
    associated: list[AssociatedPackage]
    """The packages most associated with it, by lift."""
    first_seen: dt.datetime
    """The first report that named it."""
    last_seen: dt.datetime
    """The newest report that names it."""


class PopularReply(msgspec.Struct, kw_only=True):
    """centralcloud.patterns.popular reply; the list named by `kind` is filled."""

    kind: str
    """What was ranked."""
    packages: list[PopularPackage] = []
    """With kind packages: most instances first."""
    pairs: list[PopularPair] = []
    """With kind pairs: most projects first."""
    patterns: list[PopularPattern] = []
    """With kind patterns: most instances first."""


class InstanceRequest(common.Request):
    """centralcloud.patterns.instance: one instance's own reports."""

    instance: InstanceId
    """The instance id, as in its report subject."""
    limit: Limit = 50
    """Rejected reports listed at most."""


class EntryReject(msgspec.Struct, kw_only=True):
    """An entry of a kept report that could not be read."""

    index: int
    """Its position in the format's entry list."""
    reason: str
    """bad_entry, missing_purl, malformed_purl, invalid_name or bad_pattern."""
    detail: str
    """What was wrong."""
    excerpt: str
    """The start of the entry as sent."""


class InstanceProject(msgspec.Struct, kw_only=True):
    """A project the instance reports."""

    project: str
    """The project's name."""
    format: str
    """The format of its last report: native, cyclonedx, spdx or github."""
    dependencies: int
    """Dependencies in its current set."""
    first_reported_at: dt.datetime
    """Its first report."""
    last_reported_at: dt.datetime
    """Its last report, changed or not."""
    changed_at: dt.datetime
    """When its set last changed."""
    rejected_entries: int
    """Entries of the last report that could not be read."""
    rejects: list[EntryReject]
    """The first of those entries, with why."""


class RejectedReport(msgspec.Struct, kw_only=True):
    """A report that could not be used at all."""

    message_id: str | None
    """Its Nats-Msg-Id, when it had one."""
    project: str | None
    """Its Project header, when it had one."""
    reason: str
    """not_json, unknown_format, too_large, too_many_dependencies, wrong_types, bad_project, bad_instance or internal."""
    detail: str
    """What was wrong."""
    received_at: dt.datetime
    """When it was recorded."""


class InstanceReply(msgspec.Struct, kw_only=True):
    """centralcloud.patterns.instance reply."""

    instance: str
    """The instance."""
    projects: list[InstanceProject]
    """Its projects, latest report first."""
    rejected: list[RejectedReport]
    """Its rejected reports, newest first."""


class AlertAdvisory(msgspec.Struct, kw_only=True):
    """The advisory an alert is about."""

    id: str
    """The advisory id."""
    aliases: list[str]
    """Other ids: CVE-…, GHSA-…."""
    summary: str | None
    """One line."""
    severity: str | None
    """CRITICAL, HIGH, MODERATE or LOW, when known."""
    first_fixed: str | None
    """The first fixing version above the reported one, on its release line."""


class Alert(msgspec.Struct, kw_only=True):
    """Published on centralcloud.alerts.<instance>, once per (project, purl@version, advisory or kind)."""

    instance: str
    """The instance the alert is for."""
    project: str
    """The project that reported the version."""
    purl: str
    """The package URL with the reported version."""
    version: str
    """The reported resolved version."""
    kind: Literal["advisory", "yanked", "deprecated"]
    """What happened to it."""
    advisory: AlertAdvisory | None
    """With kind advisory: which one."""
    reason: str | None
    """With yanked or deprecated: the registry's reason, when given."""
    detected_at: dt.datetime
    """When the service found it."""
