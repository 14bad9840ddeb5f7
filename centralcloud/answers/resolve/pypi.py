"""PyPI: `pip install` on a fresh environment, approximately.

- One version per name: the highest that satisfies every requirement seen, with
  the bounded backtracking of `_single` (pip uses resolvelib; without conflicts
  both take the newest candidate of each name).
- Candidates are those pip's finder keeps: releases with files (an upload time),
  not yanked (unless pinned with ==), whose Requires-Python admits the asked
  Python; prereleases only when a requirement names one or nothing else matches.
- Environment markers are evaluated with `packaging.markers` for CPython at the
  asked Python version (`DEFAULT_PYTHON` when not asked) on Linux x86_64, the
  platform of a manylinux wheel. Extras apply when asked for, on the root or
  through a requirement's own extras (`uvicorn[standard]`).
- Dependencies come from each release's wheel metadata (PEP 658), else from the
  JSON API; sdists' dynamic metadata is not built, and whether a wheel exists for
  the platform (pip's --only-binary) is not checked.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

import packaging.markers
import packaging.specifiers
import packaging.utils

from centralcloud import versions
from centralcloud.core import model
from centralcloud.answers import recommend
from centralcloud.answers.resolve import _graph, _single

DEFAULT_PYTHON = "3.12"
"""The Python a resolution is for when the request names none."""
PYPI = versions.scheme("pypi")
_EXTRA_ONLY = re.compile(r"extra == (\S+)")


async def resolve(
    provider: _graph.Provider,
    *,
    name: str,
    requirement: str,
    python: str = DEFAULT_PYTHON,
    extras: Sequence[str] = (),
    target: str | None = None,
    deadline: float | None = None,
) -> _graph.Resolution:
    """Resolve `name` at `requirement` ("==3.0.3", ">=2", "" for any) for Python `python`."""
    PYPI.max_satisfying((), requirement)  # an unreadable requirement is a 400 before anything is fetched
    recommend.check_runtime({"python": python})
    environment = _environment(python)
    notes: set[str] = {f"markers evaluated for CPython {python} on Linux x86_64"}
    rules = _single.Rules(
        ecosystem="pypi",
        candidates=functools.partial(_candidates, python=python),
        satisfies=_satisfies,
        wanted=functools.partial(_wanted, environment=environment, notes=notes),
    )
    return await _single.walk(
        fetcher=_graph.Fetcher(provider, deadline=deadline),
        rules=rules,
        name=name,
        requirement=requirement,
        extras=frozenset(packaging.utils.canonicalize_name(extra) for extra in extras),
        target=target,
        notes=notes,
    )


def _environment(python: str) -> dict[str, str]:
    parts = (python.strip().lstrip("v").split(".") + ["0", "0"])[:3]
    return {
        "python_version": ".".join(parts[:2]),
        "python_full_version": ".".join(parts),
        "implementation_name": "cpython",
        "implementation_version": ".".join(parts),
        "platform_python_implementation": "CPython",
        "os_name": "posix",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "x86_64",
        "platform_release": "",
        "platform_version": "",
    }


def _satisfies(version: str, requirement: str) -> bool:
    if not requirement:
        return True
    if requirement.startswith("@"):
        return True  # a direct URL: whatever was picked for the name stands
    try:
        return PYPI.satisfies(version, requirement, include_prerelease=True)
    except (versions.InvalidVersion, versions.InvalidRequirement):
        return False


def _candidates(facts: model.PackageFacts, requirements: Sequence[str], *, python: str) -> list[model.Version]:
    usable = []
    for version in facts.versions:
        if not PYPI.is_valid(version.number) or version.published_at is None:
            continue
        pinned = any(re.fullmatch(rf"===?\s*{re.escape(version.number)}", item.strip()) for item in requirements)
        if version.yanked and not pinned:
            continue
        if not recommend.runtime_admits("pypi", version.requires_runtime, python):
            continue
        if all(_satisfies(version.number, item) for item in requirements):
            usable.append(version)
    usable.sort(key=lambda version: PYPI.key(version.number), reverse=True)
    finals = [version for version in usable if not version.prerelease]
    named = any(_names_prerelease(item) for item in requirements)
    return usable if named or not finals else finals


def _names_prerelease(requirement: str) -> bool:
    try:
        return bool(packaging.specifiers.SpecifierSet(requirement).prereleases)
    except packaging.specifiers.InvalidSpecifier:
        return False


def _wanted(
    dependency: model.Dependency, extras: frozenset[str], *, environment: dict[str, str], notes: set[str]
) -> bool:
    if dependency.kind not in ("runtime", "optional"):
        return False
    if dependency.requirement.startswith("@"):
        notes.add(f"direct URL requirement kept as declared: {dependency.name} {dependency.requirement}")
    condition = dependency.condition
    if condition is None:
        return True
    only_extra = _EXTRA_ONLY.fullmatch(condition)
    if only_extra:
        return packaging.utils.canonicalize_name(only_extra[1]) in extras
    marker = packaging.markers.Marker(condition)
    return any(marker.evaluate({**environment, "extra": extra}) for extra in (extras or {""}))
