"""Reading and writing package facts through named queries.

A package is written in one transaction (package row, versions, dependencies), so a
reader or a crash never sees it half-written.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from centralcloud import db, errors, messages, model, names


_dependencies_encoder = msgspec.json.Encoder()


async def save_package(
    database: db.Database,
    facts: model.PackageFacts,
    *,
    etag: str | None,
    last_modified: str | None,
    durable: bool = False,
) -> int:
    """Store everything a source said about one package, in one statement; returns the package id.

    Without `durable`, the commit does not wait for the WAL flush: what a sync writes can
    always be fetched again, and waiting for the disk would bound it to a few hundred
    packages a second. Nothing is ever half-written either way: it is one statement.
    """
    versions = facts.versions
    # Dependency lists by content: consecutive versions mostly declare the same ones.
    distinct: dict[tuple[model.Dependency, ...], int] = {}
    return await database.fetchval(
        "save_package",
        facts.ecosystem,
        facts.name,
        facts.display_name,
        facts.description,
        list(facts.keywords),
        list(facts.classifiers),
        list(facts.licenses),
        facts.homepage,
        facts.repository_url,
        facts.documentation_url,
        facts.latest_version,
        facts.deprecated,
        facts.deprecated_reason,
        facts.downloads,
        facts.recent_downloads,
        list(facts.peer_frameworks),
        msgspec.to_builtins(facts.extra),
        etag,
        last_modified,
        [v.number for v in versions],
        [model.utc(v.published_at) for v in versions],
        [v.prerelease for v in versions],
        [v.yanked for v in versions],
        [v.yanked_reason for v in versions],
        [v.deprecated for v in versions],
        [v.deprecated_reason for v in versions],
        [",".join(v.licenses) for v in versions],
        [None if v.dependencies is None else distinct.setdefault(v.dependencies, len(distinct) + 1) for v in versions],
        not durable,
        [_dependencies_encoder.encode(dependencies).decode() for dependencies in distinct],
    )


def _decode_dependencies(value: object) -> list[model.Dependency]:
    if not value:
        return []
    return msgspec.convert(value, type=list[model.Dependency])


_KIND_ORDER = {"runtime": 0, "peer": 1, "optional": 2, "build": 3, "dev": 4}


async def touch(database: db.Database, *, ecosystem: str, name: str) -> None:
    await database.execute("touch_packages", [ecosystem], [name])


async def validators(database: db.Database, *, ecosystem: str, name: str) -> tuple[str | None, str | None] | None:
    """(etag, last_modified) for a stored package, or None when it is not stored."""
    row = await database.fetchrow("validators_many", [ecosystem], [name])
    if row is None:
        return None
    return row["etag"], row["last_modified"]


async def load_package(
    database: db.Database, *, ecosystem: str, name: str, max_versions: int = 1000
) -> messages.PackageReply | None:
    """The stored package as a reply, or None when it is not stored."""
    row = await database.fetchrow("get_package", ecosystem, name)
    if row is None:
        return None
    version_rows = await database.fetch("get_versions", row["id"])
    declared = sorted(_decode_dependencies(row["latest_dependencies"]), key=lambda d: (_KIND_ORDER.get(d.kind, 9), d.name))
    dependencies = [
        messages.DependencyInfo(
            ecosystem=dep.ecosystem,
            name=dep.name,
            requirement=dep.requirement,
            kind=dep.kind,
            optional=dep.optional,
            condition=dep.condition,
        )
        for dep in declared
    ]
    repository = None
    if row["repo_url"]:
        repository = messages.RepositoryInfo(
            url=row["repo_url"],
            stars=row["stars"],
            forks=row["forks"],
            open_issues=row["open_issues"],
            pushed_at=row["pushed_at"],
            archived=row["archived"],
        )
    return messages.PackageReply(
        ecosystem=row["ecosystem"],
        name=row["name"],
        purl=names.to_purl(row["ecosystem"], row["name"]),
        display_name=row["display_name"],
        description=row["description"],
        latest_version=row["latest_version"],
        licenses=list(row["licenses"]),
        keywords=list(row["keywords"]),
        classifiers=list(row["classifiers"]),
        homepage=row["homepage"],
        repository_url=row["repository_url"],
        documentation_url=row["documentation_url"],
        deprecated=row["deprecated"],
        deprecated_reason=row["deprecated_reason"],
        downloads=row["downloads"],
        repository=repository,
        dependencies=dependencies,
        versions=[
            messages.VersionInfo(
                number=v["number"],
                published_at=v["published_at"],
                prerelease=v["prerelease"],
                yanked=v["yanked"],
                yanked_reason=v["yanked_reason"],
                deprecated=v["deprecated"],
                deprecated_reason=v["deprecated_reason"],
            )
            for v in version_rows[:max_versions]
        ],
        versions_total=len(version_rows),
        synced_at=row["synced_at"],
        quality=None if row["score"] is None else messages.QualityInfo(
            score=row["score"],
            popularity=row["popularity"],
            maintenance=row["maintenance"],
            security=row["security"],
            community=row["community"],
            parts=dict(row["score_parts"] or {}),
        ),
    )


async def enable_fuzzy_search(database: db.Database) -> bool:
    """Install pg_trgm where the server offers it and we may; True when typo matching is available."""
    if await database.fetchval("trigram_installed"):
        return True
    if not await database.fetchval("trigram_available"):
        return False
    try:
        await database.execute("install_trigram")
    except errors.DatabaseError:
        return False  # e.g. not allowed to create extensions: search works without typo matching
    return bool(await database.fetchval("trigram_installed"))


async def record_requests(database: db.Database, refs: Iterable[names.PackageRef], *, origin: str) -> None:
    refs = list(refs)
    if refs:
        await database.execute(
            "record_requests", [r.ecosystem for r in refs], [r.name for r in refs], origin
        )


async def save_repository(database: db.Database, facts: model.RepositoryFacts, *, etag: str | None, url: str) -> int:
    return await database.fetchval(
        "upsert_repository",
        url,
        facts.host,
        facts.owner,
        facts.name,
        facts.description,
        facts.stars,
        facts.forks,
        facts.open_issues,
        model.utc(facts.pushed_at),
        facts.archived,
        facts.disabled,
        facts.license,
        list(facts.topics),
        facts.default_branch,
        etag,
    )
