"""Time as the whole service reads it: aware, in UTC."""

from __future__ import annotations

import datetime as dt
from typing import overload


def utcnow() -> dt.datetime:
    """Now, in UTC."""
    return dt.datetime.now(dt.timezone.utc)


@overload
def aware(value: dt.datetime) -> dt.datetime: ...
@overload
def aware(value: None) -> None: ...
def aware(value: dt.datetime | None) -> dt.datetime | None:
    """Give naive timestamps the UTC zone that registries and PostgreSQL mean by them."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value
