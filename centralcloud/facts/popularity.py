"""The popularity dimension of the quality score (docs/quality.md, "Popularity").

Pure, like `centralcloud.quality`, which calls it. Popularity is relative: downloads,
stars and dependents are ranked within each ecosystem of the batch, so a package's
popularity depends on which other packages are scored with it.

Unknown stays unknown: a package with no popularity signal at all gets None, with the
reason in its parts, never 0. Dependents within our own store are one signal among
others; on their own they never lift a package above one with real download counts.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import types
from collections.abc import Mapping, Sequence

from centralcloud.facts import score_inputs

Part = score_inputs.Part

# Recent downloads say more about today's use than an all-time total that keeps
# growing for abandoned packages, and dependents are the hardest signal to game.
WEIGHTS: Mapping[str, float] = types.MappingProxyType(
    {"recent_downloads": 0.30, "downloads": 0.15, "stars": 0.25, "dependents": 0.30}
)
SIGNALS: tuple[str, ...] = tuple(WEIGHTS)
DOWNLOAD_SIGNALS: tuple[str, ...] = ("recent_downloads", "downloads")

# How many packages beyond the first it takes before percentile and log scale count
# equally: a rank among two or three packages says little, so small ecosystems lean
# on the absolute scale and a single package uses it alone.
PERCENTILE_PRIOR = 4.0

UNKNOWN_REASON = "no download counts, no stars and no dependents among stored packages are known"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Reference:
    """What counts as "as popular as it gets" in one ecosystem, for the log scale."""

    downloads: int
    """All-time downloads of a top package."""
    recent_downloads: int
    """Downloads in the recent window of a top package (the last 90 days on crates.io and hex.pm,
    the last 30 on npm and PyPI)."""
    stars: int
    """Repository stars of a top package."""
    dependents: int
    """Packages in our store depending on a top package."""


REFERENCES: Mapping[str, Reference] = types.MappingProxyType(
    {
        "npm": Reference(downloads=10**10, recent_downloads=10**9, stars=100_000, dependents=10_000),
        "pypi": Reference(downloads=10**10, recent_downloads=10**9, stars=100_000, dependents=10_000),
        "cargo": Reference(downloads=10**9, recent_downloads=10**8, stars=50_000, dependents=10_000),
        "hex": Reference(downloads=10**8, recent_downloads=10**7, stars=20_000, dependents=1_000),
    }
)
DEFAULT_REFERENCE = Reference(downloads=10**8, recent_downloads=10**7, stars=20_000, dependents=1_000)


def percentile_rank(value: float, population: Sequence[float]) -> float:
    """Mid-rank percentile (Hazen) of `value` in the sorted `population`, 0..100.

    Ties share the mean of their ranks, so equal values get equal percentiles and the
    result does not depend on input order. Zero is 0: having none of something is no
    middle rank, however many others also have none.
    """
    if value <= 0 or not population:
        return 0.0
    below = bisect.bisect_left(population, value)
    equal = bisect.bisect_right(population, value) - below
    return 100.0 * (below + 0.5 * equal) / len(population)


def log_scale(value: float, reference: float) -> float:
    """log10(value + 1) / log10(reference + 1), as 0..100, capped at 100."""
    value = max(0.0, value)
    return 100.0 * min(1.0, math.log10(value + 1) / math.log10(reference + 1))


def reference_for(ecosystem: str) -> Reference:
    """The log-scale reference of an ecosystem (a middling one for ecosystems not listed)."""
    return REFERENCES.get(ecosystem, DEFAULT_REFERENCE)


def signal_value(item: score_inputs.Signals, signal: str) -> float | None:
    """The value of one signal, or None when it is unknown.

    No dependents within our store is no evidence: the store holds only what instances
    use, so a package nobody stored depends on may still be everywhere.
    """
    raw = getattr(item, signal)
    if raw is None or (signal == "dependents" and raw <= 0):
        return None
    return max(0.0, float(raw))


def has_downloads(item: score_inputs.Signals) -> bool:
    return any(getattr(item, signal) is not None for signal in DOWNLOAD_SIGNALS)


def compute(signals: Sequence[score_inputs.Signals], parts: Sequence[dict[str, Part]]) -> list[float | None]:
    """Popularity of every package of `signals` (None where unknown), writing its parts into `parts`."""
    populations = _populations(signals)
    values = [
        _one(item, population=populations[item.ecosystem], parts=item_parts)
        for item, item_parts in zip(signals, parts, strict=True)
    ]
    # The lowest popularity among packages of each ecosystem with real download counts.
    floors: dict[str, float] = {}
    for item, value in zip(signals, values, strict=True):
        if value is not None and has_downloads(item):
            floors[item.ecosystem] = min(value, floors.get(item.ecosystem, value))
    for index, item in enumerate(signals):
        value, floor = values[index], floors.get(item.ecosystem)
        dependents_alone = not has_downloads(item) and item.stars is None
        if value is not None and dependents_alone and floor is not None and value > floor:
            parts[index]["popularity_uncapped"] = _round(value)
            parts[index]["popularity_cap"] = _round(floor)
            values[index] = floor
    return values


def _populations(signals: Sequence[score_inputs.Signals]) -> dict[str, dict[str, list[float]]]:
    """Sorted values of each signal per ecosystem, among packages that have it."""
    result: dict[str, dict[str, list[float]]] = {}
    for item in signals:
        by_signal = result.setdefault(item.ecosystem, {signal: [] for signal in SIGNALS})
        for signal in SIGNALS:
            value = signal_value(item, signal)
            if value is not None:
                by_signal[signal].append(value)
    for by_signal in result.values():
        for values in by_signal.values():
            values.sort()
    return result


def _one(item: score_inputs.Signals, *, population: Mapping[str, list[float]], parts: dict[str, Part]) -> float | None:
    reference = reference_for(item.ecosystem)
    weighted = 0.0
    total_weight = 0.0
    for signal in SIGNALS:
        parts[signal] = getattr(item, signal)
        value = signal_value(item, signal)
        if value is None:
            for suffix in ("percentile", "log", "population", "score"):
                parts[f"{signal}_{suffix}"] = None
            continue
        values = population[signal]
        n = len(values)
        # The log scale is what keeps a lone package (or one of two) from being
        # scored by a rank that means nothing; its weight fades as the ecosystem fills.
        scaled = log_scale(value, getattr(reference, signal))
        percentile_weight = (n - 1) / (n - 1 + PERCENTILE_PRIOR)
        percentile = percentile_rank(value, values) if n > 1 else None
        score = percentile_weight * (percentile or 0.0) + (1 - percentile_weight) * scaled
        parts[f"{signal}_percentile"] = None if percentile is None else _round(percentile)
        parts[f"{signal}_log"] = _round(scaled)
        parts[f"{signal}_population"] = n
        parts[f"{signal}_score"] = _round(score)
        weighted += WEIGHTS[signal] * score
        total_weight += WEIGHTS[signal]
    if not total_weight:
        parts["popularity_unknown"] = UNKNOWN_REASON
        return None
    # Weights are renormalized over the signals a package has, so a registry that
    # publishes no download counts is not punished for it.
    return min(100.0, max(0.0, weighted / total_weight))


def _round(value: float) -> float:
    return round(value, 2)
