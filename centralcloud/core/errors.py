"""The project's exceptions.

Every expected failure is a `CentralCloudError` with a stable wire code (the
`Nats-Service-Error-Code` header) and a machine-readable `kind` that clients can
switch on. The service edge turns these into error replies; nothing else ever
reaches a client.
"""

from __future__ import annotations


class CentralCloudError(Exception):
    """Base of every expected failure."""

    status: int = 500
    kind: str = "internal"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = {key: value for key, value in details.items() if value is not None}


class BadRequest(CentralCloudError):
    """The request is malformed: invalid JSON, wrong types, unknown fields' values."""

    status = 400
    kind = "bad_request"


class InvalidName(BadRequest):
    """A package name that is not valid in its ecosystem."""

    kind = "invalid_name"


class UnknownEcosystem(BadRequest):
    """An ecosystem (purl type) the service does not know."""

    kind = "unknown_ecosystem"


class PayloadTooLarge(BadRequest):
    """A request body over the configured cap."""

    kind = "payload_too_large"


class Forbidden(CentralCloudError):
    """The caller may not ask this (an instance asking about another instance)."""

    status = 403
    kind = "forbidden"


class NotFound(CentralCloudError):
    """The package (or version) does not exist at its registry."""

    status = 404
    kind = "not_found"


class SourceError(CentralCloudError):
    """A registry or data source failed; `source` names which one."""

    status = 503
    kind = "source_unavailable"

    def __init__(self, message: str, *, source: str, **details: object) -> None:
        super().__init__(message, source=source, **details)
        self.source = source


class SourceUnavailable(SourceError):
    """The source timed out, refused, or kept answering 429/5xx past our retries."""


class BadResponse(SourceError):
    """The source answered with something we cannot use (HTML, truncated or mistyped JSON, too large)."""

    kind = "bad_response"


class DeadlineExceeded(CentralCloudError):
    """An on-demand fetch did not finish within the request's deadline."""

    status = 504
    kind = "deadline_exceeded"


class DatabaseError(CentralCloudError):
    """PostgreSQL failed; raised only by `centralcloud.db`."""

    status = 500
    kind = "database"


class DatabaseUnavailable(DatabaseError):
    """PostgreSQL did not answer within the request's deadline (or no connection was free)."""

    status = 503
    kind = "database_unavailable"


class TryAgain(CentralCloudError):
    """A refusal answered at once, with `details.retry_after` (seconds) instead of a silent wait."""

    def __init__(self, message: str, *, retry_after: float, **details: object) -> None:
        super().__init__(message, retry_after=round(retry_after, 3), **details)
        self.retry_after = retry_after


class Overloaded(TryAgain):
    """A bound was reached: requests in flight, or background fetches of a source."""

    status = 503
    kind = "overloaded"


class RateLimited(TryAgain):
    """A caller sent more than its share."""

    status = 429
    kind = "rate_limited"


class ConfigError(CentralCloudError):
    """The configuration is incomplete or contradictory."""

    kind = "config"
