"""Co-usage arithmetic, with projects as transactions, and the privacy threshold.

Definitions (docs/patterns.md explains them): over N transactions (an instance's project, with
its direct dependencies as items), with a = projects using A, b = projects using B and
ab = projects using both,
    support(A,B)      = ab / N
    confidence(A->B)  = ab / a
    lift(A,B)         = ab * N / (a * b)
    PMI(A,B)          = ln lift
    NPMI(A,B)         = PMI / -ln(ab / N)        (Bouma 2009; in [-1, 1])
    Jaccard(A,B)      = ab / (a + b - ab)
Edge cases are fixed here rather than left to floating point: no co-occurrence gives lift 0,
PMI -inf and NPMI -1; co-occurrence in every transaction gives NPMI 1.

The SQL that keeps these counts at scale is checked against `co_usage`, the plain reference.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable

import msgspec

DEFAULT_MIN_INSTANCES = 3
"""A count is shown only when at least this many distinct instances share it
(CENTRALCLOUD_PATTERN_MIN_INSTANCES)."""


class Association(msgspec.Struct, frozen=True, kw_only=True):
    """How strongly two items go together."""

    together: int
    """Transactions (projects) with both."""
    a: int
    """Transactions with the first item."""
    b: int
    """Transactions with the second item."""
    total: int
    """All transactions."""
    support: float
    """Share of all transactions that have both."""
    confidence_ab: float
    """Share of the first item's transactions that also have the second."""
    confidence_ba: float
    """Share of the second item's transactions that also have the first."""
    lift: float
    """How many times more often the two occur together than if they were independent."""
    pmi: float
    """Pointwise mutual information, the natural log of lift."""
    npmi: float
    """PMI normalized into [-1, 1]: -1 never together, 0 independent, 1 always together."""
    jaccard: float
    """Both over either."""


def _check(*, together: int, a: int, b: int, total: int) -> None:
    if total <= 0:
        raise ValueError("there must be at least one transaction")
    if min(together, a, b) < 0 or max(a, b) > total or together > min(a, b):
        raise ValueError(f"inconsistent counts: together={together} a={a} b={b} total={total}")


def support(count: int, total: int) -> float:
    """Share of the transactions that have an item (or an item pair)."""
    if total <= 0 or not 0 <= count <= total:
        raise ValueError(f"inconsistent counts: count={count} total={total}")
    return count / total


def confidence(*, together: int, antecedent: int) -> float:
    """confidence(A->B) = support(A,B) / support(A); 0 when A never occurs."""
    if antecedent == 0:
        return 0.0
    return together / antecedent


def lift(*, together: int, a: int, b: int, total: int) -> float:
    _check(together=together, a=a, b=b, total=total)
    if together == 0:
        return 0.0
    return together * total / (a * b)


def pmi(*, together: int, a: int, b: int, total: int) -> float:
    value = lift(together=together, a=a, b=b, total=total)
    return math.log(value) if value > 0 else -math.inf


def npmi(*, together: int, a: int, b: int, total: int) -> float:
    """Normalized PMI (Bouma 2009): PMI / -ln p(A,B)."""
    _check(together=together, a=a, b=b, total=total)
    if together == 0:
        return -1.0
    if together == total:
        # p(A,B) = 1 makes both PMI and -ln p(A,B) zero; the limit of perfect co-occurrence is 1.
        return 1.0
    return pmi(together=together, a=a, b=b, total=total) / -math.log(together / total)


def jaccard(*, together: int, a: int, b: int) -> float:
    either = a + b - together
    return together / either if either else 0.0


def associate(*, together: int, a: int, b: int, total: int) -> Association:
    """Every measure for one pair from its four counts."""
    _check(together=together, a=a, b=b, total=total)
    return Association(
        together=together,
        a=a,
        b=b,
        total=total,
        support=support(together, total),
        confidence_ab=confidence(together=together, antecedent=a),
        confidence_ba=confidence(together=together, antecedent=b),
        lift=lift(together=together, a=a, b=b, total=total),
        pmi=pmi(together=together, a=a, b=b, total=total),
        npmi=npmi(together=together, a=a, b=b, total=total),
        jaccard=jaccard(together=together, a=a, b=b),
    )


def shown(*, instances: int, min_instances: int = DEFAULT_MIN_INSTANCES) -> bool:
    """Whether a count shared by `instances` distinct instances may be shown to the team."""
    if min_instances < 1:
        raise ValueError("the privacy threshold is at least one instance")
    return instances >= min_instances


def visible(count: int, *, instances: int, min_instances: int = DEFAULT_MIN_INSTANCES) -> int | None:
    """The count, or None when too few distinct instances share it to show it."""
    return count if shown(instances=instances, min_instances=min_instances) else None


class Transaction(msgspec.Struct, frozen=True, kw_only=True):
    """One project of one instance, with the items (direct dependencies, as purls) it uses."""

    instance: str
    project: str
    items: frozenset[str]


class Usage(msgspec.Struct, kw_only=True):
    """Counts for one item or one pair."""

    projects: int = 0
    """Transactions: distinct (instance, project)."""
    instances: set[str] = msgspec.field(default_factory=set)
    """Distinct instances among them."""


class CoUsage(msgspec.Struct, kw_only=True):
    """Item and pair counts over a set of transactions."""

    total: int
    items: dict[str, Usage]
    pairs: dict[tuple[str, str], Usage]
    """Keyed by the two items in sorted order."""

    def association(self, first: str, second: str) -> Association:
        key = (first, second) if first <= second else (second, first)
        together = self.pairs.get(key, Usage()).projects
        return associate(
            together=together,
            a=self.items[first].projects,
            b=self.items[second].projects,
            total=self.total,
        )


def co_usage(transactions: Iterable[Transaction]) -> CoUsage:
    """Count items and pairs; a project reported twice by the same instance counts once (last wins)."""
    latest = {(t.instance, t.project): t.items for t in transactions}
    items: dict[str, Usage] = {}
    pairs: dict[tuple[str, str], Usage] = {}
    for (instance, _), used in latest.items():
        ordered = sorted(used)
        for item in ordered:
            usage = items.setdefault(item, Usage())
            usage.projects += 1
            usage.instances.add(instance)
        for pair in itertools.combinations(ordered, 2):
            usage = pairs.setdefault(pair, Usage())
            usage.projects += 1
            usage.instances.add(instance)
    return CoUsage(total=len(latest), items=items, pairs=pairs)


def strongest(
    counts: CoUsage, item: str, *, min_instances: int = DEFAULT_MIN_INSTANCES, limit: int = 10
) -> list[tuple[str, Association]]:
    """The items that go with `item`, strongest (by NPMI, then lift, then projects) first.

    Only pairs that at least `min_instances` distinct instances share are listed, so a pair
    seen in one instance's projects never reveals what that instance uses.
    """
    found = []
    for (first, second), usage in counts.pairs.items():
        if item not in (first, second) or not shown(instances=len(usage.instances), min_instances=min_instances):
            continue
        other = second if first == item else first
        found.append((other, counts.association(item, other)))
    found.sort(key=lambda row: (-row[1].npmi, -row[1].lift, -row[1].together, row[0]))
    return found[:limit]
