"""The version recommender as a pure function: skip rules, reasons, upgrade facts, fallbacks."""

from __future__ import annotations

import datetime as dt

import pytest

from centralcloud import versions
from centralcloud.core import errors
from centralcloud.answers import recommend

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)


def days_ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def options(**kwargs: object) -> recommend.Options:
    return recommend.Options(now=NOW, **kwargs)


def C(number: str, **kwargs: object) -> recommend.Candidate:
    return recommend.Candidate(number=number, **kwargs)


DJANGO = [
    C("4.2.6", published_at=days_ago(400), requires_runtime=">=3.8", advisories=("GHSA-aaaa", "GHSA-bbbb")),
    C("4.2.30", published_at=days_ago(60), requires_runtime=">=3.8"),
    C("5.1.15", published_at=days_ago(40), requires_runtime=">=3.10"),
    C("5.2.1", published_at=days_ago(20), requires_runtime=">=3.10", advisories=("GHSA-cccc",)),
    C("5.2.2", published_at=days_ago(1), requires_runtime=">=3.10"),
    C("6.0", published_at=days_ago(30), requires_runtime=">=3.12"),
    C("6.1rc1", published_at=days_ago(10), prerelease=True, requires_runtime=">=3.12"),
]


def test_unchecked_advisories_are_never_called_none_known():
    # "Could not check" never reads as "safe": with no advisory source answering, the pick says so.
    answer = recommend.recommend(
        ecosystem="pypi",
        candidates=DJANGO,
        options=options(requirement=">=4.2,<6", runtime={"python": "3.11"}, min_age_days=3, advisories_checked=False),
    )
    assert answer.version == "5.1.15"
    assert "no known advisory" not in answer.reasons
    assert "advisories unchecked: no advisory source has answered for this package recently" in answer.reasons


def test_the_issue_example():
    answer = recommend.recommend(
        ecosystem="pypi",
        candidates=DJANGO,
        options=options(requirement=">=4.2,<6", current="4.2.6", runtime={"python": "3.11"}, min_age_days=3),
    )
    assert answer.version == "5.1.15"
    assert answer.latest == "6.0"
    assert answer.reasons == (
        "newest release that satisfies >=4.2,<6 passing every check",
        "supports Python 3.11",
        "no known advisory",
        "published 40 days ago",
    )
    assert answer.skipped == (
        recommend.Skipped(version="5.2.2", why="published 1.0 days ago, inside the 3-day cooldown"),
        recommend.Skipped(version="5.2.1", why="affected by GHSA-cccc", advisories=("GHSA-cccc",)),
    )
    assert answer.upgrade == recommend.Upgrade(from_="4.2.6", advisories_fixed=("GHSA-aaaa", "GHSA-bbbb"), breaking="major")
    assert answer.adoption.instances == 0 and answer.least_bad is False


def test_runtime_and_prerelease_rules_without_a_requirement():
    answer = recommend.recommend(ecosystem="pypi", candidates=DJANGO, options=options(runtime={"python": "3.11"}))
    assert answer.version == "5.2.2"
    assert [(entry.version, entry.why) for entry in answer.skipped] == [
        ("6.1rc1", "prerelease; requires Python >=3.12"),
        ("6.0", "requires Python >=3.12"),
    ]
    on_312 = recommend.recommend(
        ecosystem="pypi", candidates=DJANGO, options=options(runtime={"python": "3.12"}, allow_prerelease=True)
    )
    assert on_312.version == "6.1rc1"


def test_yanked_and_deprecated_are_skipped():
    candidates = [C("1.0.0"), C("1.1.0", deprecated=True), C("1.2.0", yanked=True), C("1.3.0", yanked=True, deprecated=True)]
    answer = recommend.recommend(ecosystem="npm", candidates=candidates, options=options())
    assert answer.version == "1.0.0"
    assert [(entry.version, entry.why) for entry in answer.skipped] == [
        ("1.3.0", "yanked; deprecated"), ("1.2.0", "yanked"), ("1.1.0", "deprecated"),
    ]  # fmt: skip
    assert answer.latest == "1.1.0"


@pytest.mark.parametrize(
    ("ecosystem", "runtime", "requirement", "admitted"),
    [
        ("pypi", "3.11", ">=3.11", True),
        ("pypi", "3.11", ">=3.11.1", False),
        ("pypi", "3.8", "!=3.0.*,>=2.7", True),
        ("npm", "18", ">= 18", True),
        ("npm", "16.20", ">=18.0.0 || ^16.20.0", True),
        ("npm", "v14", ">=16", False),
        ("cargo", "1.70", "1.70", True),
        ("cargo", "1.69.0", "1.70", False),
        ("hex", "1.14", "~> 1.14", True),
        ("hex", "1.13.4", "~> 1.14", False),
        # What the runtime's tool cannot read, it does not enforce.
        ("pypi", "3.11", ">=3.6,", True),
    ],
)
def test_runtime_requirements(ecosystem, runtime, requirement, admitted):
    assert recommend.runtime_admits(ecosystem, requirement, runtime) is admitted


def test_runtime_of_another_ecosystem_is_ignored():
    answer = recommend.recommend(
        ecosystem="npm", candidates=[C("2.0.0", requires_runtime=">=99")], options=options(runtime={"python": "3.11"})
    )
    assert answer.version == "2.0.0"
    assert "supports" not in " ".join(answer.reasons)


@pytest.mark.parametrize("runtime", [{"ruby": "3.3"}, {"python": "three"}, {"node": "18.x"}, {"python": 3.11}])
def test_bad_runtime_is_a_bad_request(runtime):
    with pytest.raises(errors.BadRequest):
        recommend.recommend(ecosystem="pypi", candidates=DJANGO, options=options(runtime=runtime))


def test_unreadable_requirement_is_a_bad_request_even_without_versions():
    with pytest.raises(versions.InvalidRequirement):
        recommend.recommend(ecosystem="npm", candidates=[], options=options(requirement="^^4"))


def test_unreadable_current_is_a_bad_request():
    with pytest.raises(versions.InvalidVersion):
        recommend.recommend(ecosystem="cargo", candidates=[C("1.0.0")], options=options(current="one"))


def test_cooldown_leaves_unknown_ages_alone():
    candidates = [C("1.0.0", published_at=days_ago(100)), C("1.1.0", published_at=None), C("1.2.0", published_at=days_ago(2))]
    answer = recommend.recommend(ecosystem="npm", candidates=candidates, options=options(min_age_days=7))
    assert answer.version == "1.1.0"
    assert [entry.version for entry in answer.skipped] == ["1.2.0"]
    assert not any(reason.startswith("published") for reason in answer.reasons)


@pytest.mark.parametrize(
    ("ecosystem", "current", "chosen", "breaking", "downgrade"),
    [
        ("npm", "1.2.3", "1.2.4", "patch", False),
        ("npm", "1.2.3", "1.3.0", "minor", False),
        ("npm", "0.2.3", "0.3.0", "major", False),
        ("cargo", "0.2.3", "0.2.9", "patch", False),
        ("pypi", "0.2", "0.3", "minor", False),
        ("pypi", "4.2", "4.2.0", "none", False),
        ("hex", "2.0.0", "1.9.0", "major", True),
    ],
)
def test_upgrade_breaking_by_scheme(ecosystem, current, chosen, breaking, downgrade):
    answer = recommend.recommend(ecosystem=ecosystem, candidates=[C(chosen)], options=options(current=current))
    assert (answer.upgrade.breaking, answer.upgrade.downgrade) == (breaking, downgrade)
    assert answer.upgrade.advisories_fixed == ()


def test_least_bad_when_every_candidate_fails():
    candidates = [
        C("3.0.0", advisories=("GHSA-x",), adoption=50),
        C("2.1.0", deprecated=True),
        C("2.0.0", deprecated=True, adoption=3),
        C("1.9.0", published_at=days_ago(1)),
    ]
    answer = recommend.recommend(ecosystem="npm", candidates=candidates, options=options(min_age_days=3))
    # Young beats deprecated; the vulnerable one is never offered, however adopted.
    assert answer.version == "1.9.0" and answer.least_bad
    assert answer.reasons[:2] == ("least bad: every candidate failed a check", "published 1.0 days ago, inside the 3-day cooldown")
    assert [entry.version for entry in answer.skipped] == ["3.0.0", "2.1.0", "2.0.0"]
    # Among equally bad ones, adoption decides.
    answer = recommend.recommend(ecosystem="npm", candidates=candidates[:3], options=options())
    assert answer.version == "2.0.0" and answer.adoption.instances == 3


def test_no_candidate_when_only_unsafe_versions_remain():
    candidates = [C("2.0.0", advisories=("GHSA-x",)), C("1.0.0", yanked=True)]
    with pytest.raises(recommend.NoCandidate) as caught:
        recommend.recommend(ecosystem="cargo", candidates=candidates, options=options())
    assert caught.value.status == 404 and caught.value.kind == "no_candidate"
    assert [entry["version"] for entry in caught.value.details["skipped"]] == ["2.0.0", "1.0.0"]
    with pytest.raises(recommend.NoCandidate):
        recommend.recommend(ecosystem="cargo", candidates=candidates, options=options(requirement="^3"))


def test_adoption_breaks_ties_of_equal_precedence_only():
    candidates = [C("1.0", adoption=1), C("1.0.0", adoption=7), C("0.9", adoption=900)]
    answer = recommend.recommend(ecosystem="pypi", candidates=candidates, options=options())
    assert answer.version == "1.0.0"
    assert answer.reasons[-1] == "used by 7 of your team's instances"


def test_unreadable_versions_are_never_recommended():
    answer = recommend.recommend(ecosystem="npm", candidates=[C("not-a-version"), C("1.0.0")], options=options())
    assert answer.version == "1.0.0"
