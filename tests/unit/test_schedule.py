"""Scheduling decisions at fixed timestamps: no sleeping."""

from __future__ import annotations

import datetime as dt

import pytest

from centralcloud.core import errors
from centralcloud.jobs import schedule

UTC = dt.timezone.utc


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


DAILY = schedule.Schedule("0 2 * * *")


def test_next_tick_is_strictly_after() -> None:
    assert DAILY.next_tick(at("2026-11-29T01:59:59")) == at("2026-11-29T02:00:00")
    assert DAILY.next_tick(at("2026-11-29T02:00:00")) == at("2026-11-30T02:00:00")


def test_time_zone_is_respected() -> None:
    berlin = schedule.Schedule("0 2 * * *", timezone="Europe/Berlin")
    # 02:00 in Berlin is 01:00 UTC in winter and 00:00 UTC in summer.
    assert berlin.next_tick(at("2026-11-29T00:00:00")) == at("2026-11-29T01:00:00")
    assert berlin.next_tick(at("2026-07-01T00:30:00")) == at("2026-07-02T00:00:00")


def test_due_when_tick_passed_and_not_yet_run() -> None:
    assert DAILY.due(now=at("2026-11-29T02:00:05"), last_tick=at("2026-11-28T02:00:00")) == at("2026-11-29T02:00:00")


def test_not_due_when_that_tick_already_ran() -> None:
    assert DAILY.due(now=at("2026-11-29T13:00:00"), last_tick=at("2026-11-29T02:00:00")) is None
    assert DAILY.due(now=at("2026-11-29T01:59:59"), last_tick=at("2026-11-28T02:00:00")) is None


def test_missed_ticks_while_down_run_once() -> None:
    now = at("2026-12-02T09:00:00")
    last = at("2026-11-28T02:00:00")
    assert DAILY.due(now=now, last_tick=last) == at("2026-12-02T02:00:00")


def test_never_ran_runs_latest_tick() -> None:
    assert DAILY.due(now=at("2026-11-29T05:00:00"), last_tick=None) == at("2026-11-29T02:00:00")


def test_invalid_configuration_is_a_clear_error() -> None:
    with pytest.raises(errors.ConfigError, match="cron"):
        schedule.Schedule("every day")
    with pytest.raises(errors.ConfigError, match="time zone"):
        schedule.Schedule("0 2 * * *", timezone="Mars/Olympus")
