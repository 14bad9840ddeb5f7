"""Co-usage measures against values worked out by hand on a five-project fixture."""

from __future__ import annotations

import math

import pytest

from centralcloud.patterns import metrics

# Five projects (transactions) from four instances:
#   T1 i1/p1: react vite express      T4 i3/p1: django react vite
#   T2 i1/p2: react vite              T5 i4/p9: django
#   T3 i2/p1: react express
# react: 4 projects, 3 instances; vite: 3 projects, 2 instances; express: 2; django: 2.
TRANSACTIONS = [
    metrics.Transaction(instance="i1", project="p1", items=frozenset({"react", "vite", "express"})),
    metrics.Transaction(instance="i1", project="p2", items=frozenset({"react", "vite"})),
    metrics.Transaction(instance="i2", project="p1", items=frozenset({"react", "express"})),
    metrics.Transaction(instance="i3", project="p1", items=frozenset({"django", "react", "vite"})),
    metrics.Transaction(instance="i4", project="p9", items=frozenset({"django"})),
]


def test_react_and_vite_by_hand() -> None:
    # together 3 of 5; react in 4, vite in 3.
    # support 3/5 = 0.6; conf(react->vite) = 0.6/0.8 = 0.75; conf(vite->react) = 0.6/0.6 = 1
    # lift = 0.75/0.6 = 1.25; PMI = ln 1.25 = 0.2231435513; NPMI = 0.2231435513 / -ln 0.6
    # = 0.2231435513 / 0.5108256238 = 0.4368292054; Jaccard = 3 / (4 + 3 - 3) = 0.75
    pair = metrics.co_usage(TRANSACTIONS).association("react", "vite")
    assert (pair.together, pair.a, pair.b, pair.total) == (3, 4, 3, 5)
    assert pair.support == pytest.approx(0.6)
    assert pair.confidence_ab == pytest.approx(0.75)
    assert pair.confidence_ba == pytest.approx(1.0)
    assert pair.lift == pytest.approx(1.25)
    assert pair.pmi == pytest.approx(0.2231435513)
    assert pair.npmi == pytest.approx(0.4368292054)
    assert pair.jaccard == pytest.approx(0.75)


def test_react_and_django_by_hand() -> None:
    # together 1 of 5; react in 4, django in 2.
    # support 0.2; conf(react->django) = 0.2/0.8 = 0.25; conf(django->react) = 0.2/0.4 = 0.5
    # lift = 0.25/0.4 = 0.625; PMI = ln 0.625 = -0.4700036292; NPMI = -0.4700036292 / -ln 0.2
    # = -0.4700036292 / 1.6094379124 = -0.2920296742; Jaccard = 1 / (4 + 2 - 1) = 0.2
    pair = metrics.co_usage(TRANSACTIONS).association("django", "react")
    assert (pair.together, pair.a, pair.b) == (1, 2, 4)
    assert pair.support == pytest.approx(0.2)
    assert pair.confidence_ab == pytest.approx(0.5)
    assert pair.confidence_ba == pytest.approx(0.25)
    assert pair.lift == pytest.approx(0.625)
    assert pair.pmi == pytest.approx(-0.4700036292)
    assert pair.npmi == pytest.approx(-0.2920296742)
    assert pair.jaccard == pytest.approx(0.2)


def test_never_together_and_always_together() -> None:
    never = metrics.co_usage(TRANSACTIONS).association("express", "django")
    assert (never.together, never.lift, never.pmi, never.npmi, never.jaccard) == (0, 0.0, -math.inf, -1.0, 0.0)
    # Both in every transaction: p(A,B) = 1, PMI 0 over -ln 1 = 0, defined as NPMI 1.
    always = metrics.associate(together=4, a=4, b=4, total=4)
    assert (always.lift, always.pmi, always.npmi, always.confidence_ab, always.jaccard) == (1.0, 0.0, 1.0, 1.0, 1.0)
    # Independent items: p(A,B) = p(A) p(B) = 1/2 * 1/2 -> lift 1, NPMI 0.
    independent = metrics.associate(together=1, a=2, b=2, total=4)
    assert independent.lift == pytest.approx(1.0) and independent.npmi == pytest.approx(0.0)


@pytest.mark.parametrize(
    "counts",
    [
        {"together": 3, "a": 2, "b": 5, "total": 5},
        {"together": 1, "a": 6, "b": 2, "total": 5},
        {"together": -1, "a": 1, "b": 1, "total": 5},
        {"together": 0, "a": 0, "b": 0, "total": 0},
    ],
)
def test_inconsistent_counts_are_refused(counts: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        metrics.associate(**counts)


def test_item_and_pair_counts_with_instances() -> None:
    counts = metrics.co_usage(TRANSACTIONS)
    assert counts.total == 5
    assert {item: (u.projects, len(u.instances)) for item, u in counts.items.items()} == {
        "react": (4, 3),
        "vite": (3, 2),
        "express": (2, 2),
        "django": (2, 2),
    }
    assert counts.pairs[("react", "vite")].instances == {"i1", "i3"}
    assert counts.pairs[("express", "react")].projects == 2


def test_a_re_reported_project_counts_once() -> None:
    again = [*TRANSACTIONS, metrics.Transaction(instance="i1", project="p2", items=frozenset({"react"}))]
    counts = metrics.co_usage(again)
    assert counts.total == 5
    assert counts.pairs[("react", "vite")].projects == 2
    assert counts.items["vite"].projects == 2


def test_strongest_ranks_by_npmi_and_hides_pairs_below_the_threshold() -> None:
    counts = metrics.co_usage(TRANSACTIONS)
    # react-vite 0.4368 (2 instances), react-express 0.2435 = ln 1.25 / -ln 0.4 (2 instances),
    # react-django -0.2920 (1 instance).
    ranked = metrics.strongest(counts, "react", min_instances=1)
    assert [other for other, _ in ranked] == ["vite", "express", "django"]
    assert ranked[1][1].npmi == pytest.approx(0.2435292026)
    assert [other for other, _ in metrics.strongest(counts, "react", min_instances=2)] == ["vite", "express"]
    assert metrics.strongest(counts, "react", min_instances=3) == []
    assert metrics.strongest(counts, "react") == []
    assert len(metrics.strongest(counts, "react", min_instances=1, limit=1)) == 1


def test_privacy_threshold() -> None:
    assert metrics.DEFAULT_MIN_INSTANCES == 3
    assert not metrics.shown(instances=2)
    assert metrics.shown(instances=3)
    assert metrics.visible(17, instances=2) is None
    assert metrics.visible(17, instances=3) == 17
    assert metrics.visible(5, instances=1, min_instances=1) == 5
    with pytest.raises(ValueError):
        metrics.shown(instances=5, min_instances=0)


def test_single_measures() -> None:
    assert metrics.support(2, 8) == 0.25
    assert metrics.confidence(together=0, antecedent=0) == 0.0
    assert metrics.lift(together=2, a=4, b=2, total=8) == 2.0
    with pytest.raises(ValueError):
        metrics.support(9, 8)
