"""Hex: `mix deps.get` on a fresh project, approximately.

One version per name, the highest that satisfies every requirement (hex_solver
is PubGrub-based; the `_single` walk with its bounded backtracking agrees with it
on trees without conflicts). Prereleases only when a requirement names one
(Elixir's `allow_pre`); retired versions only when nothing else fits.
Optional dependencies are left out unless asked for: in Mix an optional
dependency is fetched only when something else requires it, and then this walk
sees that other requirement anyway.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from centralcloud import versions
from centralcloud.core import model
from centralcloud.answers.resolve import _graph, _single

HEX = versions.scheme("hex")


async def resolve(
    provider: _graph.Provider,
    *,
    name: str,
    requirement: str,
    include_optional: bool = False,
    target: str | None = None,
    deadline: float | None = None,
) -> _graph.Resolution:
    """Resolve `name` at `requirement` ("== 1.7.14", "~> 1.7")."""
    HEX.max_satisfying((), requirement)  # an unreadable requirement is a 400 before anything is fetched
    rules = _single.Rules(
        ecosystem="hex",
        candidates=_candidates,
        satisfies=_satisfies,
        wanted=functools.partial(_wanted, include_optional=include_optional),
    )
    return await _single.walk(
        fetcher=_graph.Fetcher(provider, deadline=deadline), rules=rules, name=name, requirement=requirement, target=target
    )


def _satisfies(version: str, requirement: str) -> bool:
    try:
        return HEX.satisfies(version, requirement)
    except (versions.InvalidVersion, versions.InvalidRequirement):
        return False


def _candidates(facts: model.PackageFacts, requirements: Sequence[str]) -> list[model.Version]:
    matching = [
        version
        for version in facts.versions
        if HEX.is_valid(version.number) and all(_satisfies(version.number, item) for item in requirements)
    ]
    matching.sort(key=lambda version: (not version.yanked, HEX.key(version.number)), reverse=True)
    return matching


def _wanted(dependency: model.Dependency, _extras: frozenset[str], *, include_optional: bool) -> bool:
    if dependency.kind not in ("runtime", "optional"):
        return False
    return include_optional or not dependency.optional
