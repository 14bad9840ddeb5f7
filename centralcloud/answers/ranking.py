"""Ranking packages for a need: relevance times quality, sinks for what should not be picked,
and a lift for what the team already uses. Pure: the same signals always give the same order.

- **Relevance** is 1 when every word of the need matches the package's name, keywords,
  description or categories (crates.io categories, PyPI Framework and Environment
  classifiers), else 0.3; plus a quarter of PostgreSQL's text rank (ts_rank_cd), which only
  orders packages that match alike. Packages only a registry's search named are matched in
  Python the same way, the share of words found standing in for the text rank.
- **Foundations**: a package matching some of the need's words, which a full match depends on
  and names in its description, is as relevant as that match (actix-rt, "Tokio-based single-threaded async runtime", makes tokio
  an answer to "async runtime" although tokio's own words never say "runtime").
- **Quality** is the stored quality score (0-100) mapped to 0.5-1.0; without one, downloads
  stand in: 0.5 + 0.5 × (log10(downloads) / 10)², so a hundred million downloads weigh
  clearly more than a million, and an unscored package is neither lost nor favoured.
- **Sinks**: deprecated ×0.2, archived repository ×0.3, an advisory on the latest version ×0.5.
- **Team lift**: ×(1 + 0.5 × instances), at most ×3, and only where the count may be shown
  (the pattern privacy threshold), so one instance's use never moves the order.

The relevance and popularity constants were set on the recorded fixture of about 200 real
packages (tests/fixtures/answers/needs/); tests/test_answers_needs.py holds them to it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re

PARTIAL_MATCH = 0.3
"""Relevance of a package matching only some of the need's words (every word: 1)."""
TEXT_RANK_WEIGHT = 0.25
"""Share of the text rank added to relevance: it orders packages that match alike."""
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
    foundation_of: str | None = None
    """The full match that depends on it and names it, when that is what makes it relevant."""


@dataclasses.dataclass(frozen=True)
class Ranked:
    signals: Signals
    score: float
    why: tuple[str, ...]


def relevance(*, every_word: bool, text_rank: float) -> float:
    """Relevance of a stored match: whether every word matched, then how prominently."""
    return (1.0 if every_word else PARTIAL_MATCH) + TEXT_RANK_WEIGHT * text_rank


def text_relevance(terms: list[str], *, name: str, description: str | None, keywords: tuple[str, ...]) -> float:
    """How well a package a registry's search named matches the need's words (prefixes count)."""
    if not terms:
        return 0.0
    words = set(_WORD.findall(" ".join([name.replace("-", " "), description or "", *keywords]).lower()))
    hits = sum(1 for term in terms if any(word.startswith(term) for word in words))
    if not hits:
        return 0.0
    return relevance(every_word=hits == len(terms), text_rank=hits / len(terms))


def names_in(text: str | None, name: str) -> bool:
    """Whether `text` names the package `name` as a word of its own ("Tokio-based" names tokio)."""
    return bool(text) and re.search(rf"(?<![a-z0-9]){re.escape(name.lower())}(?![a-z0-9])", text.lower()) is not None


def quality_factor(signals: Signals) -> float:
    if signals.quality is not None:
        return 0.5 + 0.5 * max(0.0, min(signals.quality, 100.0)) / 100
    return 0.5 + 0.5 * (min(math.log10(1 + (signals.downloads or 0)), 10.0) / 10) ** 2


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
    if signals.foundation_of is not None:
        reasons.append(f"what {signals.foundation_of} builds on")
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
