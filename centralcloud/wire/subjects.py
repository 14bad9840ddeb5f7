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

# --- safety (issue 11) ---
HEALTH = Subject(
    name=f"{PREFIX}.health",
    request=messages.HealthRequest,
    reply=messages.HealthReply,
    description="PostgreSQL, NATS and each source: up, down or degraded, with latency and the last error",
)
# --- end safety ---

REQUESTS: tuple[Subject, ...] = (
    PACKAGES_GET, PACKAGES_SEARCH, PACKAGES_REQUEST, PACKAGES_ADVISORIES, SYNC_RUN, SYNC_STATUS,
    HEALTH,
)
"""Every request-reply subject the service answers."""

CACHE_INVALIDATE = Event(
    name=f"{PREFIX}.cache.invalidate",
    description="Sent when a sync run ends; every replica drops its cached answers, since scores moved for all",
)
