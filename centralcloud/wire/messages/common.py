"""What every message shares: name limits, the request base, error replies, a package's name."""

from __future__ import annotations

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
    """Stable machine-readable kind: bad_request, invalid_name, unknown_ecosystem, payload_too_large, invalid_version, invalid_requirement, report_rejected (400); forbidden (403); not_found, no_candidate (404); rate_limited (429); source_unavailable, bad_response, database_unavailable, overloaded (503); deadline_exceeded (504); database, config, internal (500). With 429 and 503, details.retry_after (seconds) says when to try again where known."""
    message: str
    """Human-readable explanation."""
    status: int
    """The same status as the Nats-Service-Error-Code header (400, 404, 429, 500, 503, 504)."""
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


class CacheInvalidation(msgspec.Struct, kw_only=True):
    """Published on the cache invalidation subject: what every replica drops from its read cache."""

    all: bool = False
    """Drop everything (a sync run ended: scores moved for all packages)."""
    group: str | None = None
    """Drop one group of answers, such as `patterns:` after the pattern aggregates were recomputed."""
