"""Quality scores at a fixed `now`: concrete numbers, no clock, no database."""

from __future__ import annotations

import datetime as dt
import random

import msgspec
import pytest

from centralcloud.facts import popularity, quality, score_inputs

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 6, 1, tzinfo=UTC)


def days_ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def package(name: str, *, ecosystem: str = "npm", **fields: object) -> score_inputs.Signals:
    return score_inputs.Signals(ecosystem=ecosystem, name=name, **fields)


def by_name(scores: list[quality.Score]) -> dict[str, quality.Score]:
    return {score.name: score for score in scores}


def only(signals: score_inputs.Signals) -> quality.Score:
    [score] = quality.compute([signals], now=NOW)
    return score


def test_percentile_rank_is_mid_rank_with_ties_shared_and_zero_at_zero() -> None:
    population = sorted([0.0, 0.0, 5.0, 5.0, 10.0])
    assert popularity.percentile_rank(10.0, population) == pytest.approx(90.0)
    assert popularity.percentile_rank(5.0, population) == pytest.approx(60.0)
    assert popularity.percentile_rank(0.0, population) == 0.0


def test_popularity_orders_packages_within_an_ecosystem() -> None:
    signals = [
        package(f"p{i}", downloads=10 ** (i + 1), stars=10 * (i + 1), dependents=i + 1) for i in range(5)
    ]
    scores = quality.compute(signals, now=NOW)
    assert [s.parts["downloads_percentile"] for s in scores] == [10.0, 30.0, 50.0, 70.0, 90.0]
    assert [s.parts["downloads_population"] for s in scores] == [5] * 5
    popularity = [s.popularity for s in scores]
    assert popularity == sorted(popularity) and len(set(popularity)) == 5


def test_popularity_is_comparable_across_ecosystems() -> None:
    hex_packages = [
        package(f"hex{i}", ecosystem="hex", downloads=1_000 * 2**i, stars=5 * 2**i, dependents=i + 1)
        for i in range(10)
    ]
    npm_packages = [
        package(f"npm{i}", ecosystem="npm", downloads=1_000_000 * 2**i, stars=50 * 2**i, dependents=10 * (i + 1))
        for i in range(10)
    ]
    scores = by_name(quality.compute([*hex_packages, *npm_packages], now=NOW))
    top_hex, top_npm = scores["hex9"], scores["npm9"]
    assert top_npm.parts["downloads"] == 1000 * top_hex.parts["downloads"]
    assert top_hex.parts["downloads_percentile"] == top_npm.parts["downloads_percentile"] == 95.0
    assert top_hex.popularity >= 75 and top_npm.popularity >= 75
    assert abs(top_hex.popularity - top_npm.popularity) < 10
    # Ranked among their own, hex's top beats npm's bottom despite 1000x fewer downloads than npm's top.
    assert top_hex.popularity > scores["npm0"].popularity + 30


def test_a_single_package_falls_back_to_the_log_scale() -> None:
    score = only(package("lonely", ecosystem="hex", downloads=9_999))
    # log10(10_000) / log10(10**8 + 1): half of hex's reference on a log scale.
    assert score.parts["downloads_percentile"] is None
    assert score.parts["downloads_log"] == pytest.approx(50.0, abs=0.01)
    assert score.parts["downloads_score"] == score.parts["downloads_log"]
    assert score.parts["downloads_population"] == 1


def test_missing_download_counts_are_not_a_penalty() -> None:
    without = only(package("quiet", ecosystem="pypi", stars=100_000, dependents=10_000))
    assert without.parts["downloads_score"] is None
    assert without.popularity == pytest.approx(100.0)


def test_archived_and_deprecated_are_severe_maintenance_penalties() -> None:
    healthy = dict(
        releases=[days_ago(d) for d in (1, 60, 120, 200, 300)],
        has_repository=True,
        has_license=True,
        has_documentation=True,
    )
    scores = by_name(
        quality.compute(
            [
                package("fine", **healthy),
                package("archived", archived=True, **healthy),
                package("deprecated", deprecated=True, **healthy),
                package("both", archived=True, deprecated=True, **healthy),
            ],
            now=NOW,
        )
    )
    base = scores["fine"].maintenance
    assert base > 80
    assert scores["archived"].maintenance == pytest.approx(base * 0.2, abs=0.01)
    assert scores["deprecated"].maintenance == pytest.approx(base * 0.2, abs=0.01)
    assert scores["both"].maintenance == pytest.approx(base * 0.04, abs=0.01)
    assert scores["archived"].parts["archived_penalty"] == pytest.approx(base * 0.8, abs=0.01)
    assert scores["fine"].parts["archived_penalty"] == 0.0
    assert scores["archived"].score < scores["fine"].score


def test_open_issues_relative_to_stars_cost_at_most_ten_points() -> None:
    scores = by_name(
        quality.compute(
            [
                package("tidy", stars=1_000, open_issues=10),
                package("swamped", stars=100, open_issues=400),
                package("unknown", open_issues=400),
            ],
            now=NOW,
        )
    )
    assert scores["tidy"].parts["issues_penalty"] == pytest.approx(0.2)
    assert scores["swamped"].parts["issues_penalty"] == 10.0
    assert scores["unknown"].parts["issues_penalty"] == 0.0


def test_a_critical_advisory_costs_more_than_a_low_one() -> None:
    scores = by_name(
        quality.compute(
            [
                package("clean"),
                package("low", advisories_latest=(2.5,)),
                package("unscored", advisories_latest=(None,)),
                package("critical", advisories_latest=(9.8,)),
                package("doomed", advisories_latest=(9.8, 10.0, 7.5, None)),
            ],
            now=NOW,
        )
    )
    assert scores["clean"].security == 100.0
    assert scores["low"].security == 95.0
    assert scores["unscored"].security == 85.0
    assert scores["critical"].security == 50.0
    assert scores["critical"].parts["advisories_critical"] == 1
    assert scores["doomed"].security == 0.0
    assert scores["doomed"].parts["advisory_penalty"] == 145.0


def test_fix_speed_softens_or_worsens_security() -> None:
    scores = by_name(
        quality.compute(
            [
                package("fast", advisories_latest=(7.5,), fix_days=(1.0, 3.0, 400.0)),
                package("slow", advisories_latest=(7.5,), fix_days=(200.0, 365.0)),
                package("untested", advisories_latest=(7.5,)),
            ],
            now=NOW,
        )
    )
    assert scores["fast"].parts["median_fix_days"] == 3.0
    assert scores["fast"].security == 80.0
    assert scores["slow"].security == 60.0
    assert scores["untested"].security == 70.0
    assert scores["untested"].parts["median_fix_days"] is None


def test_recency_halves_every_180_days() -> None:
    scores = by_name(
        quality.compute(
            [
                package("today", releases=[NOW]),
                package("half", releases=[days_ago(180)]),
                package("old", releases=[days_ago(730)]),
                package("never"),
            ],
            now=NOW,
        )
    )
    assert scores["today"].parts["recency"] == 100.0
    assert scores["half"].parts["recency"] == 50.0
    assert scores["old"].parts["recency"] == pytest.approx(100 * 0.5 ** (730 / 180), abs=0.01)
    assert scores["old"].parts["days_since_release"] == 730.0
    assert scores["never"].parts["days_since_release"] is None
    assert scores["today"].maintenance > scores["half"].maintenance > scores["old"].maintenance


def test_cadence_counts_only_the_last_year_and_saturates() -> None:
    busy = only(package("busy", releases=[days_ago(d) for d in range(10, 370, 30)]))
    assert busy.parts["release_cadence_per_year"] == 12
    assert busy.parts["cadence"] > 98
    one = only(package("one", releases=[days_ago(10), days_ago(400), days_ago(800)]))
    assert one.parts["release_cadence_per_year"] == 1
    assert one.parts["cadence"] == pytest.approx(28.35, abs=0.01)


def test_latest_release_at_counts_even_without_a_release_list() -> None:
    score = only(package("dated", latest_release_at=days_ago(180)))
    assert score.parts["recency"] == 50.0


def test_naive_timestamps_are_utc() -> None:
    naive = only(package("naive", releases=[dt.datetime(2026, 5, 22)]))
    assert naive.parts["days_since_release"] == 10.0


def test_community_grows_with_instances_and_saturates_at_ten() -> None:
    scores = [only(package("used", instances=n)) for n in (0, 1, 3, 10, 50)]
    instance_scores = [s.parts["instances_score"] for s in scores]
    assert instance_scores[0] == 0.0
    assert 25 < instance_scores[1] < 35
    assert instance_scores[1] < instance_scores[2] < instance_scores[3]
    assert instance_scores[3] == instance_scores[4] == 100.0
    assert [s.community for s in scores] == sorted(s.community for s in scores)
    assert scores[3].community == 70.0
    both = only(package("relied", instances=10, dependents=100))
    assert both.community == 100.0


def test_scores_stay_within_bounds_and_are_deterministic() -> None:
    rng = random.Random(20260601)
    signals = []
    for i in range(200):
        signals.append(
            package(
                f"p{i}",
                ecosystem=rng.choice(["npm", "pypi", "cargo", "hex", "elsewhere"]),
                downloads=rng.choice([None, 0, rng.randrange(10**12)]),
                recent_downloads=rng.choice([None, 0, rng.randrange(10**11)]),
                stars=rng.choice([None, 0, rng.randrange(10**6)]),
                forks=rng.choice([None, rng.randrange(10**5)]),
                open_issues=rng.choice([None, 0, rng.randrange(10**4)]),
                dependents=rng.randrange(10**5),
                instances=rng.randrange(100),
                releases=[days_ago(rng.uniform(-30, 5000)) for _ in range(rng.randrange(30))],
                archived=rng.choice([None, True, False]),
                deprecated=rng.random() < 0.1,
                advisories_latest=tuple(rng.choice([None, rng.uniform(0, 10)]) for _ in range(rng.randrange(4))),
                fix_days=tuple(rng.uniform(-10, 1000) for _ in range(rng.randrange(4))),
                has_repository=rng.random() < 0.5,
                has_license=rng.random() < 0.5,
                has_documentation=rng.random() < 0.5,
            )
        )
    first = quality.compute(signals, now=NOW)
    for score in first:
        for value in (score.score, score.popularity, score.maintenance, score.security, score.community):
            assert value is None or 0.0 <= value <= 100.0
        assert score.popularity is not None or score.parts["popularity_unknown"]
    assert quality.compute(signals, now=NOW) == first
    shuffled = list(signals)
    rng.shuffle(shuffled)
    assert by_name(quality.compute(shuffled, now=NOW)) == by_name(first)


def test_overall_score_is_the_documented_weighted_sum() -> None:
    score = only(
        package("mixed", downloads=10**6, releases=[days_ago(30)], instances=3, advisories_latest=(5.0,))
    )
    assert score.popularity is not None
    expected = (
        0.30 * score.popularity + 0.30 * score.maintenance + 0.25 * score.security + 0.15 * score.community
    )
    assert score.score == pytest.approx(expected, abs=0.01)
    assert score.parts["score_over"] == "popularity, maintenance, security, community"
    assert sum(quality.OVERALL_WEIGHTS.values()) == pytest.approx(1.0)
    assert sum(popularity.WEIGHTS.values()) == pytest.approx(1.0)
    assert sum(quality.MAINTENANCE_WEIGHTS.values()) == pytest.approx(1.0)
    assert sum(quality.COMMUNITY_WEIGHTS.values()) == pytest.approx(1.0)


def test_scores_round_trip_through_json() -> None:
    score = only(package("wire", downloads=10, archived=False, advisories_latest=(None,)))
    assert msgspec.json.decode(msgspec.json.encode(score), type=quality.Score) == score


def test_a_package_twice_in_one_batch_is_refused() -> None:
    with pytest.raises(ValueError, match="npm/twice"):
        quality.compute([package("twice"), package("twice")], now=NOW)
