"""Readers for registry JSON, shared by every adapter's mapping.

Structurally required fields go through `expect`/`required` (BadResponse when
missing or mistyped); optional ones through the lenient readers, which turn bad
values into nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Iterator, Mapping
from typing import Any

from centralcloud.core import clock, errors

log = logging.getLogger(__name__)


@contextlib.contextmanager
def mapping_errors(*, source: str, ecosystem: str | None, package: str) -> Iterator[None]:
    """Last line of defence: a shape the mapping did not foresee becomes BadResponse, not a crash."""
    try:
        yield
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as err:
        log.error(
            "unexpected %s document for %s",
            source,
            package,
            exc_info=True,
            extra={"action": "source.map", "ecosystem": ecosystem, "package": package},
        )
        raise errors.BadResponse(
            f"{source} sent a document for {package} we could not read: {err!r}", source=source
        ) from err


def expect(value: Any, kind: type | tuple[type, ...], *, source: str, what: str) -> Any:
    """Return `value` when it has the type a required field must have, else raise BadResponse."""
    if not isinstance(value, kind):
        raise errors.BadResponse(f"{source} sent {what} as {type(value).__name__}", source=source)
    return value


def required(doc: Mapping[str, Any], key: str, kind: type | tuple[type, ...], *, source: str) -> Any:
    """`doc[key]`, which must exist and have type `kind`, else BadResponse."""
    return expect(doc.get(key), kind, source=source, what=f"{key!r}")


def text(value: object) -> str | None:
    """A non-blank string, stripped; None for anything else."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def obj(value: object) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def strings(value: object) -> tuple[str, ...]:
    """The non-blank strings of a JSON array, in order and without repeats; () for anything else."""
    if not isinstance(value, list):
        return ()
    return tuple(dict.fromkeys(item for item in map(text, value) if item))


def keywords(value: object) -> tuple[str, ...]:
    """Keywords given as an array or as one comma- or space-separated string."""
    if isinstance(value, str):
        # Commas win when present: a comma-separated keyword may hold spaces ("web framework").
        return strings(value.split(",") if "," in value else value.split())
    return strings(value)


def parse_timestamp(value: object) -> dt.datetime | None:
    """An ISO 8601 timestamp as an aware UTC datetime (naive ones are UTC); None if unreadable."""
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed.astimezone(dt.timezone.utc) if parsed.tzinfo else clock.aware(parsed)
