"""Cargo: `cargo generate-lockfile` for one crate, approximately.

- One version per semver-compatible range (same left-most non-zero component):
  a requirement reuses a version already picked when one satisfies it, else takes
  the highest unyanked match; when that lands in a range already holding another
  version, the range is re-picked for every requirement on it (a restart, bounded
  like `_single`'s), and what still cannot be met is a conflict.
- With `rust`, versions whose rust_version admits it are preferred, falling back
  to the others as Cargo's MSRV-aware resolver (RFC 3537) does.
- Features are unified per version: default features unless a dependent opts
  out, the features each dependent asks, and everything they enable. Optional
  dependencies are included only when an enabled feature activates them (`dep:x`,
  `x/feat`, or the implicit feature named after the dependency); `x?/feat` only
  adds a feature to a dependency something else activated.
- Target-specific dependencies are included for every target and marked
  "target"; build dependencies are included (kind "build"); dev dependencies
  are left out.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Sequence

from centralcloud import versions
from centralcloud.core import model
from centralcloud.answers import recommend
from centralcloud.answers.resolve import _graph

CARGO = versions.scheme("cargo")
ROUNDS = 50


def compatible_range(number: str) -> tuple[int, ...]:
    """The semver-compatible range a version belongs to: 1.x.y → (1,), 0.3.y → (0, 3), 0.0.z → (0, 0, z)."""
    major, minor, patch = CARGO.parse(number).release
    if major:
        return (major,)
    return (0, minor) if minor else (0, 0, patch)


async def resolve(
    provider: _graph.Provider,
    *,
    name: str,
    requirement: str,
    features: Sequence[str] = (),
    default_features: bool = True,
    rust: str | None = None,
    target: str | None = None,
    deadline: float | None = None,
) -> _graph.Resolution:
    """Resolve crate `name` at `requirement` with `features` (and its defaults unless turned off)."""
    CARGO.max_satisfying((), requirement)  # an unreadable requirement is a 400 before anything is fetched
    if rust is not None:
        recommend.check_runtime({"rust": rust})
    fetcher = _graph.Fetcher(provider, deadline=deadline)
    pins: dict[tuple[str, tuple[int, ...]], list[str]] = collections.defaultdict(list)
    outcome = None
    for round_ in range(ROUNDS + 1):
        outcome = await _attempt(
            fetcher, name, requirement, tuple(features), default_features, rust, pins, final=round_ == ROUNDS
        )
        if outcome is not None:
            break
    assert outcome is not None
    root, edges, conflicts, notes = outcome
    return _graph.build(
        ecosystem="cargo", root=root, edges=edges, target=target, fetcher=fetcher, conflicts=conflicts, notes=notes
    )


class _Restart(Exception):
    """A compatible range must be picked again with every requirement on it."""


class _Walk:
    def __init__(self) -> None:
        self.picked: dict[tuple[str, tuple[int, ...]], model.Version] = {}
        self.state: dict[tuple[str, str], tuple[set[str], bool]] = {}
        """Per version: the features enabled so far and whether its defaults are on."""
        self.edges: dict[tuple, tuple] = {}
        self.conflicts: list[_graph.Conflict] = []
        self.notes: set[str] = set()


async def _attempt(
    fetcher: _graph.Fetcher,
    name: str,
    requirement: str,
    features: tuple[str, ...],
    default_features: bool,
    rust: str | None,
    pins: dict[tuple[str, tuple[int, ...]], list[str]],
    *,
    final: bool,
) -> tuple | None:
    """One walk; None when a range had to be re-picked and the walk must restart."""
    walk = _Walk()
    try:
        root = await _pick(fetcher, walk, name, requirement, None, rust, pins, final=final)
        if root is None:
            return (name, requirement), [], walk.conflicts, walk.notes
        queue = collections.deque([(name, root, set(features), default_features)])
        while queue:
            crate, version, asked, with_defaults = queue.popleft()
            await _visit(fetcher, walk, queue, crate, version, asked, with_defaults, rust, pins, final=final)
    except _Restart:
        return None
    return (name, root.number), list(walk.edges.values()), walk.conflicts, walk.notes


async def _visit(
    fetcher: _graph.Fetcher,
    walk: _Walk,
    queue: collections.deque,
    crate: str,
    version: model.Version,
    asked: set[str],
    with_defaults: bool,
    rust: str | None,
    pins: dict[tuple[str, tuple[int, ...]], list[str]],
    *,
    final: bool,
) -> None:
    """(Re)visit a version whose features grew: feature unification means a second dependent can activate more."""
    node = (crate, version.number)
    state = walk.state.get(node)
    wanted = (state[0] if state else set()) | asked
    defaults = (state[1] if state else False) or with_defaults
    if state is not None and wanted <= state[0] and defaults == state[1]:
        return
    dependencies = [d for d in (await fetcher.dependencies(crate, version) or ()) if d.kind != "dev"]
    enabled, activated, requested = _features(version, dependencies, wanted, defaults)
    walk.state[node] = (enabled, defaults)
    fetcher.prefetch(d.name for d in dependencies)
    for dependency in dependencies:
        local = dependency.alias or dependency.name
        if dependency.optional and local not in activated:
            continue
        child = await _pick(fetcher, walk, dependency.name, dependency.requirement, node, rust, pins, final=final)
        if child is None:
            continue
        kind = "build" if dependency.kind == "build" else ("optional" if dependency.optional else "runtime")
        walk.edges[(node, dependency.name, dependency.requirement, kind, dependency.condition)] = (
            node,
            (dependency.name, child.number),
            dependency.requirement,
            kind,
            dependency.condition,
        )
        asked_of_child = set(dependency.features) | requested.get(local, set())
        queue.append((dependency.name, child, asked_of_child, dependency.default_features))


async def _pick(
    fetcher: _graph.Fetcher,
    walk: _Walk,
    crate: str,
    requirement: str,
    parent: tuple[str, str] | None,
    rust: str | None,
    pins: dict[tuple[str, tuple[int, ...]], list[str]],
    *,
    final: bool,
) -> model.Version | None:
    """The version a requirement resolves to, reusing a picked one; raise _Restart when a range must be re-picked."""
    existing = [v for (picked_crate, _range), v in walk.picked.items() if picked_crate == crate and _satisfies(v.number, requirement)]
    if existing:
        return max(existing, key=lambda v: CARGO.key(v.number))
    facts = await fetcher.package(crate)
    if facts is None:
        return None
    best = _best(facts.versions, [requirement], rust)
    if best is None:
        walk.conflicts.append(_conflict(crate, [requirement], parent, None))
        return None
    bucket = (crate, compatible_range(best.number))
    chosen = _best(facts.versions, [requirement, *pins[bucket]], rust)
    held = walk.picked.get(bucket)
    if held is None and chosen is not None:
        walk.picked[bucket] = chosen
        if requirement not in pins[bucket]:
            pins[bucket].append(requirement)
        return chosen
    if chosen is not None and not final and requirement not in pins[bucket]:
        # The range already holds a version this requirement rules out: pick the range again for all of them.
        pins[bucket].append(requirement)
        raise _Restart
    walk.conflicts.append(_conflict(crate, [requirement, *pins[bucket]], parent, held.number if held else None))
    return None


def _best(candidates: Iterable[model.Version], requirements: Sequence[str], rust: str | None) -> model.Version | None:
    matching = [
        v
        for v in candidates
        if not v.yanked and CARGO.is_valid(v.number) and all(_satisfies(v.number, item) for item in requirements)
    ]
    if not matching:
        return None
    return max(
        matching,
        key=lambda v: (rust is None or recommend.runtime_admits("cargo", v.requires_runtime, rust), CARGO.key(v.number)),
    )


def _satisfies(version: str, requirement: str) -> bool:
    try:
        return CARGO.satisfies(version, requirement)
    except (versions.InvalidVersion, versions.InvalidRequirement):
        return False


def _features(
    version: model.Version, dependencies: Sequence[model.Dependency], asked: set[str], with_defaults: bool
) -> tuple[set[str], set[str], dict[str, set[str]]]:
    """(enabled features, activated optional dependencies, features asked of each dependency)."""
    table = version.features or {}
    optional = {d.alias or d.name for d in dependencies if d.optional}
    # An optional dependency named with dep: anywhere has no implicit feature of its name.
    explicit = {entry[4:] for entries in table.values() for entry in entries if entry.startswith("dep:")}
    enabled: set[str] = set()
    activated: set[str] = set()
    requested: dict[str, set[str]] = collections.defaultdict(set)
    weak: list[tuple[str, str]] = []
    pending = list(asked) + (["default"] if with_defaults and "default" in table else [])
    while pending:
        feature = pending.pop()
        if feature in enabled:
            continue
        if feature not in table:
            if feature in optional and feature not in explicit:
                activated.add(feature)
            enabled.add(feature)
            continue
        enabled.add(feature)
        for entry in table[feature]:
            if entry.startswith("dep:"):
                activated.add(entry[4:])
            elif "?/" in entry:
                dep, _, dep_feature = entry.partition("?/")
                weak.append((dep, dep_feature))
            elif "/" in entry:
                dep, _, dep_feature = entry.partition("/")
                if dep in optional:
                    activated.add(dep)
                requested[dep].add(dep_feature)
            else:
                pending.append(entry)
    for dep, dep_feature in weak:
        if dep in activated or dep not in optional:
            requested[dep].add(dep_feature)
    return enabled, activated, requested


def _conflict(crate: str, requirements: Sequence[str], parent: tuple[str, str] | None, chosen: str | None) -> _graph.Conflict:
    origin = _graph.key(*parent) if parent else "the request"
    return _graph.Conflict(name=crate, requirements=tuple(f"{item} (from {origin})" for item in requirements), chosen=chosen)
