"""Security advisories: exact matching of a version against the stored records.

Records are stored merged by id and alias (`store/advisories.py`), with what each source
says they affect. When several sources describe one advisory's effect on one package,
OSV's ranges (from the API or an export) outrank a registry's own partial view (PyPI's
`vulnerabilities`, which only speaks of the latest release).

Matching never guesses. A range we cannot evaluate (unknown type, a version we cannot
parse) puts the advisory in `undetermined` with the reason, never among the safe.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from centralcloud import versions
from centralcloud.core import errors, model
from centralcloud.store import advisories as store_advisories
from centralcloud.store import db
from centralcloud.wire import messages

EVALUATED_RANGE_TYPES = {"SEMVER", "ECOSYSTEM", "NPM_RANGE"}
SEVERITY_ORDER = {"critical": 4, "high": 3, "medium": 2, "moderate": 2, "low": 1, "none": 0}
SOURCE_RANK = store_advisories.SOURCE_RANK


def from_registry(facts: model.PackageFacts) -> list[model.Advisory]:
    """A registry's own advisories (PyPI `vulnerabilities`) as advisory records.

    PyPI lists them for the latest release only and names the fixing versions, so the
    record says exactly that: the latest version is affected, and where it is fixed.
    """
    found = []
    for item in facts.advisories:
        if item.withdrawn is not None:
            continue
        explicit = tuple(item.affected_versions) or ((facts.latest_version,) if facts.latest_version else ())
        ranges = ()
        if item.fixed_in:
            ranges = (model.AffectedRange(type="ECOSYSTEM", events=tuple({"fixed": f} for f in item.fixed_in)),)
        found.append(
            model.Advisory(
                id=item.id,
                aliases=tuple(item.aliases),
                summary=item.summary,
                details=item.details,
                references=(item.link,) if item.link else (),
                affected=(
                    model.AffectedPackage(
                        ecosystem=facts.ecosystem, name=facts.name, ranges=ranges, versions=explicit,
                        flags=("registry_partial",),
                    ),
                ),
                source=facts.ecosystem,
            )
        )
    return found


@dataclasses.dataclass
class _Entry:
    row: Any
    source: str


def _events(ranges: Sequence[dict[str, Any]]) -> list[tuple[str, list[dict[str, str]]]]:
    out = []
    for item in ranges or ():
        if isinstance(item, dict):
            out.append((str(item.get("type", "")), list(item.get("events") or [])))
    return out


def _fixed_after(scheme: versions.Scheme, version: str | None, entries: list[_Entry]) -> str | None:
    """The first fixing version above `version` (the asker's release line), or the lowest fix."""
    candidates = []
    for entry in entries:
        for _, events in _events(entry.row["ranges"]):
            for event in events:
                fixed = event.get("fixed") if isinstance(event, dict) else None
                if not fixed:
                    continue
                try:
                    key = scheme.key(fixed)
                except errors.BadRequest:
                    continue
                candidates.append((key, fixed))
    if not candidates:
        return None
    candidates.sort(key=lambda pair: pair[0])
    if version is None:
        return candidates[0][1]
    try:
        target = scheme.key(version)
    except errors.BadRequest:
        return None
    above = [fixed for key, fixed in candidates if key > target]
    return above[0] if above else None


def _matches(scheme: versions.Scheme, version: str, entries: list[_Entry]) -> tuple[bool, str | None]:
    """(affected, why it could not be decided).

    Ranges of a type we cannot evaluate (GIT) only leave the answer open when nothing
    else in the entry speaks about versions; a version we cannot read always does.
    """
    problem = None
    unevaluated = None
    for entry in entries:
        listed = entry.row["versions"] or []
        if version in listed:
            return True, None
        for candidate in listed:
            try:
                if scheme.key(candidate) == scheme.key(version):
                    return True, None
            except errors.BadRequest as err:
                problem = f"listed version cannot be read: {err.message}"
        evaluable = bool(listed)
        for range_type, events in _events(entry.row["ranges"]):
            if range_type not in EVALUATED_RANGE_TYPES:
                unevaluated = f"range type {range_type or '?'} cannot be evaluated against a version"
                continue
            if range_type == "NPM_RANGE":
                # npm's own advisory ranges are node-semver ranges; prereleases count, as they are versions too.
                evaluable = True
                try:
                    if any(
                        scheme.satisfies(version, e["range"], include_prerelease=True)
                        for e in events if isinstance(e, dict) and e.get("range")
                    ):
                        return True, None
                except errors.BadRequest as err:
                    problem = f"range cannot be evaluated: {err.message}"
                continue
            if not any(isinstance(e, dict) and "introduced" in e for e in events):
                continue  # a registry's fixed-only list: says where it is fixed, not what is affected
            evaluable = True
            try:
                if scheme.in_osv_range(version, events):
                    return True, None
            except errors.BadRequest as err:
                problem = f"range cannot be evaluated: {err.message}"
        if "registry_partial" in (entry.row["flags"] or []) and _before_a_fix(scheme, version, entry):
            problem = problem or (
                f"{entry.source} reports this advisory for its latest release only; "
                "earlier versions before the fix may be affected"
            )
        if not evaluable:
            flagged = [f for f in entry.row["flags"] or [] if f != "registry_partial"]
            problem = problem or unevaluated or (f"flagged when read: {', '.join(flagged)}" if flagged else None)
    return False, problem


def _before_a_fix(scheme: versions.Scheme, version: str, entry: _Entry) -> bool:
    fixes = [
        event["fixed"]
        for _, events in _events(entry.row["ranges"])
        for event in events
        if isinstance(event, dict) and event.get("fixed")
    ]
    try:
        target = scheme.key(version)
        return not fixes or any(target < scheme.key(fixed) for fixed in fixes)
    except errors.BadRequest:
        return True


def _info(row: Any, entries: list[_Entry], *, fixed: str | None, with_ranges: bool) -> messages.AdvisoryInfo:
    ranges = []
    explicit: list[str] = []
    if with_ranges:
        for entry in entries:
            for range_type, events in _events(entry.row["ranges"]):
                ranges.append(messages.RangeInfo(type=range_type, events=[{str(k): str(v) for k, v in e.items()} for e in events if isinstance(e, dict)]))
            explicit.extend(entry.row["versions"] or [])
    return messages.AdvisoryInfo(
        id=row["id"],
        aliases=list(row["aliases"]),
        summary=row["summary"],
        severity=row["severity"],
        score=float(row["severity_score"]) if row["severity_score"] is not None else None,
        vector=row["severity_vector"],
        published_at=row["published_at"],
        modified_at=row["modified_at"],
        first_fixed=fixed,
        ranges=ranges,
        versions=explicit,
        references=[str(r) for r in (row["refs"] or [])],
        sources=list(row["sources"]),
    )


def _severity_key(info: messages.AdvisoryInfo) -> tuple[float, int, str]:
    return (-(info.score if info.score is not None else -1.0), -SEVERITY_ORDER.get((info.severity or "").lower(), -1), info.id)


async def for_package(
    database: db.Database, *, ecosystem: str, name: str, version: str | None
) -> tuple[list[messages.AdvisoryInfo], list[messages.Undetermined]]:
    """Advisories affecting `version` (or all of the package's, with ranges, when None)."""
    scheme = versions.scheme(ecosystem)
    if version is not None and not scheme.is_valid(version):
        raise errors.BadRequest(f"{version!r} is not a valid {ecosystem} version", version=version)
    rows = await store_advisories.for_package(database, ecosystem=ecosystem, name=name)
    grouped: dict[str, list[_Entry]] = defaultdict(list)
    facts: dict[str, Any] = {}
    for row in rows:
        grouped[row["id"]].append(_Entry(row=row, source=row["source"]))
        facts[row["id"]] = row
    found: list[messages.AdvisoryInfo] = []
    undetermined: list[messages.Undetermined] = []
    for advisory_id, entries in grouped.items():
        row = facts[advisory_id]
        if row["withdrawn_at"] is not None:
            continue
        best = max(SOURCE_RANK.get(e.source, 0) for e in entries)
        entries = [e for e in entries if SOURCE_RANK.get(e.source, 0) == best]
        if version is None:
            found.append(_info(row, entries, fixed=_fixed_after(scheme, None, entries), with_ranges=True))
            continue
        affected, problem = _matches(scheme, version, entries)
        if affected:
            found.append(_info(row, entries, fixed=_fixed_after(scheme, version, entries), with_ranges=False))
        elif problem:
            undetermined.append(messages.Undetermined(id=advisory_id, aliases=list(row["aliases"]), reason=problem))
    found.sort(key=_severity_key)
    return found, undetermined


async def affected_versions(
    database: db.Database, *, ecosystem: str, name: str, numbers: Sequence[str]
) -> dict[str, list[str]]:
    """Ids of the known advisories affecting each of `numbers` (versions no advisory affects are absent).

    One read for the package, then every version matched as `for_package` matches one: the
    recommender needs this for all candidates at once.
    """
    return affected_among(ecosystem, await package_advisories(database, ecosystem=ecosystem, name=name), numbers)


async def package_advisories(database: db.Database, *, ecosystem: str, name: str) -> list[Any]:
    """The stored advisory rows naming a package, for `affected_among` (a caller may read them
    while it reads the versions)."""
    return list(await store_advisories.for_package(database, ecosystem=ecosystem, name=name))


def affected_among(ecosystem: str, rows: Sequence[Any], numbers: Sequence[str]) -> dict[str, list[str]]:
    """`affected_versions` over advisory rows already read."""
    scheme = versions.scheme(ecosystem)
    grouped: dict[str, list[_Entry]] = defaultdict(list)
    for row in rows:
        if row["withdrawn_at"] is None:
            grouped[row["id"]].append(_Entry(row=row, source=row["source"]))
    found: dict[str, list[str]] = {}
    for advisory_id, entries in grouped.items():
        best = max(SOURCE_RANK.get(e.source, 0) for e in entries)
        entries = [e for e in entries if SOURCE_RANK.get(e.source, 0) == best]
        for number in numbers:
            if scheme.is_valid(number) and _matches(scheme, number, entries)[0]:
                found.setdefault(number, []).append(advisory_id)
    return found
