"""Ranking packages for a need: relevance times quality, sinks for what should not be picked,
and a lift for what the team already uses. Pure: the same signals always give the same order.

- **Relevance** is the full-text match of the need against name, keywords and description
  (PostgreSQL's ts_rank_cd, plus 1 when every word of the need matches). Packages only a
  registry's search named are matched in Python the same way: a point when every word is
  found, a fraction of 0.1 for the share of words found.
- **Quality** is the stored quality score (0-100) mapped to 0.5-1.0; without one, downloads
  on a log scale stand in (at most 0.95), so an unscored package is neither lost nor favoured.
- **Sinks**: deprecated ×0.2, archived repository ×0.3, an advisory on the latest version ×0.5.
- **Team lift**: ×(1 + 0.5 × instances), at most ×3, and only where the count may be shown
  (the pattern privacy threshold), so one instance's use never moves the order.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re

DEPRECATED_SINK = 0.2
ARCHIVED_SINK = 0.3
VULNERABLE_SINK = 0.5
TEAM_LIFT_PER_INSTANCE = 0.5
TEAM_LIFT_MAX = 3.0
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Signals:
    """What the ranking knows about one candidate."""

    ecosystem: str
    name: str
    relevance: float
    quality: float | None = None
    """Stored quality score 0-100."""
    downloads: int | None = None
    stars: int | None = None
    deprecated: bool = False
    archived: bool = False
    advisories_latest: int | None = None
    """Known advisories on the latest version; None when unchecked."""
    team_instances: int = 0
    team_projects: int = 0
    last_release: dt.datetime | None = None
    discovered: bool = False


@dataclasses.dataclass(frozen=True)
class Ranked:
    signals: Signals
    score: float
    why: tuple[str, ...]


def text_relevance(terms: list[str], *, name: str, description: str | None, keywords: tuple[str, ...]) -> float:
    """How well a package a registry's search named matches the need's words (prefixes count)."""
    if not terms:
        return 0.0
    words = set(_WORD.findall(" ".join([name.replace("-", " "), description or "", *keywords]).lower()))
    hits = sum(1 for term in terms if any(word.startswith(term) for word in words))
    return (1.0 if hits == len(terms) else 0.0) + 0.1 * hits / len(terms)


def quality_factor(signals: Signals) -> float:
    if signals.quality is not None:
        return 0.5 + 0.5 * max(0.0, min(signals.quality, 100.0)) / 100
    return 0.5 + 0.05 * min(math.log10(1 + (signals.downloads or 0)), 9.0)


def team_lift(instances: int, *, min_instances: int) -> float:
    if instances < min_instances:
        return 1.0
    return min(1.0 + TEAM_LIFT_PER_INSTANCE * instances, TEAM_LIFT_MAX)


def rank(candidates: list[Signals], *, now: dt.datetime, min_instances: int) -> list[Ranked]:
    """Candidates best first (ties by name)."""
    ranked = []
    for signals in candidates:
        score = signals.relevance * quality_factor(signals)
        if signals.deprecated:
            score *= DEPRECATED_SINK
        if signals.archived:
            score *= ARCHIVED_SINK
        if signals.advisories_latest:
            score *= VULNERABLE_SINK
        score *= team_lift(signals.team_instances, min_instances=min_instances)
        ranked.append(Ranked(signals, round(score, 6), why(signals, now=now, min_instances=min_instances)))
    ranked.sort(key=lambda item: (-item.score, item.signals.ecosystem, item.signals.name))
    return ranked


def why(signals: Signals, *, now: dt.datetime, min_instances: int) -> tuple[str, ...]:
    """The reasons in words, as a person would read them."""
    reasons = []
    if signals.team_instances >= min_instances:
        reasons.append(f"used by {signals.team_instances} of your team's instances")
    if signals.deprecated:
        reasons.append("deprecated")
    if signals.archived:
        reasons.append("repository archived")
    if signals.downloads:
        reasons.append(f"{_round_down(signals.downloads)} downloads")
    if signals.stars:
        reasons.append(f"{_round_down(signals.stars)} stars")
    if signals.advisories_latest is not None:
        reasons.append(f"{signals.advisories_latest} advisories on the latest version")
    if signals.last_release is not None:
        days = max(int((now - signals.last_release).total_seconds() // 86400), 0)
        reasons.append(f"last release {days} days ago")
    if signals.discovered:
        reasons.append(f"found by the {signals.ecosystem} registry's search")
    return tuple(reasons)


def _round_down(count: int) -> str:
    """100M+ for 123,456,789: the largest power of ten below, with its unit."""
    if count < 1000:
        return str(count)
    power = 10 ** int(math.log10(count))
    for unit, size in (("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if power >= size:
            return f"{power // size}{unit}+"
    return str(count)  # unreachable: counts of 1000 and more have a unit
