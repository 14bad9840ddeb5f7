"""Reading and writing package facts through named queries.

A package is written in one transaction (package row, versions, dependencies), so a
reader or a crash never sees it half-written.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from centralcloud.core import clock, errors, model, names
from centralcloud.store import db
from centralcloud.wire import messages


_encoder = msgspec.json.Encoder()


async def save_package(
    database: db.Database,
    facts: model.PackageFacts,
    *,
    etag: str | None,
    last_modified: str | None,
    durable: bool = False,
) -> int:
    """Store everything a source said about one package, in one statement; returns the package id.

    The statement is sent a second time, with the dependency lists it named, when the package
    does not store them yet (a new package, a new list): each attempt writes all or nothing.

    Without `durable`, the commit does not wait for the WAL flush: what a sync writes can
    always be fetched again, and waiting for the disk would bound it to a few hundred
    packages a second. Nothing is ever half-written either way: it is one statement.
    """
    lists = _DependencyLists()
    package = {
        "ecosystem": facts.ecosystem,
        "name": facts.name,
        "display_name": facts.display_name,
        "description": facts.description,
        "keywords": facts.keywords,
        "classifiers": facts.classifiers,
        "licenses": facts.licenses,
        "homepage": facts.homepage,
        "repository_url": facts.repository_url,
        "documentation_url": facts.documentation_url,
        "latest_version": facts.latest_version,
        "deprecated": facts.deprecated,
        "deprecated_reason": facts.deprecated_reason,
        "downloads": facts.downloads,
        "recent_downloads": facts.recent_downloads,
        "peer_frameworks": facts.peer_frameworks,
        "extra": facts.extra,
        "etag": etag,
        "last_modified": last_modified,
    }
    versions = [
        _StoredVersion(
            number=v.number,
            published_at=clock.aware(v.published_at),
            prerelease=v.prerelease,
            yanked=v.yanked,
            yanked_reason=v.yanked_reason,
            deprecated=v.deprecated,
            deprecated_reason=v.deprecated_reason,
            licenses=v.licenses,
            dependencies=None if v.dependencies is None else lists.digest(v.dependencies),
            requires_runtime=v.requires_runtime,
            features=v.features,
            metadata_url=v.metadata_url,
        )
        for v in facts.versions
    ]
    encoded_package = _encoder.encode(package).decode()
    encoded_versions = _encoder.encode(versions).decode()
    encoded_list = _encoder.encode(version_list(facts.versions))
    # Most saves repeat only lists the package stores already (one new version declares its
    # predecessor's), so none is sent at first: the statement names those it lacks, if any.
    sent: list[str] = []
    for _ in range(2):
        row = await database.fetchrow(
            "save_package",
            encoded_package,
            encoded_versions,
            [lists.texts[digest] for digest in sent],
            sent,
            not durable,
            encoded_list,
        )
        if row["id"] is not None:
            return row["id"]
        sent = [digest.hex for digest in row["missing"]]
    raise errors.DatabaseError(f"{facts.ecosystem} package {facts.name} was not stored: a dependency list went missing")


class _DependencyLists:
    """The distinct dependency lists of one package's versions, each with its digest.

    The digest is the md5 of the list's JSON text, as the migration computed it for stored rows.
    """

    def __init__(self) -> None:
        self.texts: dict[str, str] = {}
        """Each list's JSON text by its digest (32 hex digits)."""
        self._by_identity: dict[int, tuple[tuple[model.Dependency, ...], str]] = {}

    def digest(self, dependencies: tuple[model.Dependency, ...]) -> str:
        # Sources share one tuple among versions declaring the same list: found by identity, it
        # is encoded once (the tuple is kept so its id is not reused). Equal lists in distinct
        # tuples are encoded each time, which costs less than hashing every dependency.
        known = self._by_identity.get(id(dependencies))
        if known is not None:
            return known[1]
        text = _encoder.encode(dependencies)
        digest = hashlib.md5(text, usedforsecurity=False).hexdigest()
        self.texts.setdefault(digest, text.decode())
        self._by_identity[id(dependencies)] = (dependencies, digest)
        return digest


def version_list(versions: Iterable[model.Version]) -> list[messages.VersionInfo]:
    """Versions as packages.get sends them: newest publication first, undated last, then by number.

    The same order as the get_versions query, whose numbers compare by code point (COLLATE "C"),
    as Python's strings do.
    """
    infos = [msgspec.convert(v, type=messages.VersionInfo, from_attributes=True) for v in versions]
    for info in infos:
        if info.published_at is not None:
            # PostgreSQL gives timestamps back in UTC; so must the stored list.
            info.published_at = clock.aware(info.published_at).astimezone(dt.timezone.utc)
    infos.sort(key=lambda v: v.number, reverse=True)
    # Stable: equal publication times keep the number order.
    infos.sort(key=lambda v: (v.published_at is not None, v.published_at), reverse=True)
    return infos


class _StoredVersion(msgspec.Struct, array_like=False):
    """One version as the save_package query reads it."""

    number: str
    published_at: dt.datetime | None
    prerelease: bool
    yanked: bool
    yanked_reason: str | None
    deprecated: bool
    deprecated_reason: str | None
    licenses: tuple[str, ...]
    dependencies: str | None
    requires_runtime: str | None = None
    features: dict[str, tuple[str, ...]] | None = None
    metadata_url: str | None = None


# A package's purl never changes, and building one is a noticeable share of a cold read.
_purl = functools.lru_cache(maxsize=65536)(names.to_purl)
_dependencies_decoder = msgspec.json.Decoder(list[model.Dependency])
_versions_decoder = msgspec.json.Decoder(list[messages.VersionInfo])


_KIND_ORDER = {"runtime": 0, "peer": 1, "optional": 2, "build": 3, "dev": 4}


async def analyze(database: db.Executor) -> None:
    """Refresh PostgreSQL's statistics of the package facts tables."""
    await database.execute("analyze_facts")


async def touch(database: db.Executor, refs: Iterable[tuple[str, str]]) -> None:
    """Mark packages checked and unchanged (a 304 from their registry)."""
    refs = list(refs)
    if refs:
        await database.execute("touch_packages", [e for e, _ in refs], [n for _, n in refs])


async def validators(database: db.Database, *, ecosystem: str, name: str) -> tuple[str | None, str | None] | None:
    """(etag, last_modified) for a stored package, or None when it is not stored."""
    return (await validators_many(database, [(ecosystem, name)])).get((ecosystem, name))


async def validators_many(
    database: db.Executor, refs: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], tuple[str | None, str | None]]:
    """(etag, last_modified) of every stored package among `refs`."""
    refs = list(refs)
    rows = await database.fetch("validators_many", [e for e, _ in refs], [n for _, n in refs])
    return {(row["ecosystem"], row["name"]): (row["etag"], row["last_modified"]) for row in rows}


@dataclasses.dataclass
class StoredPackage:
    """A stored package as packages.get answers it, and what its advisories answer can skip."""

    reply: messages.PackageReply
    advisories_named: bool
    """Whether any stored advisory entry names the package (else none can affect any version)."""
    advisories_checked_at: dt.datetime | None
    """When an advisory source last answered for the package."""
    advisories_import_as_of: dt.datetime | None = None
    """The date of the newest imported advisory export covering its ecosystem, if any."""


async def load_package(
    database: db.Database, *, ecosystem: str, name: str, max_versions: int = 1000
) -> messages.PackageReply | None:
    """The stored package as a reply, or None when it is not stored."""
    stored = await read_package(database, ecosystem=ecosystem, name=name, max_versions=max_versions)
    return None if stored is None else stored.reply


async def read_package(
    database: db.Database, *, ecosystem: str, name: str, max_versions: int = 1000, for_encoding: bool = False
) -> StoredPackage | None:
    """The stored package with its advisory bookkeeping, in one round trip when its version list is stored.

    With `for_encoding`, a stored list sent whole is left as the bytes it was stored as, and the
    dependencies as encoded once (`msgspec.Raw`, which msgspec encodes as is): the reply is then
    only fit for encoding.
    """
    row = await database.lookup("get_packages", ecosystem, name)
    if row is None:
        return None
    listed: Any
    if row["version_list"] is not None:
        total = row["versions_total"]
        if for_encoding and max_versions >= total:
            listed = msgspec.Raw(row["version_list"])
        else:
            listed = _versions_decoder.decode(row["version_list"])[:max_versions]
    else:
        listed = [
            msgspec.convert(dict(v), type=messages.VersionInfo)
            for v in await database.fetch("get_versions", row["id"])
        ]
        total = len(listed)
        listed = listed[:max_versions]
    dependencies: Any = []
    if row["latest_dependencies"]:
        text = row["latest_dependencies"]
        dependencies = _declared_encoded(text) if for_encoding else list(_declared(text))
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
    reply = messages.PackageReply(
        ecosystem=row["ecosystem"],
        name=row["name"],
        purl=_purl(row["ecosystem"], row["name"]),
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
        downloads=downloads_info(row),
        repository=repository,
        dependencies=dependencies,
        versions=listed,
        versions_total=total,
        synced_at=row["synced_at"],
        quality=None if row["score"] is None else messages.QualityInfo(
            score=row["score"],
            popularity=row["popularity"],
            maintenance=row["maintenance"],
            security=row["security"],
            community=row["community"],
            parts=msgspec.json.decode(row["score_parts"]) if row["score_parts"] else {},
        ),
    )
    return StoredPackage(
        reply=reply, advisories_named=row["advisories_named"], advisories_checked_at=row["advisories_synced_at"],
        advisories_import_as_of=row["advisories_import_as_of"],
    )


def _declared(text: str) -> tuple[messages.DependencyInfo, ...]:
    """A version's dependency list (its stored JSON text) as packages.get sends it."""
    declared = _dependencies_decoder.decode(text)
    declared.sort(key=lambda d: (_KIND_ORDER.get(d.kind, 9), d.name))
    return tuple(
        messages.DependencyInfo(
            ecosystem=dep.ecosystem,
            name=dep.name,
            requirement=dep.requirement,
            kind=dep.kind,
            optional=dep.optional,
            condition=dep.condition,
        )
        for dep in declared
    )


# The encoded list is a pure function of the stored text, so it is worked out once per distinct
# text: a popular package read cold again and again costs a dictionary lookup here, not a
# decode, a sort and a re-encode. (Bytes, so no caller can change what the cache holds.)
@functools.lru_cache(maxsize=8192)
def _declared_encoded(text: str) -> msgspec.Raw:
    """`_declared`, encoded as the reply sends it (msgspec writes Raw as is)."""
    return msgspec.Raw(_encoder.encode(_declared(text)))


def downloads_info(row: Mapping[str, Any]) -> messages.DownloadsInfo | None:
    """The download counts of a package row (registry document counts and package_downloads joined)."""
    info = messages.DownloadsInfo(
        last_week=row["downloads_last_week"],
        last_month=row["downloads_last_month"],
        total=row["downloads_total"] if row["downloads_total"] is not None else row["downloads"],
        last_90_days=row["recent_downloads"],
    )
    known = (info.last_week, info.last_month, info.total, info.last_90_days)
    return None if all(count is None for count in known) else info


async def record_requests(database: db.Database, refs: Iterable[names.PackageRef], *, origin: str) -> None:
    refs = list(refs)
    if refs:
        await database.execute(
            "record_requests", [r.ecosystem for r in refs], [r.name for r in refs], origin
        )


async def remember_not_found(database: db.Executor, refs: Iterable[names.PackageRef]) -> None:
    """The registry does not know these requested names: the sync skips them for a while."""
    refs = list(refs)
    if refs:
        await database.execute("remember_not_found", [r.ecosystem for r in refs], [r.name for r in refs])
