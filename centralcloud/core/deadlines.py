"""The current request's deadline, visible to everything the request awaits.

The edge sets it for each request; the store reads it to bound how long a query or a wait
for a pooled connection may take, so a request needing a stalled PostgreSQL gets a quick
503 instead of hanging. Work that outlives its request (a shared on-demand fetch, the sync)
runs `detached`, without the deadline.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator

_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("centralcloud_deadline", default=None)


def remaining() -> float | None:
    """Seconds left before the current request's deadline (at least 0); None outside a request."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return None
    return max(0.0, deadline - time.monotonic())


@contextlib.contextmanager
def within(seconds: float) -> Iterator[None]:
    """Run the block under a deadline `seconds` from now (an outer, earlier one still applies)."""
    deadline = time.monotonic() + seconds
    outer = _DEADLINE.get()
    token = _DEADLINE.set(deadline if outer is None else min(outer, deadline))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def detached() -> contextvars.Context:
    """A copy of the current context without a deadline, for tasks that outlive their request."""
    context = contextvars.copy_context()
    context.run(_DEADLINE.set, None)
    return context
