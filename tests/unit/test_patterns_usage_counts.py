"""The array usage counter agrees with a plain count over the same projects, and keeps the threshold."""

from __future__ import annotations

import random
from collections import defaultdict

import numpy as np
import pytest

from centralcloud.patterns import usage_counts

# A project: (instance code, last seen, [(package id, direct, version code or -1), ...]).
Project = tuple[int, float, list[tuple[int, bool, int]]]


def counted(projects: list[Project], min_instances: int) -> usage_counts.Usage:
    entries = [entry for _, _, items in projects for entry in items]
    return usage_counts.count(
        sizes=np.array([len(items) for _, _, items in projects], dtype=np.int64),
        instance=np.array([p[0] for p in projects], dtype=np.int64),
        seen=np.array([p[1] for p in projects], dtype=np.float64),
        packages=np.array([e[0] for e in entries], dtype=np.int64),
        directs=np.array([e[1] for e in entries], dtype=bool),
        versions=np.array([e[2] for e in entries], dtype=np.int64),
        min_instances=min_instances,
    )


def reference(projects: list[Project], min_instances: int) -> dict[str, object]:
    users: dict[int, set[int]] = defaultdict(set)
    direct_users: dict[int, set[int]] = defaultdict(set)
    instances: dict[int, set[int]] = defaultdict(set)
    direct_instances: dict[int, set[int]] = defaultdict(set)
    seen: dict[int, float] = {}
    version_instances: dict[tuple[int, int], set[int]] = defaultdict(set)
    for index, (instance, when, items) in enumerate(projects):
        for package, direct, version in items:
            users[package].add(index)
            instances[package].add(instance)
            seen[package] = max(seen.get(package, when), when)
            if direct:
                direct_users[package].add(index)
                direct_instances[package].add(instance)
            if version >= 0:
                version_instances[(package, version)].add(instance)
    wide = {p for p, s in direct_instances.items() if len(s) >= min_instances}
    return {
        "usage": {p: (len(users[p]), len(instances[p]), len(direct_users[p]), len(direct_instances[p]), seen[p])
                  for p in users},
        "versions": {k: len(v) for k, v in version_instances.items() if len(v) >= min_instances},
        "in_use": sorted((i, p) for p, s in instances.items() for i in s),
        "pair_items": sorted({(projects[x][0], x, p) for p in wide for x in direct_users[p]}),
        "transactions": sum(1 for _, _, items in projects if any(direct for _, direct, _ in items)),
    }


def as_reference(usage: usage_counts.Usage) -> dict[str, object]:
    return {
        "usage": {int(p): (int(a), int(b), int(c), int(d), float(e)) for p, a, b, c, d, e in zip(
            usage.package, usage.projects, usage.instances, usage.direct_projects, usage.direct_instances,
            usage.last_seen, strict=True)},
        "versions": {(int(p), int(v)): int(n) for p, v, n in zip(*usage.versions, strict=True)},
        "in_use": [(int(i), int(p)) for i, p in zip(*usage.in_use, strict=True)],
        "pair_items": sorted((int(i), int(x), int(p)) for i, x, p in zip(*usage.pair_items, strict=True)),
        "transactions": usage.transactions,
    }


def test_hand_computed_usage() -> None:
    projects: list[Project] = [
        # Instance 0 has two projects; the first names package 7 in two versions, once direct.
        (0, 100.0, [(7, True, 0), (7, False, 1), (9, False, -1)]),
        (0, 300.0, [(7, False, 0)]),
        (1, 200.0, [(7, True, 0), (9, True, 2)]),
        (2, 50.0, [(9, False, -1)]),
    ]
    result = as_reference(counted(projects, min_instances=2))
    assert result["usage"] == {7: (3, 2, 2, 2, 300.0), 9: (3, 3, 1, 1, 200.0)}
    assert result["versions"] == {(7, 0): 2}  # version 1 of 7 and version 2 of 9: one instance each
    assert result["in_use"] == [(0, 7), (0, 9), (1, 7), (1, 9), (2, 9)]
    assert result["pair_items"] == [(0, 0, 7), (1, 2, 7)]  # 9 is direct in one instance only
    assert result["transactions"] == 2
    assert as_reference(counted(projects, min_instances=3))["versions"] == {}


def test_nothing_reported() -> None:
    result = counted([(0, 1.0, [])], min_instances=1)
    assert result.package.size == 0 and result.transactions == 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_matches_a_plain_count_on_random_projects(seed: int) -> None:
    rng = random.Random(seed)
    package_ids = [rng.randrange(1, 10**9) for _ in range(30)]
    projects: list[Project] = []
    for _ in range(80):
        items = [(p, rng.random() < 0.4, rng.choice([-1, 0, 1, 2])) for p in rng.sample(package_ids, rng.randint(0, 10))]
        projects.append((rng.randrange(6), float(rng.randrange(1000)), items))
    for threshold in (1, 3):
        expected = reference(projects, threshold)
        assert expected["versions"] and expected["pair_items"]
        assert as_reference(counted(projects, threshold)) == expected
