"""PyPI: the JSON API's project document (`/pypi/<name>/json`).

`info` describes one release (the one PyPI calls latest); `releases` lists every
version's files. Dependencies are only known for the release `info` describes;
`fetch_release` reads any other release's, from its wheel's core metadata (PEP 658)
or from the per-version document (`/pypi/<name>/<version>/json`).
"""

from __future__ import annotations

import logging
import re
import urllib.parse
from typing import Any

import aiohttp
import msgspec
import packaging.metadata
import packaging.requirements
import packaging.version

from centralcloud.core import errors, model, names
from centralcloud.sources import base, http, readers, registries, repository_urls

log = logging.getLogger(__name__)

# project_urls labels, folded as PEP 753 folds them (lower case, no spaces or punctuation).
_REPOSITORY_LABELS = ("source", "repository", "sourcecode", "github")
_DOCUMENTATION_LABELS = ("documentation", "docs")
_HOMEPAGE_LABELS = ("homepage", "home")
_EXTRA = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")
# Placeholders old metadata tools wrote for fields left empty.
_PLACEHOLDERS = {"UNKNOWN", "None", "none"}
# A license field longer than this is a pasted license text, which names nothing.
_MAX_LICENSE_NAME = 100


class PypiSource(base.Source):
    """PyPI's JSON API (or a mirror serving it)."""

    ecosystem = "pypi"
    name = "pypi"

    @classmethod
    def configured(cls, *, settings: Any, session: aiohttp.ClientSession, policy: http.HttpPolicy) -> PypiSource:
        # Unset: the index pip itself is configured with.
        url = settings.pypi_url or registries.pypi_url()
        return cls(session=session, base_url=url, policy=policy)

    async def fetch(
        self, name: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> model.FetchResult:
        project = names.normalize(self.ecosystem, name)
        return await self.fetch_mapped(
            f"pypi/{project}/json", package=project, etag=etag, last_modified=last_modified, mapper=self._facts
        )

    async def fetch_release(self, name: str, version: str, *, metadata_url: str | None = None) -> model.Version:
        """One release with its dependencies and Requires-Python.

        With `metadata_url` (a `Version.metadata_url`) the wheel's own core metadata is read, as pip
        reads it: the JSON API states requires_dist as the first uploaded file declared it, which may be
        an sdist with other (or dynamic) metadata. Without it, the per-version JSON document.
        """
        project = names.normalize(self.ecosystem, name)
        if metadata_url:
            reader = _CoreMetadata(session=self.session, base_url=self.base_url, policy=self.policy)
            response = await reader.get_json(metadata_url)
            with readers.mapping_errors(source=self.name, ecosystem=self.ecosystem, package=project):
                return self._from_metadata(project, version, response.json)
        response = await self.get_json(f"pypi/{project}/{version}/json")
        with readers.mapping_errors(source=self.name, ecosystem=self.ecosystem, package=project):
            doc = readers.expect(response.json, dict, source=self.name, what="the release document")
            info = readers.required(doc, "info", dict, source=self.name)
            files = [item for item in doc.get("urls") or () if isinstance(item, dict)]
            release = _release(
                version, files, parsed=_parse_version(version), document_url=self.url(f"pypi/{project}/{version}/json")
            )
            release = _with_info(release, info, self._requirements(project, info.get("requires_dist")))
            # A release whose files state no Requires-Python may still declare it in `info`.
            return msgspec.structs.replace(
                release, requires_runtime=release.requires_runtime or _meta(info.get("requires_python"))
            )

    def _from_metadata(self, project: str, version: str, fields: dict[str, Any]) -> model.Version:
        stated = fields.get("version")
        if stated is not None and _parse_version(stated) != _parse_version(version):
            raise errors.BadResponse(
                f"pypi metadata for {project} {version} describes version {stated}", source=self.name
            )
        parsed = _parse_version(version)
        return model.Version(
            number=version,
            prerelease=parsed.is_prerelease if parsed else False,
            dependencies=self._requirements(project, fields.get("requires_dist")),
            requires_runtime=_meta(fields.get("requires_python")),
        )

    def _facts(self, project: str, doc: Any) -> model.PackageFacts:
        doc = readers.expect(doc, dict, source=self.name, what="the project document")
        info = readers.required(doc, "info", dict, source=self.name)
        releases = readers.required(doc, "releases", dict, source=self.name)
        info_version = _meta(info.get("version"))
        # Mirrors may link files relative to the document.
        document_url = self.url(f"pypi/{project}/json")
        dependencies = self._requirements(project, info.get("requires_dist"))

        versions = []
        candidates = []
        for number, files in releases.items():
            files = [item for item in files if isinstance(item, dict)] if isinstance(files, list) else []
            parsed = _parse_version(number)
            version = _release(number, files, parsed=parsed, document_url=document_url)
            if number == info_version:
                version = _with_info(version, info, dependencies)
            versions.append(version)
            # Only an installable, final, unwithdrawn release may be called latest.
            if parsed is not None and files and not version.prerelease and not version.yanked:
                candidates.append((parsed, number))

        classifiers = readers.strings(info.get("classifiers"))
        urls = _project_urls(info.get("project_urls"))
        homepage = _meta(info.get("home_page")) or _label(urls, _HOMEPAGE_LABELS)
        repository = repository_urls.normalize_repository_url(_label(urls, _REPOSITORY_LABELS))
        if repository is None and homepage and "github.com/" in homepage:
            repository = repository_urls.normalize_repository_url(homepage)
        requires_python = _meta(info.get("requires_python"))
        return model.PackageFacts(
            ecosystem=self.ecosystem,
            name=project,
            display_name=_meta(info.get("name")) or project,
            description=_meta(info.get("summary")),
            keywords=readers.keywords(info.get("keywords")),
            classifiers=classifiers,
            licenses=_licenses(info, classifiers),
            homepage=homepage,
            repository_url=repository,
            documentation_url=_label(urls, _DOCUMENTATION_LABELS) or _meta(info.get("docs_url")),
            latest_version=max(candidates)[1] if candidates else info_version,
            versions=tuple(versions),
            advisories=_advisories(doc.get("vulnerabilities")),
            extra={"requires_python": requires_python} if requires_python else {},
        )

    def _requirements(self, project: str, value: object) -> tuple[model.Dependency, ...] | None:
        if value is None:
            # The API spells an empty Requires-Dist as null.
            return ()
        if not isinstance(value, list):
            self._skip(project, "requires_dist is not a list")
            return None
        found = []
        for line in value:
            if not isinstance(line, str):
                self._skip(project, f"requirement {line!r} is not a string")
                continue
            try:
                requirement = packaging.requirements.Requirement(line)
                name = names.normalize(self.ecosystem, requirement.name)
            except (packaging.requirements.InvalidRequirement, errors.InvalidName) as err:
                self._skip(project, f"requirement {line!r} is unreadable ({err})")
                continue
            marker = str(requirement.marker) if requirement.marker else None
            extra = _EXTRA.search(marker) if marker else None
            condition = marker
            if extra and extra.group(0) == marker:
                condition = f"extra == {extra[1]}"
            found.append(
                model.Dependency(
                    name=name,
                    ecosystem=self.ecosystem,
                    requirement=str(requirement.specifier) or (f"@ {requirement.url}" if requirement.url else ""),
                    kind="optional" if extra else "runtime",
                    optional=extra is not None,
                    condition=condition,
                    features=tuple(sorted(requirement.extras)),
                )
            )
        return tuple(found)


class _CoreMetadata(http.HttpSource):
    """A wheel's METADATA file served beside it (PEP 658): email-header text, not JSON."""

    name = "pypi"
    ecosystem = "pypi"

    def _decode(self, resp: aiohttp.ClientResponse, body: bytearray, url: str) -> Any:
        # http.HttpSource offers no raw-body read, so the metadata format is decoded here.
        raw, _unparsed = packaging.metadata.parse_email(bytes(body))
        return raw


def _release(
    number: str, files: list[dict[str, Any]], *, parsed: packaging.version.Version | None, document_url: str = ""
) -> model.Version:
    """A release from its files: published with its first file, yanked when every file is."""
    uploaded = [
        stamp
        for item in files
        if (stamp := readers.parse_timestamp(item.get("upload_time_iso_8601") or item.get("upload_time")))
    ]
    yanked = bool(files) and all(item.get("yanked") is True for item in files)
    return model.Version(
        number=number,
        published_at=min(uploaded, default=None),
        prerelease=parsed.is_prerelease if parsed else False,
        yanked=yanked,
        yanked_reason=next((reason for item in files if (reason := readers.text(item.get("yanked_reason")))), None)
        if yanked
        else None,
        requires_runtime=_requires_python(files),
        metadata_url=_metadata_url(files, document_url=document_url),
    )


def _requires_python(files: list[dict[str, Any]]) -> str | None:
    """Requires-Python of a release, which the API states per file; a wheel's wins, as pip prefers wheels."""
    wheels_first = sorted(files, key=lambda item: item.get("packagetype") != "bdist_wheel")
    return next((found for item in wheels_first if (found := _meta(item.get("requires_python")))), None)


def _metadata_url(files: list[dict[str, Any]], *, document_url: str) -> str | None:
    """The PEP 658 metadata file of the release's first wheel that has one (the file's URL + ".metadata")."""
    for item in files:
        # PEP 714 renamed the key; older mirrors still send the PEP 658 spelling.
        served = item.get("core-metadata", item.get("data-dist-info-metadata"))
        url = readers.text(item.get("url"))
        if item.get("packagetype") == "bdist_wheel" and served and url:
            return urllib.parse.urljoin(document_url, url) + ".metadata"
    return None


def _with_info(
    version: model.Version, info: dict[str, Any], dependencies: tuple[model.Dependency, ...] | None
) -> model.Version:
    """The release `info` describes: its dependencies, and its yank as `info` states it."""
    if info.get("yanked") is not True:
        return msgspec.structs.replace(version, dependencies=dependencies)
    return msgspec.structs.replace(
        version,
        dependencies=dependencies,
        yanked=True,
        yanked_reason=version.yanked_reason or readers.text(info.get("yanked_reason")),
    )


def _parse_version(number: str) -> packaging.version.Version | None:
    try:
        return packaging.version.Version(number)
    except packaging.version.InvalidVersion:
        return None


def _meta(value: object) -> str | None:
    found = readers.text(value)
    return None if found in _PLACEHOLDERS else found


def _project_urls(value: object) -> dict[str, str]:
    urls: dict[str, str] = {}
    for label, url in readers.obj(value).items():
        if readers.text(url):
            urls.setdefault(re.sub(r"[^a-z0-9]", "", label.lower()), url.strip())
    return urls


def _label(urls: dict[str, str], labels: tuple[str, ...]) -> str | None:
    return next((urls[label] for label in labels if label in urls), None)


def _licenses(info: dict[str, Any], classifiers: tuple[str, ...]) -> tuple[str, ...]:
    """license_expression, else a short `license`, else the License :: classifiers."""
    expression = _meta(info.get("license_expression"))
    if expression:
        return (expression,)
    declared = _meta(info.get("license"))
    if declared and len(declared) <= _MAX_LICENSE_NAME and "\n" not in declared:
        return (declared,)
    found = []
    for classifier in classifiers:
        parts = classifier.split(" :: ")
        # "License :: OSI Approved" alone says how, not which.
        if parts[0] == "License" and len(parts) > 1 and parts[-1] != "OSI Approved":
            found.append(parts[-1])
    return tuple(found)


def _advisories(value: object) -> tuple[model.SourceAdvisory, ...]:
    found = []
    for item in value if isinstance(value, list) else ():
        advisory_id = readers.text(readers.obj(item).get("id"))
        if advisory_id is None:
            continue
        found.append(
            model.SourceAdvisory(
                id=advisory_id,
                aliases=readers.strings(item.get("aliases")),
                summary=readers.text(item.get("summary")),
                details=readers.text(item.get("details")),
                fixed_in=readers.strings(item.get("fixed_in")),
                link=readers.text(item.get("link")),
                withdrawn=readers.parse_timestamp(item.get("withdrawn")),
            )
        )
    return tuple(found)
