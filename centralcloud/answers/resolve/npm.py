"""npm: a fresh `npm install`, approximately.

What it does, as npm 7+ (arborist) does:
- Breadth first, by depth and then by install path; each package's dependency
  edges in name order. Runtime and optional dependencies are installed, and so are
  peer dependencies unless `peerDependenciesMeta.<name>.optional` says otherwise;
  dev dependencies of packages are never installed.
- An edge first looks for the name in node_modules folders from the depender's
  own up to the root; a version found there that satisfies the range is reused.
- Otherwise the version is picked as npm-pick-manifest picks it: the `latest`
  dist-tag when it satisfies the range and is neither deprecated nor excluded by
  `engines.node`; else the highest satisfying version, preferring those that are
  not deprecated and whose engines admit the given Node.
- It is placed as close to the root as it can be: in the highest node_modules
  folder reachable from the depender without passing one that holds another
  version of the name. Duplicates are allowed (that is how conflicts resolve).

What it leaves out: os/cpu/libc filters (optional dependencies are kept and a
note says so), replacing an already placed version by a newer one that suits
every dependent (arborist's REPLACE), peer dependency sets placed beside their
dependent, overrides, bundled dependencies and non-registry specs (git, file,
aliases), which are noted and skipped.
"""

from __future__ import annotations

import dataclasses
import re

from centralcloud import versions
from centralcloud.core import model
from centralcloud.answers.resolve import _graph

NPM = versions.scheme("npm")
_REGISTRY_SPEC = re.compile(r"^[\sv=<>~^*xX|\d.\-+A-Za-z]*$")


@dataclasses.dataclass(eq=False)
class _Folder:
    """A node_modules folder: what it holds, and the folder above it."""

    parent: _Folder | None
    prefix: str
    """Its install path up to node_modules/ ("" at the top, "node_modules/a/" for a's own)."""
    holds: dict[str, _Placed] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(eq=False)
class _Placed:
    name: str
    version: model.Version
    location: _Folder
    """The folder it is installed in."""
    path: str
    depth: int
    own: _Folder = dataclasses.field(init=False)
    """Its own node_modules."""

    def __post_init__(self) -> None:
        self.own = _Folder(parent=self.location, prefix=self.path + "/")


async def resolve(
    provider: _graph.Provider,
    *,
    name: str,
    version: str,
    node: str | None = None,
    include_dev: bool = False,
    target: str | None = None,
    deadline: float | None = None,
) -> _graph.Resolution:
    """Resolve `name@version` as `npm install name@version` would in an empty project.

    `node` is the Node.js version engines are checked against (unchecked when None);
    `include_dev` adds the root's own dev dependencies (never those of dependencies).
    """
    fetcher = _graph.Fetcher(provider, deadline=deadline)
    notes: set[str] = set()
    conflicts: list[_graph.Conflict] = []
    edges: list[tuple[tuple[str, str], tuple[str, str], str, str, str | None]] = []
    facts = await fetcher.package(name)
    root_version = _version(facts, version) if facts else None
    if root_version is None:
        if facts is not None:
            fetcher.missing[_graph.key(name, version)] = "no such version"
        return _graph.build(
            ecosystem="npm", root=(name, version), edges=[], target=target, fetcher=fetcher, conflicts=conflicts
        )
    top = _Folder(parent=None, prefix="")
    root = _Placed(name=name, version=root_version, location=top, path=f"node_modules/{name}", depth=1)
    top.holds[name] = root
    queue = [root]
    while queue:
        # Arborist's order: shallowest first, then by install path.
        queue.sort(key=lambda placed: (placed.depth, placed.path))
        level, queue = queue, []
        # The whole level's dependencies are asked for at once: one batch read of what is stored.
        wanted_by = [
            await _wanted(fetcher, placed, include_dev=include_dev and placed is root, notes=notes) for placed in level
        ]
        fetcher.prefetch(dependency.name for wanted in wanted_by for dependency in wanted)
        for placed, wanted in zip(level, wanted_by):
            for dependency in wanted:
                child = await _place(fetcher, placed, dependency, node=node, notes=notes, conflicts=conflicts)
                if child is None:
                    continue
                reached, is_new = child
                edges.append(
                    (
                        (placed.name, placed.version.number),
                        (reached.name, reached.version.number),
                        dependency.requirement,
                        dependency.kind,
                        None,
                    )
                )
                if is_new:
                    queue.append(reached)
    return _graph.build(
        ecosystem="npm",
        root=(name, root_version.number),
        edges=edges,
        target=target,
        fetcher=fetcher,
        conflicts=conflicts,
        notes=notes,
    )


def _version(facts: model.PackageFacts, number: str) -> model.Version | None:
    return next((item for item in facts.versions if item.number == number), None)


async def _wanted(
    fetcher: _graph.Fetcher, placed: _Placed, *, include_dev: bool, notes: set[str]
) -> list[model.Dependency]:
    declared = await fetcher.dependencies(placed.name, placed.version) or ()
    wanted: dict[str, model.Dependency] = {}
    for dependency in declared:
        if dependency.kind == "dev" and not include_dev:
            continue
        if dependency.kind == "peer" and dependency.optional:
            continue
        if dependency.kind == "optional":
            notes.add("optional dependencies are installed whatever their os/cpu fields say")
        # A name in several sections is one edge; the first section read (dependencies) wins.
        wanted.setdefault(dependency.name, dependency)
    return sorted(wanted.values(), key=lambda dependency: dependency.name)


async def _place(
    fetcher: _graph.Fetcher,
    placed: _Placed,
    dependency: model.Dependency,
    *,
    node: str | None,
    notes: set[str],
    conflicts: list[_graph.Conflict],
) -> tuple[_Placed, bool] | None:
    spec = dependency.requirement.strip() or "*"
    visible = _visible(placed, dependency.name)
    if not _REGISTRY_SPEC.match(spec) and spec not in ("latest", "next"):
        notes.add(f"non-registry spec skipped: {dependency.name}@{spec}")
        return None
    if visible is not None and _satisfies(visible.version.number, spec):
        return visible, False
    facts = await fetcher.package(dependency.name)
    if facts is None:
        return None
    chosen = pick(facts, spec, node=node)
    if chosen is None:
        conflicts.append(
            _graph.Conflict(
                name=dependency.name,
                requirements=(f"{spec} (from {_graph.key(placed.name, placed.version.number)})",),
            )
        )
        return None
    # Climb from the depender's own folder while the folder above holds no other version of the name.
    folder = placed.own
    while folder.parent is not None and dependency.name not in folder.parent.holds:
        folder = folder.parent
    existing = folder.holds.get(dependency.name)
    if existing is not None and existing.version.number == chosen.number:
        return existing, False
    path = f"{folder.prefix}node_modules/{dependency.name}"
    child = _Placed(name=dependency.name, version=chosen, location=folder, path=path, depth=path.count("node_modules/"))
    folder.holds[dependency.name] = child
    return child, True


def _visible(placed: _Placed, name: str) -> _Placed | None:
    """The version of `name` that Node's module lookup would find from inside `placed`."""
    folder: _Folder | None = placed.own
    while folder is not None:
        if name in folder.holds:
            return folder.holds[name]
        folder = folder.parent
    return None


def _satisfies(version: str, spec: str) -> bool:
    try:
        return NPM.satisfies(version, spec)
    except (versions.InvalidRequirement, versions.InvalidVersion):
        return False


def pick(facts: model.PackageFacts, spec: str, *, node: str | None) -> model.Version | None:
    """The version npm-pick-manifest would pick for `spec` (a range or a dist-tag)."""
    tags = facts.extra.get("dist_tags") if isinstance(facts.extra.get("dist_tags"), dict) else {}
    by_number = {item.number: item for item in facts.versions}
    if spec in tags:  # type: ignore[operator]
        return by_number.get(tags[spec])  # type: ignore[index]
    latest = by_number.get(tags.get("latest") or facts.latest_version or "")  # type: ignore[union-attr]
    if latest is not None and _satisfies(latest.number, spec) and _fine(latest, node):
        return latest
    # Newest first, so the scan stops at the first fine match: the highest fine one, else the highest one.
    newest_first = sorted(
        (item for item in facts.versions if NPM.is_valid(item.number)), key=lambda item: NPM.key(item.number), reverse=True
    )
    unfit = None
    for item in newest_first:
        if _satisfies(item.number, spec):
            if _fine(item, node):
                return item
            unfit = unfit or item
    return unfit


def _fine(version: model.Version, node: str | None) -> bool:
    """Not deprecated, and its engines admit `node` (when one is given)."""
    if version.deprecated:
        return False
    if node is None or version.requires_runtime is None:
        return True
    try:
        return NPM.satisfies(node, version.requires_runtime, include_prerelease=True)
    except (versions.InvalidRequirement, versions.InvalidVersion):
        return True
