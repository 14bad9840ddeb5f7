"""Popularity that says "unknown", dependents that cannot outrank real downloads, and the pure helpers
of the downloads phase."""

from __future__ import annotations

import datetime as dt

import pytest

from centralcloud.facts import popularity, score_inputs
from centralcloud.jobs import downloads
from centralcloud.facts import quality
from centralcloud.sources import npm_downloads

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)


def scored(*signals: score_inputs.Signals) -> dict[str, quality.Score]:
    return {score.name: score for score in quality.compute(list(signals), now=NOW)}


def test_no_signal_at_all_is_unknown_not_zero() -> None:
    scores = scored(score_inputs.Signals(ecosystem="npm", name="quiet", releases=(NOW - dt.timedelta(days=10),)))
    quiet = scores["quiet"]
    assert quiet.popularity is None
    assert quiet.parts["popularity_unknown"] == popularity.UNKNOWN_REASON
    # The overall score is the weighted mean of the three known dimensions, and says so.
    assert quiet.parts["score_over"] == "maintenance, security, community"
    expected = (0.30 * quiet.maintenance + 0.25 * quiet.security + 0.15 * quiet.community) / 0.70
    assert quiet.score == pytest.approx(expected, abs=0.01)


def test_no_dependents_in_the_store_is_no_evidence() -> None:
    scores = scored(
        score_inputs.Signals(ecosystem="npm", name="used-everywhere", recent_downloads=150_000_000, dependents=0),
        score_inputs.Signals(ecosystem="npm", name="used-here", recent_downloads=150_000_000, dependents=5),
    )
    assert scores["used-everywhere"].parts["dependents_score"] is None
    assert scores["used-everywhere"].popularity == scores["used-everywhere"].parts["recent_downloads_score"]


def test_dependents_alone_never_outrank_real_download_counts() -> None:
    scores = scored(
        score_inputs.Signals(ecosystem="npm", name="big", recent_downloads=150_000_000),
        score_inputs.Signals(ecosystem="npm", name="small", recent_downloads=2_000),
        score_inputs.Signals(ecosystem="npm", name="many-dependents", dependents=400),
        score_inputs.Signals(ecosystem="pypi", name="alone-in-pypi", dependents=400),
    )
    small, propped = scores["small"], scores["many-dependents"]
    assert small.popularity is not None and propped.popularity is not None
    assert propped.popularity <= small.popularity
    assert propped.parts["popularity_cap"] == small.popularity
    assert propped.parts["popularity_uncapped"] > small.popularity  # type: ignore[operator]
    # Where no package of the ecosystem has download counts there is nothing to stay below.
    assert "popularity_cap" not in scores["alone-in-pypi"].parts
    assert scores["alone-in-pypi"].popularity == scores["alone-in-pypi"].parts["dependents_score"]


def test_stars_are_a_signal_of_their_own() -> None:
    scores = scored(
        score_inputs.Signals(ecosystem="npm", name="downloaded", recent_downloads=1_000),
        score_inputs.Signals(ecosystem="npm", name="starred", stars=50_000, dependents=3),
    )
    assert "popularity_cap" not in scores["starred"].parts
    assert scores["starred"].popularity > scores["downloaded"].popularity  # type: ignore[operator]


def test_weekly_sums_twelve_weeks_oldest_first() -> None:
    end = dt.date(2026, 5, 31)
    days = {end - dt.timedelta(days=offset): 1 for offset in range(100)}
    days[end] = 10
    series = downloads.weekly(days, end=end)
    assert series == [7] * 11 + [16]
    assert downloads.weekly({end - dt.timedelta(days=84): 5}, end=end) == [0] * 12  # before the window


@pytest.mark.parametrize(
    ("count", "sizes"), [(2, [2]), (128, [128]), (129, [65, 64]), (257, [86, 86, 85]), (0, [])]
)
def test_bulk_chunks_are_even_and_never_leave_a_lone_name(count: int, sizes: list[int]) -> None:
    names = [f"p{index}" for index in range(count)]
    chunks = list(npm_downloads.chunks(names))
    assert [len(chunk) for chunk in chunks] == sizes
    assert [name for chunk in chunks for name in chunk] == names


def test_the_cli_shows_unknown_popularity_and_each_period() -> None:
    from centralcloud.runtime import display as cli

    assert cli._quality({"score": 61.2, "popularity": None, "maintenance": 70, "security": 100, "community": 0}) == (
        "61/100 (popularity unknown, maintenance 70, security 100, community 0)"
    )
    shown = cli._downloads({"last_week": 3_501_877, "last_month": 14_803_412, "total": None, "last_90_days": None})
    assert shown == "3,501,877 last week, 14,803,412 last month"
    assert cli._downloads(None) is None
