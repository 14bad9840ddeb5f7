"""The array pair counter agrees with the plain reference (metrics.co_usage) and keeps the threshold."""

from __future__ import annotations

import random

import numpy as np
import pytest

from centralcloud.patterns import metrics, pair_counts


def counted(items: list[tuple[int, int, int]], min_instances: int) -> dict[tuple[int, int], tuple[int, int]]:
    columns = np.array(items, dtype=np.int64).reshape(-1, 3)
    instances, projects, packages = columns[:, 0], columns[:, 1], columns[:, 2]
    result = pair_counts.count(instances=instances, projects=projects, packages=packages, min_instances=min_instances)
    return {(int(a), int(b)): (int(p), int(i))
            for a, b, p, i in zip(result.a, result.b, result.projects, result.instances, strict=True)}


def test_hand_computed_pairs_and_threshold() -> None:
    # Instance 1: projects 10 {5, 7, 9} and 11 {5, 7}; instance 2: project 20 {7, 5}; instance 3: 30 {5, 9}.
    items = [(1, 10, 5), (1, 10, 7), (1, 10, 9), (1, 11, 7), (1, 11, 5), (2, 20, 7), (2, 20, 5), (3, 30, 9), (3, 30, 5)]
    assert counted(items, min_instances=1) == {(5, 7): (3, 2), (5, 9): (2, 2), (7, 9): (1, 1)}
    assert counted(items, min_instances=2) == {(5, 7): (3, 2), (5, 9): (2, 2)}
    assert counted(items, min_instances=3) == {}


def test_no_pairs_without_two_items_in_a_project() -> None:
    assert counted([], min_instances=1) == {}
    assert counted([(1, 1, 4), (2, 2, 4), (2, 3, 8)], min_instances=1) == {}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_matches_reference_on_random_sets(seed: int) -> None:
    rng = random.Random(seed)
    # Package ids far apart and instances given as arbitrary integers: codes must be dense.
    package_ids = [rng.randrange(1, 10**12) for _ in range(40)]
    transactions = [
        metrics.Transaction(instance=f"i{p % 7}", project=f"p{p}",
                            items=frozenset(str(x) for x in rng.sample(package_ids, rng.randint(0, 12))))
        for p in range(120)
    ]
    reference = metrics.co_usage(transactions)
    items = [(int(t.instance[1:]) * 1000 + 3, p, int(x)) for p, t in enumerate(transactions) for x in t.items]
    for threshold in (1, 3):
        expected = {}
        for (a, b), usage in reference.pairs.items():
            low, high = sorted((int(a), int(b)))
            if len(usage.instances) >= threshold:
                expected[(low, high)] = (usage.projects, len(usage.instances))
        assert expected
        assert counted(items, min_instances=threshold) == expected


def test_npmi_of_many_pairs_agrees_with_the_reference() -> None:
    rng = random.Random(7)
    total = 50
    cases = [(total, total, total), (1, 1, 1), (3, 40, 5)]  # a pair in every transaction scores 1
    for _ in range(200):
        a, b = rng.randrange(1, total + 1), rng.randrange(1, total + 1)
        cases.append((rng.randrange(1, min(a, b) + 1), a, b))
    together, a, b = (np.array(column, dtype=np.int64) for column in zip(*cases))
    scores = pair_counts.npmi(together=together, a=a, b=b, total=total)
    expected = [metrics.npmi(together=t, a=x, b=y, total=total) for t, x, y in cases]
    assert scores.tolist() == pytest.approx(expected)
