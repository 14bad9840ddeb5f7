"""npm: one packument per package, holding every version's manifest.

The full packument is asked for (Accept: application/json, the base's default):
the abbreviated install format leaves out descriptions, licenses and deprecations.
"""

from __future__ import annotations

import logging
import re
import urllib.parse
from typing import Any

import aiohttp
import msgspec

from centralcloud import versions
from centralcloud.core import errors, model, names
from centralcloud.sources import base, http, readers, registries, repository_urls

log = logging.getLogger(__name__)

# Manifest sections: their name in the manifest, their field in _Manifest, and the dependency kind each declares.
_SECTIONS = (
    ("dependencies", "dependencies", "runtime"),
    ("devDependencies", "dev_dependencies", "dev"),
    ("optionalDependencies", "optional_dependencies", "optional"),
    ("peerDependencies", "peer_dependencies", "peer"),
)
# node-semver's own reading decides what a prerelease is, so a version's flag agrees with range matching.
_VERSIONS = versions.scheme("npm")
_PLAIN = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+")


class _Described(msgspec.Struct, rename="camel", gc=False):
    """What both a packument and a version's manifest may say about the package.

    Only the fields the mapping reads are decoded; the rest of a packument (readmes, dist,
    scripts, maintainers: most of its bytes) is skipped without building objects. Fields whose
    shape varies across npm's history are `Any` and read leniently, as before."""

    description: Any = None
    keywords: Any = None
    license: Any = None
    licenses: Any = None
    homepage: Any = None
    repository: Any = None


class _Manifest(_Described):
    """One version's manifest."""

    dependencies: Any = None
    dev_dependencies: Any = None
    optional_dependencies: Any = None
    peer_dependencies: Any = None
    peer_dependencies_meta: Any = None
    deprecated: Any = None
    engines: Any = None


# A manifest or packument that is not an object decodes as what it is, and is then reported (not a decoding error).
_NotObject = list[Any] | str | int | float | bool | None


class _Packument(_Described):
    """A package's packument."""

    name: Any = None
    dist_tags: Any = msgspec.field(default=None, name="dist-tags")
    versions: dict[str, _Manifest | _NotObject] | _NotObject = None
    time: Any = None


_Document = _Packument | _NotObject
_DECODER = msgspec.json.Decoder(_Document)
_NO_MANIFEST = _Manifest()


def _packument(doc: Any) -> Any:
    """`doc` as a _Packument: as decoded from the registry, or from generic JSON (dicts)."""
    return doc if isinstance(doc, _Packument) else msgspec.convert(doc, _Document)


def _manifest(manifest: Any) -> Any:
    """`manifest` as a _Manifest: as decoded with the packument, or from generic JSON (a dict)."""
    return manifest if isinstance(manifest, _Manifest) else msgspec.convert(manifest, _Manifest | _NotObject)


class NpmSource(base.Source):
    """The npm registry (or a mirror of it)."""

    ecosystem = "npm"
    name = "npm"

    @classmethod
    def configured(cls, *, settings: Any, session: aiohttp.ClientSession, policy: http.HttpPolicy) -> NpmSource:
        # Unset: the registry npm itself is configured with (never a host written here).
        url = settings.npm_url or registries.npm_registry_url()
        return cls(session=session, base_url=url, policy=policy)

    async def fetch(
        self, name: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> model.FetchResult:
        package = names.normalize(self.ecosystem, name)
        # A scoped name is one path segment to the registry: @scope%2fname.
        return await self.fetch_mapped(
            package.replace("/", "%2f"),
            package=package,
            etag=etag,
            last_modified=last_modified,
            mapper=self._facts,
            decoder=_DECODER.decode,
        )

    async def search(self, text: str, *, limit: int) -> list[model.Found]:
        """Packages the registry's own search (`/-/v1/search`) finds for `text`, its best first."""
        response = await self.get_json("-/v1/search?" + urllib.parse.urlencode({"text": text, "size": limit}))
        found = []
        with readers.mapping_errors(source=self.name, ecosystem=self.ecosystem, package=text):
            for item in readers.expect(readers.obj(response.json).get("objects") or [], list, source=self.name, what="objects"):
                package = readers.obj(readers.obj(item).get("package"))
                name = readers.text(package.get("name"))
                if not name:
                    continue
                found.append(model.Found(
                    ecosystem=self.ecosystem, name=names.normalize(self.ecosystem, name),
                    description=readers.text(package.get("description")),
                    keywords=readers.strings(package.get("keywords")),
                    latest_version=readers.text(package.get("version")),
                ))  # fmt: skip
        return found

    def _facts(self, package: str, doc: Any) -> model.PackageFacts:
        """The facts of packument `doc`, decoded by `_DECODER` or generically (into dicts)."""
        doc = readers.expect(_packument(doc), _Packument, source=self.name, what="the packument")
        times = readers.obj(doc.time)
        if not doc.versions and "unpublished" in times:
            raise errors.NotFound(f"npm package {package} was unpublished", ecosystem=self.ecosystem, name=package)
        manifests = readers.expect(doc.versions, dict, source=self.name, what="'versions'")
        dist_tags = {tag: version for tag, version in readers.obj(doc.dist_tags).items() if readers.text(version)}
        latest = readers.text(dist_tags.get("latest"))
        latest_manifest = manifests.get(latest) if latest else None
        if not isinstance(latest_manifest, _Manifest):
            latest_manifest = _NO_MANIFEST

        versions = []
        # Consecutive versions mostly declare the same sections: each distinct set is mapped once,
        # and its versions share one tuple (which the store then names by identity).
        mapped = _Mapped()
        for number, manifest in manifests.items():
            if not isinstance(manifest, _Manifest):
                self._skip(package, version=number, why="its manifest is not an object")
                continue
            versions.append(self._version(package, number, manifest, times, mapped))
        newest = next((version for version in versions if version.number == latest), None)
        newest_dependencies = (newest.dependencies if newest else None) or ()

        def pick(key: str) -> object:
            # The latest manifest speaks for the package; older packuments have nothing else,
            # newer ones also repeat some fields at the top.
            value = getattr(latest_manifest, key)
            return getattr(doc, key) if value is None else value

        return model.PackageFacts(
            ecosystem=self.ecosystem,
            name=package,
            display_name=readers.text(doc.name) or package,
            description=readers.text(pick("description")),
            keywords=readers.keywords(pick("keywords")),
            licenses=_licenses(latest_manifest) or _licenses(doc),
            homepage=readers.text(pick("homepage")),
            repository_url=_repository(pick("repository")),
            latest_version=latest,
            deprecated=newest.deprecated if newest else False,
            deprecated_reason=newest.deprecated_reason if newest else None,
            peer_frameworks=tuple(dependency.name for dependency in newest_dependencies if dependency.kind == "peer"),
            versions=tuple(versions),
            extra={"dist_tags": dist_tags},
        )

    def _version(
        self,
        package: str,
        number: str,
        manifest: _Manifest,
        times: dict[str, Any],
        mapped: _Mapped,
    ) -> model.Version:
        deprecated = manifest.deprecated
        # npm lifts a deprecation by setting an empty message; a few old manifests say `true`.
        reason = readers.text(deprecated)
        return model.Version(
            number=number,
            published_at=readers.parse_timestamp(times.get(number)),
            # Most numbers are plain x.y.z, which has no pre-release part whichever way it parses.
            prerelease=False if _PLAIN.fullmatch(number) else _VERSIONS.prerelease_flag(number),
            deprecated=reason is not None or deprecated is True,
            deprecated_reason=reason,
            licenses=_licenses(manifest),
            dependencies=self._shared_dependencies(package, number, manifest, mapped),
            # Early manifests sometimes hold engines as an array of strings, which names no node range.
            requires_runtime=readers.text(readers.obj(manifest.engines).get("node")),
        )

    def _shared_dependencies(
        self, package: str, number: str, manifest: _Manifest, mapped: _Mapped
    ) -> tuple[model.Dependency, ...]:
        """`_dependencies`, mapped once per distinct set of sections among a packument's versions."""
        entries = mapped.entries
        sections = [getattr(manifest, field) for _, field, _ in _SECTIONS]
        try:
            if not all(section is None or isinstance(section, dict) for section in sections):
                raise TypeError  # mapped (and its odd sections reported) for every version that has them
            meta = readers.obj(manifest.peer_dependencies_meta)
            optional_peers = tuple(name for name, m in meta.items() if isinstance(m, dict) and m.get("optional") is True)
            key = (*(None if section is None else tuple(section.items()) for section in sections), optional_peers)
            found = mapped.lists.get(key)
        except TypeError:  # also a requirement that is not a string and cannot be hashed
            return self._dependencies(package, number, manifest, entries)
        if found is None:
            found = mapped.lists[key] = self._dependencies(package, number, manifest, entries)
        return found

    def _dependencies(
        self,
        package: str,
        number: str,
        manifest: Any,
        entries: dict[tuple[str, str, str, bool], model.Dependency] | None = None,
    ) -> tuple[model.Dependency, ...]:
        """The dependencies one manifest (a _Manifest, or a dict) declares; `entries` keeps those mapped for
        earlier versions of the packument, which mostly repeat (so a name is checked and normalized once)."""
        manifest = _manifest(manifest)
        entries = {} if entries is None else entries
        optional_names = readers.obj(manifest.optional_dependencies).keys()
        peer_meta = readers.obj(manifest.peer_dependencies_meta)
        found = []
        for section_name, field, kind in _SECTIONS:
            section = getattr(manifest, field)
            if section is None:
                continue
            if not isinstance(section, dict):
                # Manifests from npm's early years sometimes list dependencies as an array.
                self._skip(package, version=number, why=f"its {section_name} is not an object")
                continue
            for dependency_name, requirement in section.items():
                # npm publish copies optionalDependencies into dependencies; they count once, as optional.
                if kind == "runtime" and dependency_name in optional_names:
                    continue
                if not isinstance(requirement, str):
                    self._skip(package, version=number, why=f"{section_name}[{dependency_name!r}] is not a string")
                    continue
                optional = kind == "optional" or (
                    kind == "peer" and readers.obj(peer_meta.get(dependency_name)).get("optional") is True
                )
                key = (kind, dependency_name, requirement, optional)
                dependency = entries.get(key)
                if dependency is None:
                    try:
                        normalized = names.normalize(self.ecosystem, dependency_name)
                    except errors.InvalidName:
                        self._skip(
                            package, version=number, why=f"{section_name} names invalid package {dependency_name!r}"
                        )
                        continue
                    dependency = entries[key] = model.Dependency(
                        name=normalized, ecosystem=self.ecosystem, requirement=requirement, kind=kind, optional=optional
                    )
                found.append(dependency)
        return tuple(found)


class _Mapped:
    """What one packument's mapping has mapped so far: its versions mostly repeat their predecessors'."""

    def __init__(self) -> None:
        self.lists: dict[tuple[object, ...], tuple[model.Dependency, ...]] = {}
        """Each distinct set of dependency sections (their items, and the optional peers) and its list."""
        self.entries: dict[tuple[str, str, str, bool], model.Dependency] = {}
        """Each dependency by (kind, name as declared, requirement, optional)."""


def _licenses(described: _Described) -> tuple[str, ...]:
    """`license` as a string or {type}, or the legacy `licenses` array of either."""
    declared = described.license
    if declared is None:
        declared = described.licenses
    found = []
    for item in declared if isinstance(declared, list) else [declared]:
        name = readers.text(readers.obj(item).get("type") if isinstance(item, dict) else item)
        if name:
            found.append(name)
    return tuple(dict.fromkeys(found))


def _repository(value: object) -> str | None:
    """`repository` as a string or {type, url, directory}."""
    return repository_urls.normalize_repository_url(value.get("url") if isinstance(value, dict) else value)
