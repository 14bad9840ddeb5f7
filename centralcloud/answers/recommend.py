"""Which version to use: newest first, skipping what a careful person would skip.

`recommend` is a pure function of the version records and the request, so the
same facts always give the same answer. It agrees with the ecosystem's own tool
when nothing but the tool's own rules applies: for PyPI it picks what
`pip index versions NAME --python-version X.Y` lists first (newest final release
whose Requires-Python admits X.Y, yanked releases left out), for npm what
node-semver's `maxSatisfying` gives for the requirement.

Skip rules, each reported in `skipped` for versions newer than the pick:
prereleases unless allowed; yanked (PyPI, crates.io) or retired (Hex) versions;
deprecated versions; versions a known advisory affects (with the ids); versions
younger than `min_age_days` (a cooldown like Renovate's `minimumReleaseAge`);
versions whose runtime requirement excludes the asker's runtime.

Adoption (how many of the team's instances use a version) only breaks ties
between candidates of equal precedence, and in the fallback between equally bad
ones; it can never lift a version past one that is safer.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Literal

import msgspec
import packaging.specifiers

from centralcloud import versions
from centralcloud.core import errors, model, names

RUNTIMES: dict[str, str] = {"pypi": "python", "npm": "node", "cargo": "rust", "hex": "elixir"}
"""The runtime key each ecosystem's versions are constrained by."""
_RUNTIME_NAMES = {"python": "Python", "node": "Node.js", "rust": "Rust", "elixir": "Elixir"}
_RUNTIME_VERSION = re.compile(r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?")
_MAX_SKIPPED = 20
# Fallback order: the lower, the less bad. Yanked, vulnerable or runtime-excluded versions are never offered.
_BADNESS = {"cooldown": 0, "prerelease": 1, "deprecated": 2}

Breaking = Literal["major", "minor", "patch", "none"]


class NoCandidate(errors.NotFound):
    """Every version was skipped and none is usable even as the least bad."""

    kind = "no_candidate"


class Candidate(msgspec.Struct, frozen=True, kw_only=True):
    """What the recommender knows about one version."""

    number: str
    """The version as the registry spells it."""
    published_at: dt.datetime | None = None
    """When it was published (aware UTC), if known."""
    prerelease: bool = False
    """A prerelease by the ecosystem's rules."""
    yanked: bool = False
    """Yanked (PyPI, crates.io) or retired (Hex)."""
    deprecated: bool = False
    """Deprecated by its publisher (npm)."""
    requires_runtime: str | None = None
    """The runtime it needs (Requires-Python, engines.node, rust_version, elixir requirement)."""
    advisories: tuple[str, ...] = ()
    """Ids of the known advisories affecting it."""
    adoption: int = 0
    """Instances of the team using it (zero until pattern knowledge exists)."""


class Skipped(msgspec.Struct, frozen=True, kw_only=True):
    """A newer version passed over, and why."""

    version: str
    """The version."""
    why: str
    """Every rule it failed, "; "-separated."""
    advisories: tuple[str, ...] = ()
    """Advisory ids, when one of the reasons is a known advisory."""


class Upgrade(msgspec.Struct, frozen=True, kw_only=True):
    """What moving from the asker's current version to the pick means."""

    from_: str = msgspec.field(name="from")
    """The asker's current version."""
    advisories_fixed: tuple[str, ...] = ()
    """Advisories that affect the current version and not the pick."""
    breaking: Breaking = "none"
    """The largest component that changes: major (or 0.x minor in SemVer ecosystems), minor, patch or none."""
    downgrade: bool = False
    """True when the pick is older than the current version."""


class Adoption(msgspec.Struct, frozen=True, kw_only=True):
    """How much the team uses the pick."""

    instances: int = 0
    """Instances using it."""


class Recommendation(msgspec.Struct, frozen=True, kw_only=True):
    """The answer."""

    version: str
    """The recommended version."""
    latest: str | None
    """The newest final, unwithdrawn release, whatever the request asked."""
    reasons: tuple[str, ...]
    """Why this version, in words."""
    skipped: tuple[Skipped, ...] = ()
    """Newer versions passed over (at most 20, newest first)."""
    upgrade: Upgrade | None = None
    """Present when the request gave its current version."""
    adoption: Adoption = Adoption()
    """The team's use of the pick."""
    least_bad: bool = False
    """True when every candidate failed some rule and this is the least bad of them."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Options:
    """The request's options, validated by `options()`."""

    requirement: str | None = None
    """A requirement in the ecosystem's syntax that the pick must satisfy."""
    current: str | None = None
    """The version the asker uses now."""
    runtime: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """The asker's runtimes: python, node, rust, elixir."""
    allow_prerelease: bool = False
    """Let prereleases be picked."""
    min_age_days: float = 0.0
    """Cooldown: skip versions published fewer days ago than this."""
    now: dt.datetime
    """The time the ages are measured at."""
    advisories_checked: bool = True
    """An advisory source answered for the package recently; otherwise "no known advisory" is
    not a reason, and the reasons say the advisories are unchecked."""


def candidates_from(
    facts: model.PackageFacts,
    *,
    advisories: Mapping[str, Sequence[str]] | None = None,
    adoption: Mapping[str, int] | None = None,
) -> list[Candidate]:
    """Candidates from a package's facts, with advisory ids and adoption per version number when known."""
    return [
        Candidate(
            number=version.number,
            published_at=version.published_at,
            prerelease=version.prerelease,
            yanked=version.yanked,
            deprecated=version.deprecated,
            requires_runtime=version.requires_runtime,
            advisories=tuple((advisories or {}).get(version.number, ())),
            adoption=(adoption or {}).get(version.number, 0),
        )
        for version in facts.versions
    ]


def check_runtime(runtime: Mapping[str, str]) -> dict[str, str]:
    """Validate a request's runtime map; raise BadRequest for an unknown key or a value that is no version."""
    checked = {}
    for key, value in runtime.items():
        if key not in _RUNTIME_NAMES:
            raise errors.BadRequest(
                f"unknown runtime {key!r}: expected one of {', '.join(sorted(_RUNTIME_NAMES))}", runtime=key
            )
        if not isinstance(value, str) or not _RUNTIME_VERSION.fullmatch(value.strip()):
            raise errors.BadRequest(f"runtime {key} {value!r} is not a version like 3.11 or 20.10.0", runtime=key)
        checked[key] = value.strip()
    return checked


def recommend(*, ecosystem: str, candidates: Sequence[Candidate], options: Options) -> Recommendation:
    """The recommended version among `candidates` (any order), or NoCandidate."""
    ecosystem = names.ecosystem(ecosystem)
    scheme = versions.scheme(ecosystem)
    runtime = check_runtime(options.runtime)
    if options.requirement is not None:
        # Parsed up front so an unreadable requirement is a 400 even when there are no versions.
        scheme.max_satisfying((), options.requirement)
    ordered = _newest_first(scheme, candidates)
    runtime_key = RUNTIMES[ecosystem]
    asked_runtime = runtime.get(runtime_key)

    skipped: list[Skipped] = []
    rejected: list[tuple[Candidate, list[str]]] = []
    chosen: Candidate | None = None
    for position, candidate in enumerate(ordered):
        if options.requirement is not None and not scheme.satisfies(
            candidate.number, options.requirement, include_prerelease=True
        ):
            continue
        failures = _failures(candidate, ecosystem=ecosystem, runtime=asked_runtime, options=options)
        if not failures:
            chosen = _tie_break(scheme, ordered, position, candidate, ecosystem, asked_runtime, options)
            break
        rejected.append((candidate, failures))
        if len(skipped) < _MAX_SKIPPED:
            skipped.append(
                Skipped(
                    version=candidate.number,
                    why="; ".join(_describe(rule, candidate, ecosystem, asked_runtime, options) for rule in failures),
                    advisories=candidate.advisories if "advisory" in failures else (),
                )
            )

    least_bad = False
    if chosen is None:
        chosen = _least_bad(rejected)
        if chosen is None:
            why = [f"{entry.version}: {entry.why}" for entry in skipped]
            raise NoCandidate(
                "no version is usable" + (f" ({'; '.join(why[:5])})" if why else ": none satisfies the request"),
                ecosystem=ecosystem,
                skipped=[msgspec.to_builtins(entry) for entry in skipped],
            )
        least_bad = True
        skipped = [entry for entry in skipped if entry.version != chosen.number]

    reasons = _reasons(chosen, ecosystem=ecosystem, runtime=asked_runtime, options=options, least_bad=least_bad)
    if least_bad:
        failed = next(failures for candidate, failures in rejected if candidate is chosen)
        reasons = [
            "least bad: every candidate failed a check",
            *(_describe(rule, chosen, ecosystem, asked_runtime, options) for rule in failed),
            *reasons,
        ]
    return Recommendation(
        version=chosen.number,
        latest=_latest(ordered),
        reasons=tuple(reasons),
        skipped=tuple(skipped),
        upgrade=_upgrade(scheme, ecosystem, ordered, chosen, options.current),
        adoption=Adoption(instances=chosen.adoption),
        least_bad=least_bad,
    )


def _newest_first(scheme: versions.Scheme, candidates: Sequence[Candidate]) -> list[Candidate]:
    # A version the scheme cannot read cannot be compared, so it is never recommended.
    readable = [candidate for candidate in candidates if scheme.is_valid(candidate.number)]
    return sorted(readable, key=lambda candidate: scheme.key(candidate.number), reverse=True)


def _failures(candidate: Candidate, *, ecosystem: str, runtime: str | None, options: Options) -> list[str]:
    found = []
    if candidate.yanked:
        found.append("yanked")
    if candidate.deprecated:
        found.append("deprecated")
    if candidate.prerelease and not options.allow_prerelease:
        found.append("prerelease")
    if runtime is not None and not runtime_admits(ecosystem, candidate.requires_runtime, runtime):
        found.append("runtime")
    if candidate.advisories:
        found.append("advisory")
    if _age_days(candidate, options.now) is not None and _age_days(candidate, options.now) < options.min_age_days:
        found.append("cooldown")
    return found


def runtime_admits(ecosystem: str, requirement: str | None, runtime: str) -> bool:
    """Whether a version's runtime requirement admits the asker's runtime version.

    A requirement the runtime's own tool could not read does not exclude (pip and npm
    ignore an unreadable Requires-Python or engines range too).
    """
    if requirement is None:
        return True
    full = _full_runtime(runtime)
    try:
        if ecosystem == "pypi":
            # pip compares Requires-Python with the interpreter's full version (3.11 is 3.11.0).
            return packaging.specifiers.SpecifierSet(requirement).contains(full, prereleases=True)
        if ecosystem == "npm":
            return versions.scheme("npm").satisfies(full, requirement, include_prerelease=True)
        if ecosystem == "cargo":
            # rust_version is a minimum toolchain, written like "1.70" or "1.70.0".
            return versions.scheme("cargo").satisfies(full, f">={requirement}")
        return versions.scheme("hex").satisfies(full, requirement)
    except (packaging.specifiers.InvalidSpecifier, versions.InvalidRequirement, versions.InvalidVersion):
        return True


def _full_runtime(runtime: str) -> str:
    match = _RUNTIME_VERSION.fullmatch(runtime.strip())
    if match is None:
        raise errors.BadRequest(f"runtime version {runtime!r} is not a version")
    return ".".join(part or "0" for part in match.groups())


def _age_days(candidate: Candidate, now: dt.datetime) -> float | None:
    if candidate.published_at is None:
        return None
    return (now - candidate.published_at).total_seconds() / 86400


def _describe(rule: str, candidate: Candidate, ecosystem: str, runtime: str | None, options: Options) -> str:
    if rule == "runtime":
        return f"requires {_RUNTIME_NAMES[RUNTIMES[ecosystem]]} {candidate.requires_runtime}"
    if rule == "advisory":
        return "affected by " + ", ".join(candidate.advisories)
    if rule == "cooldown":
        age = _age_days(candidate, options.now) or 0.0
        return f"published {age:.1f} days ago, inside the {options.min_age_days:g}-day cooldown"
    return rule


def _tie_break(
    scheme: versions.Scheme,
    ordered: list[Candidate],
    position: int,
    candidate: Candidate,
    ecosystem: str,
    runtime: str | None,
    options: Options,
) -> Candidate:
    """Among passing versions of equal precedence (1.0 and 1.0.0, build metadata), the most adopted."""
    key = scheme.key(candidate.number)
    equal = []
    for other in ordered[position:]:
        if scheme.key(other.number) != key:
            break  # newest first: versions of equal precedence sit together
        if (options.requirement is None or scheme.satisfies(other.number, options.requirement, include_prerelease=True)) \
                and not _failures(other, ecosystem=ecosystem, runtime=runtime, options=options):
            equal.append(other)
    return max(equal, key=lambda other: other.adoption)


def _least_bad(rejected: list[tuple[Candidate, list[str]]]) -> Candidate | None:
    offered = [
        (max(_BADNESS[rule] for rule in failures), -candidate.adoption, index, candidate)
        for index, (candidate, failures) in enumerate(rejected)
        if all(rule in _BADNESS for rule in failures)
    ]
    return min(offered, key=lambda entry: entry[:3])[3] if offered else None


def _reasons(
    chosen: Candidate, *, ecosystem: str, runtime: str | None, options: Options, least_bad: bool
) -> list[str]:
    reasons = []
    if not least_bad:
        qualifier = f" that satisfies {options.requirement}" if options.requirement else ""
        reasons.append(f"newest release{qualifier} passing every check")
    if runtime is not None:
        reasons.append(f"supports {_RUNTIME_NAMES[RUNTIMES[ecosystem]]} {runtime}")
    if not chosen.advisories:
        reasons.append(
            "no known advisory" if options.advisories_checked
            else "advisories unchecked: no advisory source has answered for this package recently"
        )
    age = _age_days(chosen, options.now)
    if age is not None:
        reasons.append(f"published {int(age)} days ago")
    if chosen.adoption:
        reasons.append(f"used by {chosen.adoption} of your team's instances")
    return reasons


def _latest(ordered: list[Candidate]) -> str | None:
    return next((c.number for c in ordered if not c.prerelease and not c.yanked), None)


def _upgrade(
    scheme: versions.Scheme, ecosystem: str, ordered: list[Candidate], chosen: Candidate, current: str | None
) -> Upgrade | None:
    if current is None:
        return None
    current_key = scheme.key(current)  # raises InvalidVersion (a 400) for a current that is no version
    known = next((c for c in ordered if scheme.key(c.number) == current_key), None)
    affecting_current = known.advisories if known else ()
    return Upgrade(
        from_=current,
        advisories_fixed=tuple(item for item in affecting_current if item not in chosen.advisories),
        breaking=_breaking(scheme, ecosystem, current, chosen.number),
        downgrade=scheme.key(chosen.number) < current_key,
    )


def _breaking(scheme: versions.Scheme, ecosystem: str, old: str, new: str) -> Breaking:
    before, after = _release(scheme.parse(old)), _release(scheme.parse(new))
    if before == after:
        return "none"
    if before[0] != after[0]:
        return "major"
    # Under SemVer's caret rules a 0.x minor change breaks as a major one does; PEP 440 has no such rule.
    if before[1] != after[1]:
        return "major" if ecosystem != "pypi" and before[0] == 0 else "minor"
    return "patch"


def _release(parsed: object) -> tuple[int, int, int]:
    release = tuple(parsed.release)  # type: ignore[attr-defined]
    return (release + (0, 0, 0))[:3]  # type: ignore[return-value]
