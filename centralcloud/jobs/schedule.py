"""When the scheduled sync runs: pure functions of a timestamp around croniter.

The loop that uses them (`centralcloud.jobs.runner`) only sleeps until `next_tick` and asks
`due`; every decision is here and is tested with fixed timestamps.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

import croniter

from centralcloud.core import clock, errors


class Schedule:
    """A cron expression read in a time zone."""

    def __init__(self, expression: str, *, timezone: str = "UTC") -> None:
        try:
            self.zone = zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as err:
            raise errors.ConfigError(f"unknown time zone {timezone!r}") from err
        if not croniter.croniter.is_valid(expression):
            raise errors.ConfigError(f"invalid cron expression {expression!r}")
        self.expression = expression

    def next_tick(self, after: dt.datetime) -> dt.datetime:
        """The first tick strictly after `after` (an aware datetime), in UTC."""
        local = clock.aware(after).astimezone(self.zone)
        return croniter.croniter(self.expression, local).get_next(dt.datetime).astimezone(dt.timezone.utc)

    def previous_tick(self, at: dt.datetime) -> dt.datetime:
        """The last tick at or before `at`, in UTC."""
        local = clock.aware(at).astimezone(self.zone)
        probe = croniter.croniter(self.expression, local + dt.timedelta(seconds=1))
        return probe.get_prev(dt.datetime).astimezone(dt.timezone.utc)

    def due(self, *, now: dt.datetime, last_tick: dt.datetime | None) -> dt.datetime | None:
        """The tick to run now, or None.

        `last_tick` is the tick of the last scheduled run (None: never ran). Missed ticks are
        coalesced into one run for the most recent of them.
        """
        tick = self.previous_tick(now)
        if last_tick is not None and tick <= clock.aware(last_tick):
            return None
        return tick
