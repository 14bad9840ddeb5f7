"""Reading and writing package facts through named queries.

A package is written in one transaction (package row, versions, dependencies), so a
reader or a crash never sees it half-written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import msgspec

from centralcloud import db, messages, model, names


async def save_package(
    database: db.Database, facts: model.PackageFacts, *, etag: str | None, last_modified: str | None
) -> int:
    """Store everything a source said about one package; returns the package id."""
    async with database.transaction() as tx:
        package_id = await tx.fetchval(
            "upsert_package",
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
        )
        versions = facts.versions
        rows = await tx.fetch(
            "upsert_versions",
            package_id,
            [v.number for v in versions],
            [model.utc(v.published_at) for v in versions],
            [v.prerelease for v in versions],
            [v.yanked for v in versions],
            [v.yanked_reason for v in versions],
            [v.deprecated for v in versions],
            [v.deprecated_reason for v in versions],
            [",".join(v.licenses) for v in versions],
            [v.dependencies is not None for v in versions],
        )
        await tx.execute("delete_missing_versions", package_id, [v.number for v in versions])
        ids = {row["number"]: row["id"] for row in rows}
        known = [v for v in versions if v.dependencies is not None]
        if known:
            await tx.execute("delete_dependencies", [ids[v.number] for v in known])
            flat = [(ids[v.number], dep) for v in known for dep in v.dependencies or ()]
            if flat:
                await tx.execute(
                    "insert_dependencies",
                    [version_id for version_id, _ in flat],
                    [dep.ecosystem for _, dep in flat],
                    [dep.name for _, dep in flat],
                    [dep.requirement for _, dep in flat],
                    [dep.kind for _, dep in flat],
                    [dep.optional for _, dep in flat],
                    [dep.condition for _, dep in flat],
                )
    return package_id


async def touch(database: db.Database, *, ecosystem: str, name: str) -> None:
    await database.execute("touch_package", ecosystem, name)


async def validators(database: db.Database, *, ecosystem: str, name: str) -> tuple[str | None, str | None] | None:
    """(etag, last_modified) for a stored package, or None when it is not stored."""
    row = await database.fetchrow("package_validators", ecosystem, name)
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
    dependencies = []
    if row["latest_version"]:
        dependencies = [
            messages.DependencyInfo(
                ecosystem=dep["ecosystem"],
                name=dep["name"],
                requirement=dep["requirement"],
                kind=dep["kind"],
                optional=dep["optional"],
                condition=dep["condition"],
            )
            for dep in await database.fetch("get_dependencies", row["id"], row["latest_version"])
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
    )


_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def query_terms(text: str) -> list[str]:
    """The words of a search query, safe to join into tsquery syntax."""
    return [word.lower() for word in _WORD.findall(text)][:16]


async def search(
    database: db.Database, *, query: str, ecosystem: str | None, limit: int
) -> list[messages.SearchHit]:
    terms = query_terms(query)
    if not terms:
        return []
    rows = await database.fetch("search_packages", " | ".join(terms), " & ".join(terms), ecosystem, limit)
    return [
        messages.SearchHit(
            ecosystem=row["ecosystem"],
            name=row["name"],
            purl=names.to_purl(row["ecosystem"], row["name"]),
            description=row["description"],
            latest_version=row["latest_version"],
            licenses=list(row["licenses"]),
            repository_url=row["repository_url"],
            downloads=row["downloads"],
            stars=row["stars"],
            deprecated=row["deprecated"],
            score=round(float(row["rank"]), 6),
        )
        for row in rows
    ]


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
