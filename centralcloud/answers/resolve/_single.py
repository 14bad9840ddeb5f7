"""One version per name, the highest that satisfies every requirement seen (PyPI, Hex).

Breadth first from the root. A name's first requirement picks its highest
candidate; a later requirement the pick does not meet restarts the walk with the
versions it rules out set aside, or, when no version of the name meets every
requirement, with the depender's version set aside instead. That is bounded
backtracking: after `max_rounds` restarts the remaining conflicts are reported.
pip (resolvelib) and Hex (PubGrub) search more cleverly; on trees without
conflicts they agree with this walk, because both also prefer the newest
version of each name.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable, Sequence

from centralcloud.core import model
from centralcloud.answers.resolve import _graph

ROUNDS = 50
"""Restarts allowed before the remaining conflicts are reported."""


@dataclasses.dataclass(frozen=True)
class Rules:
    """What differs between the ecosystems using this walk."""

    ecosystem: str
    candidates: Callable[[model.PackageFacts, Sequence[str]], list[model.Version]]
    """The versions that meet every requirement, best first."""
    satisfies: Callable[[str, str], bool]
    """Whether a version meets one requirement."""
    wanted: Callable[[model.Dependency, frozenset[str]], bool]
    """Whether a dependency applies, given the extras asked of its depender."""


@dataclasses.dataclass(frozen=True)
class _Ask:
    name: str
    requirement: str
    parent: tuple[str, str] | None
    kind: str
    condition: str | None
    extras: frozenset[str]


async def walk(
    *,
    fetcher: _graph.Fetcher,
    rules: Rules,
    name: str,
    requirement: str,
    extras: frozenset[str] = frozenset(),
    target: str | None = None,
    notes: set[str] | None = None,
    max_rounds: int = ROUNDS,
) -> _graph.Resolution:
    notes = notes if notes is not None else set()
    set_aside: dict[str, set[str]] = collections.defaultdict(set)
    conflicts: list[_graph.Conflict] = []
    for _round in range(max_rounds + 1):
        outcome = await _attempt(fetcher, rules, name, requirement, extras, set_aside, final=_round == max_rounds)
        if outcome is None:
            continue
        chosen, edges, conflicts = outcome
        root_version = chosen.get(name)
        return _graph.build(
            ecosystem=rules.ecosystem,
            root=(name, root_version.number if root_version else requirement),
            edges=edges,
            target=target,
            fetcher=fetcher,
            conflicts=conflicts,
            notes=notes,
        )
    raise AssertionError("unreachable: the final round always returns")


async def _attempt(  # noqa: C901 - one walk, kept together so its restarts read in one place
    fetcher: _graph.Fetcher,
    rules: Rules,
    name: str,
    requirement: str,
    extras: frozenset[str],
    set_aside: dict[str, set[str]],
    *,
    final: bool,
) -> tuple[dict[str, model.Version], list, list[_graph.Conflict]] | None:
    """One walk; None when it set something aside and must restart."""
    chosen: dict[str, model.Version] = {}
    seen: dict[str, list[tuple[str, tuple[str, str] | None]]] = collections.defaultdict(list)
    extras_done: dict[str, frozenset[str]] = {}
    edges: list[tuple[tuple[str, str], tuple[str, str], str, str, str | None]] = []
    conflicts: list[_graph.Conflict] = []
    queue = collections.deque([_Ask(name, requirement, None, "runtime", None, extras)])
    while queue:
        ask = queue.popleft()
        seen[ask.name].append((ask.requirement, ask.parent))
        facts = await fetcher.package(ask.name)
        if facts is None:
            continue
        current = chosen.get(ask.name)
        if current is not None and not rules.satisfies(current.number, ask.requirement):
            requirements = [item for item, _parent in seen[ask.name]]
            remaining = [v for v in rules.candidates(facts, requirements) if v.number not in set_aside[ask.name]]
            if not final:
                if remaining:
                    # Everything the new requirement rules out goes, not just the pick: one restart, not one per version.
                    set_aside[ask.name].update(
                        v.number for v in facts.versions if not rules.satisfies(v.number, ask.requirement)
                    )
                    return None
                if await _other_version(fetcher, rules, ask.parent, seen, set_aside, root=name):
                    set_aside[ask.parent[0]].add(ask.parent[1])  # type: ignore[index]
                    return None
            conflicts.append(_conflict(ask.name, seen[ask.name], current.number))
            continue
        if current is None:
            requirements = [item for item, _parent in seen[ask.name]]
            options = [v for v in rules.candidates(facts, requirements) if v.number not in set_aside[ask.name]]
            if not options:
                if not final and await _other_version(fetcher, rules, ask.parent, seen, set_aside, root=name):
                    set_aside[ask.parent[0]].add(ask.parent[1])  # type: ignore[index]
                    return None
                conflicts.append(_conflict(ask.name, seen[ask.name], None))
                continue
            current = chosen[ask.name] = options[0]
        if ask.parent is not None:
            edges.append((ask.parent, (ask.name, current.number), ask.requirement, ask.kind, ask.condition))
        done = extras_done.get(ask.name)
        active = (done or frozenset()) | ask.extras
        if done is not None and active == done:
            continue
        extras_done[ask.name] = active
        dependencies = await fetcher.dependencies(ask.name, current) or ()
        applicable = [d for d in dependencies if rules.wanted(d, active) and not (done is not None and rules.wanted(d, done))]
        fetcher.prefetch(d.name for d in applicable)
        for dependency in applicable:
            queue.append(
                _Ask(
                    dependency.name,
                    dependency.requirement,
                    (ask.name, current.number),
                    dependency.kind,
                    dependency.condition,
                    frozenset(dependency.features),
                )
            )
    return chosen, edges, conflicts


async def _other_version(
    fetcher: _graph.Fetcher,
    rules: Rules,
    parent: tuple[str, str] | None,
    seen: dict[str, list[tuple[str, tuple[str, str] | None]]],
    set_aside: dict[str, set[str]],
    *,
    root: str,
) -> bool:
    """Whether the depender could take another version: only then is setting its version aside worth a restart."""
    if parent is None or parent[0] == root:
        return False
    facts = await fetcher.package(parent[0])
    if facts is None:
        return False
    requirements = [item for item, _origin in seen[parent[0]]]
    return any(
        v.number != parent[1] and v.number not in set_aside[parent[0]] for v in rules.candidates(facts, requirements)
    )


def _conflict(name: str, seen: list[tuple[str, tuple[str, str] | None]], chosen: str | None) -> _graph.Conflict:
    return _graph.Conflict(
        name=name,
        requirements=tuple(
            f"{requirement or '*'} (from {_graph.key(*parent) if parent else 'the request'})" for requirement, parent in seen
        ),
        chosen=chosen,
    )
