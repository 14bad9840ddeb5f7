"""The need ranking's pure parts: relevance, naming, the popularity stand-in, sinks and the team lift."""

from __future__ import annotations

import datetime as dt

import pytest

from centralcloud.answers import ranking

NOW = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)


def signals(name: str, **kwargs: object) -> ranking.Signals:
    return ranking.Signals(**({"ecosystem": "cargo", "name": name, "relevance": 1.0} | kwargs))


def test_every_word_outweighs_any_text_rank_of_a_partial_match() -> None:
    full = ranking.relevance(every_word=True, text_rank=0.0)
    partial = ranking.relevance(every_word=False, text_rank=1.0)
    assert full == 1.0 and partial == pytest.approx(ranking.PARTIAL_MATCH + ranking.TEXT_RANK_WEIGHT)
    assert partial < full


def test_names_in_wants_the_name_as_a_word_of_its_own() -> None:
    assert ranking.names_in("Tokio-based single-threaded async runtime", "tokio")
    assert ranking.names_in("A Python ASGI web framework with the same API as Flask", "flask")
    assert ranking.names_in("based on Express and Socket.io", "socket.io")
    assert not ranking.names_in("Tokios are not tokio-like", "tok")
    assert not ranking.names_in(None, "tokio")


def test_downloads_stand_in_for_quality_within_its_bounds_and_in_order() -> None:
    factors = [ranking.quality_factor(signals("x", downloads=count)) for count in (None, 10**3, 10**6, 10**8, 10**12)]
    assert factors == sorted(factors) and factors[0] == 0.5 and factors[-1] == 1.0
    # A hundred million downloads weigh clearly more than a million (a plain log scale barely moved).
    assert factors[3] - factors[2] > 0.1
    # A stored score, when there is one, is the quality.
    assert ranking.quality_factor(signals("x", quality=80.0, downloads=10**12)) == pytest.approx(0.9)


def test_sinks_and_the_team_lift_and_their_reasons() -> None:
    plain = signals("plain", downloads=10**6)
    ranked = ranking.rank(
        [
            plain,
            signals("deprecated", downloads=10**6, deprecated=True),
            signals("vulnerable", downloads=10**6, advisories_latest=2),
            signals("team", downloads=10**6, team_instances=3, team_projects=4),
            signals("lonely", downloads=10**6, team_instances=1, team_projects=1),
            signals("built-on", relevance=1.0, downloads=10**6, foundation_of="actix-rt"),
        ],
        now=NOW,
        min_instances=3,
    )
    order = [item.signals.name for item in ranked]
    assert order[0] == "team" and order[-2:] == ["vulnerable", "deprecated"]
    # One instance's use is below the privacy threshold: it neither moves the order nor shows.
    by_name = {item.signals.name: item for item in ranked}
    assert by_name["lonely"].score == by_name["plain"].score
    assert not any("team" in reason for reason in by_name["lonely"].why)
    assert "used by 3 of your team's instances" in by_name["team"].why
    assert "what actix-rt builds on" in by_name["built-on"].why
    assert "deprecated" in by_name["deprecated"].why and "2 advisories on the latest version" in by_name["vulnerable"].why


def test_a_registry_search_hit_is_matched_like_a_stored_one() -> None:
    every = ranking.text_relevance(["task", "schedul"], name="node-cron", description="A simple cron-like task scheduler", keywords=())
    some = ranking.text_relevance(["task", "schedul"], name="tasks", description="A to-do list", keywords=())
    none = ranking.text_relevance(["task", "schedul"], name="left-pad", description="Pads strings", keywords=())
    assert every == pytest.approx(1.0 + ranking.TEXT_RANK_WEIGHT)
    assert some == pytest.approx(ranking.PARTIAL_MATCH + ranking.TEXT_RANK_WEIGHT / 2)
    assert none == 0.0
