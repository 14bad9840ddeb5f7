"""The one table of subjects: what the service answers, the CLI asks, the schemas describe.

The service's endpoints and handler table, the CLI's requests, the JSON Schema files and
README's subject catalogue (checked by a test) all derive from `REQUESTS`; events that
replicas broadcast to each other, with no reply, are named here too.
"""

from __future__ import annotations

import dataclasses

import msgspec

from centralcloud.wire import messages

PREFIX = "centralcloud"
"""Every subject starts with this (and the service is named after it)."""


@dataclasses.dataclass(frozen=True)
class Subject:
    """A request-reply subject."""

    name: str
    """The full subject, such as centralcloud.packages.get."""
    request: type[msgspec.Struct]
    """What a request carries; decoded strictly."""
    reply: type[msgspec.Struct]
    """What a successful reply carries."""
    description: str
    """One line for the service's endpoint metadata (`nats micro info`)."""

    @property
    def local(self) -> str:
        """The subject below the prefix, such as packages.get."""
        return self.name.removeprefix(f"{PREFIX}.")


@dataclasses.dataclass(frozen=True)
class Event:
    """A subject that is published to, with no reply."""

    name: str
    """The full subject."""
    description: str
    """Who publishes it and what listeners do."""


PACKAGES_GET = Subject(
    name=f"{PREFIX}.packages.get",
    request=messages.PackageGetRequest,
    reply=messages.PackageReply,
    description="Facts about one package, fetched on demand",
)
PACKAGES_SEARCH = Subject(
    name=f"{PREFIX}.packages.search",
    request=messages.SearchRequest,
    reply=messages.SearchReply,
    description="Full-text package search blended with popularity",
)
PACKAGES_REQUEST = Subject(
    name=f"{PREFIX}.packages.request",
    request=messages.RequestPackagesRequest,
    reply=messages.RequestPackagesReply,
    description="Ask the sync to keep packages fresh",
)
PACKAGES_ADVISORIES = Subject(
    name=f"{PREFIX}.packages.advisories",
    request=messages.AdvisoriesRequest,
    reply=messages.AdvisoriesReply,
    description="Security advisories affecting a package version, most severe first",
)
SYNC_RUN = Subject(
    name=f"{PREFIX}.sync.run",
    request=messages.SyncRunRequest,
    reply=messages.SyncRunReply,
    description="Start a sync run now (all due packages, or the given ones)",
)
SYNC_STATUS = Subject(
    name=f"{PREFIX}.sync.status",
    request=messages.SyncStatusRequest,
    reply=messages.SyncStatusReply,
    description="Current or last sync runs with progress and failures",
)

# ---- answers ----
PACKAGES_RECOMMEND = Subject(
    name=f"{PREFIX}.packages.recommend",
    request=messages.RecommendRequest,
    reply=messages.RecommendReply,
    description="The version of a package to use, with the newer ones skipped and why",
)
PACKAGES_RECOMMENDATIONS = Subject(
    name=f"{PREFIX}.packages.recommendations",
    request=messages.RecommendationsRequest,
    reply=messages.RecommendationsReply,
    description="Packages for a need, ranked by relevance, quality and the team's use",
)
PACKAGES_DEPENDENCIES = Subject(
    name=f"{PREFIX}.packages.dependencies",
    request=messages.DependenciesRequest,
    reply=messages.DependenciesReply,
    description="A version's dependency tree resolved as its installer would, with chains to a target",
)
PACKAGES_DEPENDENTS = Subject(
    name=f"{PREFIX}.packages.dependents",
    request=messages.DependentsRequest,
    reply=messages.DependentsReply,
    description="Stored packages depending on a package, and the team's use of it",
)
FRAMEWORKS_GET = Subject(
    name=f"{PREFIX}.frameworks.get",
    request=messages.FrameworkGetRequest,
    reply=messages.FrameworkReply,
    description="A framework's stack: its dependencies, plugins and the team's companions",
)
FRAMEWORKS_DETECT = Subject(
    name=f"{PREFIX}.frameworks.detect",
    request=messages.FrameworksDetectRequest,
    reply=messages.FrameworksDetectReply,
    description="The frameworks among a list of packages",
)
ANSWERS: tuple[Subject, ...] = (
    PACKAGES_RECOMMEND, PACKAGES_RECOMMENDATIONS, PACKAGES_DEPENDENCIES, PACKAGES_DEPENDENTS,
    FRAMEWORKS_GET, FRAMEWORKS_DETECT,
)
# ---- end answers ----

# --- safety (issue 11) ---
HEALTH = Subject(
    name=f"{PREFIX}.health",
    request=messages.HealthRequest,
    reply=messages.HealthReply,
    description="PostgreSQL, NATS and each source: up, down or degraded, with latency and the last error",
)
# --- end safety ---

# Pattern knowledge (issue 8).
PATTERNS_USAGE = Subject(
    name=f"{PREFIX}.patterns.usage",
    request=messages.UsageRequest,
    reply=messages.UsageReply,
    description="Who in the team uses a package: instances, projects, versions, trend",
)
PATTERNS_PAIRS = Subject(
    name=f"{PREFIX}.patterns.pairs",
    request=messages.PairsRequest,
    reply=messages.PairsReply,
    description="Packages used together with a package, strongest first",
)
PATTERNS_POPULAR = Subject(
    name=f"{PREFIX}.patterns.popular",
    request=messages.PopularRequest,
    reply=messages.PopularReply,
    description="The team's top packages, pairs or learned patterns, with trend",
)
PATTERNS_INSTANCE = Subject(
    name=f"{PREFIX}.patterns.instance",
    request=messages.InstanceRequest,
    reply=messages.InstanceReply,
    description="One instance's projects and rejected reports",
)

REQUESTS: tuple[Subject, ...] = (
    PACKAGES_GET, PACKAGES_SEARCH, PACKAGES_REQUEST, PACKAGES_ADVISORIES, SYNC_RUN, SYNC_STATUS, *ANSWERS,
    HEALTH, PATTERNS_USAGE, PATTERNS_PAIRS, PATTERNS_POPULAR, PATTERNS_INSTANCE,
)
"""Every request-reply subject the service answers."""

CACHE_INVALIDATE = Event(
    name=f"{PREFIX}.cache.invalidate",
    description=(
        "A CacheInvalidation: sent when a sync run ends (every replica drops its cached answers, since scores"
        " moved for all) and when pattern aggregates are recomputed (every replica drops that group)"
    ),
)

# Pattern knowledge (issue 8): published events, kept by JetStream streams.
PATTERNS_REPORT = Event(
    name=f"{PREFIX}.patterns.report",
    description="An instance publishes a dependency report on PATTERNS_REPORT.<instance>; stream CENTRALCLOUD_REPORTS keeps it",
)
ALERTS = Event(
    name=f"{PREFIX}.alerts",
    description="The service publishes an Alert on ALERTS.<instance>; stream CENTRALCLOUD_ALERTS keeps it for the instance",
)

INSTANCE_USER = "instance-{instance}"
"""The NATS user name of an instance: its replies come to `_INBOX_instance-<id>`, which only it may read."""

REPORTS_STREAM = "CENTRALCLOUD_REPORTS"
"""The JetStream stream keeping every report (`PATTERNS_REPORT.>`) until the service has learned it."""
ALERTS_STREAM = "CENTRALCLOUD_ALERTS"
"""The JetStream stream keeping every alert (`ALERTS.>`) for instances that are offline."""
