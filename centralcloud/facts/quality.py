"""A quality score per package, with every part that went into it.

Pure: no I/O, no database, no clock. `compute` takes the signals of a batch of
packages and a fixed `now`, and returns one `Score` each. The same inputs always
give the same scores. The formula, with every weight and constant, is written
out in docs/quality.md; the constants below are the single source of those numbers.

Popularity (`centralcloud.popularity`) is relative: downloads, stars and dependents
are ranked within each ecosystem of the batch, so a package's popularity depends on
which other packages are scored with it. Pass the whole store (or one consistent set)
to get comparable numbers. A dimension may be unknown (popularity without any
signal); the overall score is then the weighted mean of the known ones.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
import types
from collections.abc import Mapping, Sequence

import msgspec

from centralcloud.core import clock
from centralcloud.facts import popularity, score_inputs

Part = score_inputs.Part

DIMENSIONS: tuple[str, ...] = ("popularity", "maintenance", "security", "community")

OVERALL_WEIGHTS: Mapping[str, float] = types.MappingProxyType(
    {"popularity": 0.30, "maintenance": 0.30, "security": 0.25, "community": 0.15}
)

MAINTENANCE_WEIGHTS: Mapping[str, float] = types.MappingProxyType(
    {"recency": 0.50, "cadence": 0.35, "basics": 0.15}
)
RELEASE_HALF_LIFE_DAYS = 180.0
CADENCE_WINDOW_DAYS = 365.0
# Releases in the window at which cadence reaches 63% (1 - 1/e) of its maximum.
CADENCE_SCALE = 3.0
ARCHIVED_FACTOR = 0.2
DEPRECATED_FACTOR = 0.2
ISSUES_PENALTY_MAX = 10.0
# Open issues per star at which the issues penalty is at its maximum.
ISSUES_RATIO_FULL = 0.5

SECURITY_BASE = 100.0
# CVSS v3.x qualitative bands (lower bound of the score, points subtracted).
SEVERITY_BANDS: tuple[tuple[float, str, float], ...] = (
    (9.0, "critical", 50.0),
    (7.0, "high", 30.0),
    (4.0, "medium", 15.0),
    (0.1, "low", 5.0),
    (0.0, "none", 0.0),
)
# An advisory without a score is neither ignored nor assumed critical.
UNKNOWN_SEVERITY_PENALTY = 15.0
FIX_FAST_DAYS = 14.0
FIX_SLOW_DAYS = 180.0
FIX_ADJUSTMENT_MAX = 10.0

COMMUNITY_WEIGHTS: Mapping[str, float] = types.MappingProxyType({"instances": 0.70, "dependents": 0.30})
INSTANCES_SATURATION = 10
COMMUNITY_DEPENDENTS_SATURATION = 100


class Score(msgspec.Struct, frozen=True, kw_only=True):
    """The quality score of one package and how it was reached."""

    ecosystem: str
    """Ecosystem of the package."""
    name: str
    """Name of the package."""
    score: float
    """Overall score, 0..100: the weighted mean of the known dimensions (parts["score_over"] names them)."""
    popularity: float | None
    """0..100: downloads, stars and dependents, ranked within the ecosystem; None when none is known."""
    maintenance: float
    """0..100: release recency and cadence, basic metadata, less penalties for archived, deprecated and a pile of open issues."""
    security: float
    """0..100: 100 less points per advisory on the latest version by severity, adjusted by how fast past advisories were fixed."""
    community: float
    """0..100: how many instances use it, and how many stored packages depend on it."""
    parts: dict[str, Part] = {}
    """Every input and intermediate value, by name (see docs/quality.md)."""

def compute(signals: Sequence[score_inputs.Signals], *, now: dt.datetime) -> list[Score]:
    """Score every package in `signals`, in the same order, as of `now`.

    Popularity ranks each package among the packages of its own ecosystem in this
    batch. A package may appear only once per batch (ValueError otherwise), since a
    duplicate would count twice in the ranking.
    """
    now = clock.aware(now)
    seen: set[tuple[str, str]] = set()
    for item in signals:
        key = (item.ecosystem, item.name)
        if key in seen:
            raise ValueError(f"{item.ecosystem}/{item.name} appears twice in one batch")
        seen.add(key)

    all_parts: list[dict[str, Part]] = [{} for _ in signals]
    popularities = popularity.compute(signals, all_parts)
    scores = []
    for item, parts, popular in zip(signals, all_parts, popularities, strict=True):
        maintenance = _maintenance(item, now=now, parts=parts)
        security = _security(item, parts=parts)
        community = _community(item, parts=parts)
        dimensions = {
            "popularity": popular,
            "maintenance": maintenance,
            "security": security,
            "community": community,
        }
        # An unknown dimension is left out and the weights of the others renormalized:
        # "we don't know" must not read as 0.
        known = {d: value for d, value in dimensions.items() if value is not None}
        weight = sum(OVERALL_WEIGHTS[d] for d in known)
        overall = _clamp(sum(OVERALL_WEIGHTS[d] * value for d, value in known.items()) / weight)
        parts["score_over"] = ", ".join(known)
        scores.append(
            Score(
                ecosystem=item.ecosystem,
                name=item.name,
                score=_round(overall),
                popularity=None if popular is None else _round(popular),
                maintenance=_round(maintenance),
                security=_round(security),
                community=_round(community),
                parts=parts,
            )
        )
    return scores


def _maintenance(item: score_inputs.Signals, *, now: dt.datetime, parts: dict[str, Part]) -> float:
    releases = [clock.aware(when) for when in item.releases]
    candidates = [*releases]
    if item.latest_release_at is not None:
        candidates.append(clock.aware(item.latest_release_at))
    latest = max(candidates) if candidates else None
    parts["releases"] = len(releases)
    parts["latest_release_at"] = latest.isoformat() if latest else None

    if latest is None:
        days = None
        recency = 0.0
    else:
        # A release after `now` (clock skew, or scoring as of a past date) counts as today.
        days = max(0.0, (now - latest).total_seconds() / 86400.0)
        recency = 100.0 * 0.5 ** (days / RELEASE_HALF_LIFE_DAYS)
    parts["days_since_release"] = None if days is None else _round(days)
    parts["recency"] = _round(recency)

    window_start = now - dt.timedelta(days=CADENCE_WINDOW_DAYS)
    recent = sum(1 for when in releases if window_start < when <= now)
    cadence = 100.0 * (1.0 - math.exp(-recent / CADENCE_SCALE))
    parts["release_cadence_per_year"] = recent
    parts["cadence"] = _round(cadence)

    flags = (item.has_repository, item.has_license, item.has_documentation)
    basics = 100.0 * sum(flags) / len(flags)
    parts["has_repository"] = _yes(item.has_repository)
    parts["has_license"] = _yes(item.has_license)
    parts["has_documentation"] = _yes(item.has_documentation)
    parts["basics"] = _round(basics)

    value = (
        MAINTENANCE_WEIGHTS["recency"] * recency
        + MAINTENANCE_WEIGHTS["cadence"] * cadence
        + MAINTENANCE_WEIGHTS["basics"] * basics
    )

    parts["open_issues"] = item.open_issues
    parts["forks"] = item.forks
    if item.open_issues is not None and item.stars is not None:
        ratio = max(0, item.open_issues) / max(1, item.stars)
        issues_penalty = ISSUES_PENALTY_MAX * min(1.0, ratio / ISSUES_RATIO_FULL)
        parts["issues_ratio"] = _round(ratio)
    else:
        issues_penalty = 0.0
        parts["issues_ratio"] = None
    parts["issues_penalty"] = _round(issues_penalty)
    value = max(0.0, value - issues_penalty)

    # Multiplicative, so an archived or deprecated package stays low however
    # recently it released: the last release is usually the farewell one.
    parts["archived"] = None if item.archived is None else _yes(item.archived)
    archived_penalty = value * (1 - ARCHIVED_FACTOR) if item.archived else 0.0
    value -= archived_penalty
    parts["archived_penalty"] = _round(archived_penalty)

    parts["deprecated"] = _yes(item.deprecated)
    deprecated_penalty = value * (1 - DEPRECATED_FACTOR) if item.deprecated else 0.0
    value -= deprecated_penalty
    parts["deprecated_penalty"] = _round(deprecated_penalty)
    return _clamp(value)


def severity_band(score: float | None) -> str:
    """critical, high, medium, low or none by the CVSS v3.x bands; unscored when there is no usable score."""
    if score is None or not math.isfinite(score):
        return "unscored"
    for lower, band, _ in SEVERITY_BANDS:
        if score >= lower:
            return band
    return "none"


def _security(item: score_inputs.Signals, *, parts: dict[str, Part]) -> float:
    penalties = {band: points for _, band, points in SEVERITY_BANDS}
    penalties["unscored"] = UNKNOWN_SEVERITY_PENALTY
    counts = dict.fromkeys(penalties, 0)
    for severity in item.advisories_latest:
        counts[severity_band(severity)] += 1
    penalty = sum(penalties[band] * count for band, count in counts.items())
    parts["advisories_latest"] = len(item.advisories_latest)
    for band in ("critical", "high", "medium", "low", "unscored"):
        parts[f"advisories_{band}"] = counts[band]
    parts["advisory_penalty"] = _round(penalty)

    # A fix published before the advisory (coordinated disclosure) is as fast as it gets.
    fixes = [max(0.0, days) for days in item.fix_days if math.isfinite(days)]
    parts["fixes_known"] = len(fixes)
    if fixes:
        median = statistics.median(fixes)
        position = (median - FIX_FAST_DAYS) / (FIX_SLOW_DAYS - FIX_FAST_DAYS)
        adjustment = FIX_ADJUSTMENT_MAX * (1 - 2 * min(1.0, max(0.0, position)))
        parts["median_fix_days"] = _round(median)
    else:
        adjustment = 0.0
        parts["median_fix_days"] = None
    parts["fix_speed_adjustment"] = _round(adjustment)
    return _clamp(SECURITY_BASE - penalty + adjustment)


def _community(item: score_inputs.Signals, *, parts: dict[str, Part]) -> float:
    instances = popularity.log_scale(item.instances, INSTANCES_SATURATION)
    reach = popularity.log_scale(item.dependents, COMMUNITY_DEPENDENTS_SATURATION)
    parts["instances"] = item.instances
    parts["instances_score"] = _round(instances)
    parts["dependents_reach"] = _round(reach)
    return _clamp(COMMUNITY_WEIGHTS["instances"] * instances + COMMUNITY_WEIGHTS["dependents"] * reach)


def _clamp(value: float) -> float:
    return min(100.0, max(0.0, value))


def _round(value: float) -> float:
    # Two decimals: enough to tell packages apart, few enough to read.
    return round(value, 2)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"
