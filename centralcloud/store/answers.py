"""What the answers read: whole packages with every version's dependencies and runtime needs,
need matches with their ranking signals, dependents, framework plugins and the team's use.

The team's use of a package is read through `team_use` alone, so that it can be re-pointed at
pattern aggregates once they exist; it counts distinct instances in the team_dependencies view over the reported projects.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections.abc import Iterable
from typing import Any

import msgspec

from centralcloud.core import model
from centralcloud.store import db

TRANSITIVE_DEPTH = 6
"""How far up the stored dependency graph the team's transitive use of a package is looked for."""


async def load_facts(
    database: db.Executor, *, ecosystem: str, name: str, details: bool = True
) -> model.PackageFacts | None:
    """The stored package with every version's runtime requirement and metadata URL and, with
    `details`, its dependencies (None where never fetched) and features; None when the package is
    not stored. Without `details` every version's dependencies and features read None: a version
    choice needs neither, and decoding them is most of the read."""
    return (await load_many(database, ecosystem=ecosystem, names=[name], details=details)).get(name)


async def load_many(
    database: db.Executor, *, ecosystem: str, names: list[str], details: bool = True
) -> dict[str, model.PackageFacts]:
    """`load_facts` for many packages of one ecosystem in one query; packages not stored are absent."""
    rows = await database.fetch("answer_versions", ecosystem, names, details)
    return {name: _facts(ecosystem, name, list(group)) for name, group in itertools.groupby(rows, key=_name)}


async def load_undecoded(
    database: db.Executor, *, ecosystem: str, names: list[str]
) -> dict[str, tuple[model.PackageFacts, dict[str, str]]]:
    """Packages for a resolver's tree level in one query: their facts without dependencies or
    features, and each version's stored dependencies as JSON text for `decode_dependencies`
    (versions never fetched are absent). A resolver reads the dependencies of one or two versions
    of each package: decoding every version's was most of a tree's time."""
    rows = await database.fetch("answer_versions", ecosystem, names, True)
    found = {}
    for name, group in itertools.groupby(rows, key=_name):
        group = list(group)
        raw = {row["number"]: row["dependencies"] for row in group if row["dependencies"] is not None}
        found[name] = (_facts(ecosystem, name, group, decode=False), raw)
    return found


def decode_dependencies(text: str) -> tuple[model.Dependency, ...]:
    return _DEPENDENCIES.decode(text)


def _name(row: Any) -> str:
    return row["name"]


def _facts(ecosystem: str, name: str, group: list[Any], *, decode: bool = True) -> model.PackageFacts:
    first = group[0]
    return model.PackageFacts(
        ecosystem=ecosystem,
        name=name,
        display_name=first["display_name"],
        description=first["description"],
        keywords=tuple(first["keywords"]),
        classifiers=tuple(first["classifiers"]),
        latest_version=first["latest_version"],
        deprecated=first["package_deprecated"],
        peer_frameworks=tuple(first["peer_frameworks"]),
        versions=tuple(_version(row, decode=decode) for row in group),
    )


_DEPENDENCIES = msgspec.json.Decoder(tuple[model.Dependency, ...])
_FEATURES = msgspec.json.Decoder(dict[str, tuple[str, ...]])


def _version(row: Any, *, decode: bool = True) -> model.Version:
    # JSON text decoded straight into the model: far cheaper than the driver's json codec then a convert.
    dependencies, features = (row["dependencies"], row["features"]) if decode else (None, None)
    return model.Version(
        number=row["number"],
        published_at=row["published_at"],
        prerelease=row["prerelease"],
        yanked=row["yanked"],
        yanked_reason=row["yanked_reason"],
        deprecated=row["deprecated"],
        deprecated_reason=row["deprecated_reason"],
        dependencies=None if dependencies is None else _DEPENDENCIES.decode(dependencies),
        requires_runtime=row["requires_runtime"],
        features=None if features is None else _FEATURES.decode(features),
        metadata_url=row["metadata_url"],
    )


@dataclasses.dataclass(frozen=True)
class TeamUse:
    """How many of the team's instances and projects use a package."""

    instances: int = 0
    projects: int = 0


async def team_use(database: db.Executor, refs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], TeamUse]:
    """The team's direct use of each package; packages nobody reports are absent (read as zero)."""
    refs = list(refs)
    if not refs:
        return {}
    rows = await database.fetch("team_instances", [e for e, _ in refs], [n for _, n in refs])
    return {(row["ecosystem"], row["name"]): TeamUse(row["instances"], row["projects"]) for row in rows}


@dataclasses.dataclass(frozen=True)
class TeamReach:
    direct_instances: int
    direct_projects: int
    instances: int
    projects: int


async def team_reach(database: db.Executor, *, ecosystem: str, name: str) -> TeamReach:
    """Instances and projects using a package directly, and directly or through stored dependencies."""
    row = await database.fetchrow("team_use_transitive", ecosystem, name, TRANSITIVE_DEPTH)
    return TeamReach(row["direct_instances"], row["direct_projects"], row["instances"], row["projects"])


@dataclasses.dataclass(frozen=True)
class NeedMatch:
    """A stored package matching a need, with the signals the ranking reads."""

    ecosystem: str
    name: str
    description: str | None
    latest_version: str | None
    downloads: int | None
    deprecated: bool
    discovered: bool
    text_rank: float
    """PostgreSQL's ts_rank_cd of the need's words (any of them, or their beginnings)."""
    every_word: bool
    """Every word of the need matches."""
    stars: int | None
    archived: bool | None
    score: float | None
    advisories_checked: bool
    has_advisories: bool
    latest_published_at: dt.datetime | None
    dependency_names: list[str]
    """What its latest version depends on (not for development), in its own ecosystem."""


async def need_matches(
    database: db.Executor, *, terms: list[str], refs: Iterable[tuple[str, str]]
) -> list[NeedMatch]:
    """The ranking signals of the stored packages among `refs` for a need's words (each word also
    as a prefix); packages not stored are absent."""
    refs = list(refs)
    if not terms or not refs:
        return []
    prefixed = " | ".join(f"{term}:*" for term in terms)
    rows = await database.fetch(
        "recommendation_candidates", prefixed, " & ".join(terms), [e for e, _ in refs], [n for _, n in refs]
    )
    return [NeedMatch(**{field.name: row[field.name] for field in dataclasses.fields(NeedMatch)}) for row in rows]


async def mark_discovered(database: db.Executor, refs: Iterable[tuple[str, str]]) -> None:
    """Mark packages a registry search brought in (those stored before for use stay unmarked)."""
    refs = list(refs)
    if refs:
        await database.execute("mark_discovered", [e for e, _ in refs], [n for _, n in refs])


async def dependents(database: db.Executor, *, ecosystem: str, name: str) -> list[Any]:
    """Stored packages whose latest version depends on the package: name, latest_version, requirement, kind, optional."""
    return list(await database.fetch("dependents_of", ecosystem, name))


def classifier_prefix(display_name: str) -> str:
    """The lower-case trove classifier a PyPI framework's plugins carry ("framework :: django")."""
    return f"framework :: {display_name.lower()}"


async def framework_plugins(
    database: db.Executor, *, ecosystem: str, name: str, display_name: str, limit: int
) -> list[Any]:
    """Stored packages plugging into a framework, most downloaded first: ecosystem, name, description,
    latest_version, downloads, how (peer, classifier or keyword)."""
    return list(await database.fetch("framework_plugins", ecosystem, name, classifier_prefix(display_name), limit))


async def framework_plugin_counts(database: db.Executor, refs: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """How many stored packages plug into each (ecosystem, name)."""
    if not refs:
        return {}
    rows = await database.fetch("framework_plugin_counts", [e for e, _ in refs], [n for _, n in refs])
    return {(row["ecosystem"], row["name"]): row["plugins"] for row in rows}


async def team_projects_with(database: db.Executor, *, ecosystem: str, name: str) -> list[tuple[str, str, frozenset[str]]]:
    """(instance, project, direct dependencies as "ecosystem:name") of every project using the package."""
    rows = await database.fetch("team_projects_with", ecosystem, name)
    return [(row["instance_id"], row["project"], frozenset(row["items"])) for row in rows]


async def team_item_projects(database: db.Executor, refs: list[tuple[str, str]]) -> tuple[dict[str, int], int]:
    """Projects using each package ("ecosystem:name" keys) and the team's project total."""
    if not refs:
        return {}, 0
    rows = await database.fetch("team_item_projects", [e for e, _ in refs], [n for _, n in refs])
    return {f"{row['ecosystem']}:{row['name']}": row["projects"] for row in rows}, (rows[0]["total"] if rows else 0)


_encoder = msgspec.json.Encoder()


async def save_version_details(database: db.Executor, *, ecosystem: str, name: str, version: model.Version) -> None:
    """Keep what a per-release fetch told about a stored version (dependencies, runtime requirement)."""
    dependencies = None if version.dependencies is None else _encoder.encode(version.dependencies).decode()
    await database.execute("save_version_details", ecosystem, name, version.number, dependencies, version.requires_runtime)
