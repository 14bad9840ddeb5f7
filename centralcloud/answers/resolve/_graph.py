"""What every resolver shares: the provider interface, the result types, fetching
within a deadline, and chains to a target."""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Iterable, Sequence
from typing import Protocol

import msgspec

from centralcloud.core import errors, model, names

log = logging.getLogger(__name__)

MAX_CHAINS = 20
"""Chains to a target kept, shortest first."""
_MAX_PATHS = 10_000
# Paths explored while looking for chains; a dense graph could otherwise enumerate without end.


class Provider(Protocol):
    """Where a resolver gets its facts: the store, on-demand fetches, or saved responses in tests."""

    async def package(self, name: str) -> model.PackageFacts:
        """Every version of `name` (dependencies may be None where not known yet); raise NotFound if none."""

    async def dependencies(self, name: str, version: model.Version) -> tuple[model.Dependency, ...]:
        """The dependencies of one version, fetching them when `version.dependencies` is None."""

    # A provider may also offer `async def package_batch(names) -> {name: facts}`, a batch read of
    # what it holds at hand, so the Fetcher reads a tree level in one call; and
    # `def dependencies_at_hand(name, version) -> tuple | None`, the dependencies it already holds.


class Node(msgspec.Struct, frozen=True, kw_only=True):
    """One resolved package version."""

    purl: str
    """Its purl, with version."""
    name: str
    """Normalized name."""
    version: str
    """The resolved version."""
    depth: int
    """Edges from the root along the shortest path (the root is 0)."""
    kinds: tuple[str, ...]
    """How it is reached: runtime, optional, peer, build, and "target" for platform-specific edges."""


class Edge(msgspec.Struct, frozen=True, kw_only=True):
    """A dependency between two resolved versions."""

    from_: str = msgspec.field(name="from")
    """The depender, as name@version."""
    to: str
    """The dependency, as name@version."""
    requirement: str
    """The requirement as declared."""
    kind: str = "runtime"
    """runtime, optional, peer or build."""


class Missing(msgspec.Struct, frozen=True, kw_only=True):
    """A package whose facts were not at hand."""

    name: str
    """Normalized name."""
    why: str
    """not found, source unavailable, or not fetched within the deadline."""


class Conflict(msgspec.Struct, frozen=True, kw_only=True):
    """A requirement no available version meets alongside the others."""

    name: str
    """The package required."""
    requirements: tuple[str, ...]
    """The requirements that could not all be met, each as "requirement (from name@version)"."""
    chosen: str | None = None
    """The version kept, if any."""


class Resolution(msgspec.Struct, kw_only=True):
    """A resolved tree."""

    root: str
    """The root as name@version."""
    nodes: list[Node]
    """Every resolved version, root first, then by depth and name."""
    edges: list[Edge]
    """Every dependency between resolved versions."""
    chains: list[list[str]] | None = None
    """With a target: paths from the root to it, shortest first, at most MAX_CHAINS."""
    missing: list[Missing] = msgspec.field(default_factory=list)
    """Packages that could not be read; their subtrees are absent."""
    conflicts: list[Conflict] = msgspec.field(default_factory=list)
    """Requirements that could not be met."""
    cycles: list[list[str]] = msgspec.field(default_factory=list)
    """Cycles cut while walking the tree, each as the path that closes it."""
    notes: list[str] = msgspec.field(default_factory=list)
    """The approximations that applied (ignored os/cpu, unsupported specs...)."""
    complete: bool = True
    """False when anything is missing."""

    def pairs(self) -> set[tuple[str, str]]:
        """(name, version) of every node: the set installers' own outputs are compared by."""
        return {(node.name, node.version) for node in self.nodes}


def key(name: str, version: str) -> str:
    return f"{name}@{version}"


class Fetcher:
    """Fetches packages through a provider concurrently, each once, within one deadline.

    What is not in by the deadline is reported missing; its fetch is left running
    (shielded), so a store-backed provider keeps what it gets and asking again completes.
    """

    def __init__(self, provider: Provider, *, deadline: float | None) -> None:
        self.provider = provider
        self._ends = None if deadline is None else time.monotonic() + deadline
        self._packages: dict[str, asyncio.Task[model.PackageFacts]] = {}
        self._dependencies: dict[tuple[str, str], asyncio.Task[tuple[model.Dependency, ...]]] = {}
        self.missing: dict[str, str] = {}

    def prefetch(self, names_: Iterable[str]) -> None:
        """Start reading packages: through the provider's batch form (`package_batch`, one query for a
        whole tree level) where it has one, then one by one for what the batch did not hold."""
        new = [name for name in dict.fromkeys(names_) if name not in self._packages and name not in self.missing]
        batch = getattr(self.provider, "package_batch", None)
        if batch is None or not new:
            for name in new:
                self._packages[name] = asyncio.ensure_future(self.provider.package(name))
            return
        loaded = asyncio.ensure_future(batch(new))
        for name in new:
            self._packages[name] = asyncio.ensure_future(self._from_batch(loaded, name))

    async def _from_batch(self, loaded: asyncio.Future[dict[str, model.PackageFacts]], name: str) -> model.PackageFacts:
        found = (await asyncio.shield(loaded)).get(name)
        return found if found is not None else await self.provider.package(name)

    async def package(self, name: str) -> model.PackageFacts | None:
        """The facts of `name`, or None (and `missing` says why)."""
        self.prefetch([name])
        if name in self.missing:
            return None
        return await self._wait(self._packages[name], name)

    async def dependencies(self, name: str, version: model.Version) -> tuple[model.Dependency, ...] | None:
        if version.dependencies is not None:
            return version.dependencies
        at_hand = getattr(self.provider, "dependencies_at_hand", None)
        found = at_hand(name, version) if at_hand is not None else None
        if found is not None:
            return found
        task = self._dependencies.get((name, version.number))
        if task is None:
            task = asyncio.ensure_future(self.provider.dependencies(name, version))
            self._dependencies[(name, version.number)] = task
        return await self._wait(task, key(name, version.number))

    async def _wait(self, task: asyncio.Future, what: str):  # type: ignore[no-untyped-def]
        if task.done() and not task.cancelled() and task.exception() is None:
            return task.result()  # most reads are in by the time they are needed: no timer, no shield
        remaining = None if self._ends is None else max(0.0, self._ends - time.monotonic())
        try:
            return await asyncio.wait_for(asyncio.shield(task), timeout=remaining)
        except TimeoutError:
            self.missing[what] = "not fetched within the deadline"
        except errors.NotFound:
            self.missing[what] = "not found"
        except errors.CentralCloudError as err:
            self.missing[what] = f"unavailable: {err.message}"
        return None

    def missing_list(self) -> list[Missing]:
        return [Missing(name=name, why=why) for name, why in sorted(self.missing.items())]


def build(
    *,
    ecosystem: str,
    root: tuple[str, str],
    edges: Sequence[tuple[tuple[str, str], tuple[str, str], str, str, str | None]],
    target: str | None,
    fetcher: Fetcher,
    conflicts: list[Conflict],
    notes: Iterable[str] = (),
) -> Resolution:
    """A Resolution from the resolver's edges ((from), (to), requirement, kind, condition).

    Depths come from a breadth-first walk from the root; an edge back to a version on the
    walk's path to its depender closes a cycle, which is noted (the edge itself is kept).
    """
    outgoing: dict[tuple[str, str], list[tuple[tuple[str, str], str, str | None]]] = collections.defaultdict(list)
    for parent, child, _requirement, kind, condition in edges:
        outgoing[parent].append((child, kind, condition))
    depth = {root: 0}
    parent_of: dict[tuple[str, str], tuple[str, str] | None] = {root: None}
    kinds: dict[tuple[str, str], set[str]] = {root: set()}
    cycles: list[list[str]] = []
    queue = collections.deque([root])
    while queue:
        current = queue.popleft()
        for child, kind, condition in outgoing[current]:
            kinds.setdefault(child, set()).add(kind)
            if condition:
                kinds[child].add("target")
            if child not in depth:
                depth[child] = depth[current] + 1
                parent_of[child] = current
                queue.append(child)
            elif _is_ancestor(child, current, parent_of):
                path = [current]
                while path[-1] != child:
                    path.append(parent_of[path[-1]])  # type: ignore[arg-type]
                cycles.append([key(*item) for item in reversed(path)] + [key(*child)])
    ordered = sorted(depth, key=lambda item: (depth[item], item))
    nodes = [
        Node(
            purl=names.to_purl(ecosystem, name, version),
            name=name,
            version=version,
            depth=depth[(name, version)],
            kinds=tuple(sorted(kinds[(name, version)])),
        )
        for name, version in ordered
    ]
    edge_list = [
        Edge(from_=key(*parent), to=key(*child), requirement=requirement, kind=kind)
        for parent, child, requirement, kind, _condition in edges
        if parent in depth
    ]
    missing = fetcher.missing_list()
    return Resolution(
        root=key(*root),
        nodes=nodes,
        edges=edge_list,
        chains=None if target is None else chains(root=root, outgoing=outgoing, target=target),
        missing=missing,
        conflicts=conflicts,
        cycles=cycles,
        notes=sorted(set(notes)),
        complete=not missing,
    )


def _is_ancestor(
    candidate: tuple[str, str], node: tuple[str, str], parent_of: dict[tuple[str, str], tuple[str, str] | None]
) -> bool:
    walk: tuple[str, str] | None = node
    while walk is not None:
        if walk == candidate:
            return True
        walk = parent_of.get(walk)
    return False


def chains(
    *,
    root: tuple[str, str],
    outgoing: dict[tuple[str, str], list[tuple[tuple[str, str], str, str | None]]],
    target: str,
    limit: int = MAX_CHAINS,
) -> list[list[str]]:
    """Every simple path from the root to any version of `target`, shortest first, at most `limit`."""
    found: list[list[str]] = []
    queue = collections.deque([[root]])
    explored = 0
    while queue and len(found) < limit and explored < _MAX_PATHS:
        path = queue.popleft()
        explored += 1
        for child, _kind, _condition in outgoing.get(path[-1], ()):
            if child in path:
                continue
            if child[0] == target:
                found.append([key(*item) for item in [*path, child]])
                if len(found) == limit:
                    break
                continue
            queue.append([*path, child])
    return found
