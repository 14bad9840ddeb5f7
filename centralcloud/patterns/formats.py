"""Read a report body in any of the four formats into one normalized `report.Report`.

The format is detected from the content: the body is parsed once into an envelope whose
fields stay raw JSON, the markers pick the format, and only the fields that format needs are
decoded from their raw slices. Entries are decoded one at a time, so one unreadable entry is
rejected alone while the rest of the report is kept.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from centralcloud.patterns import native, report

CYCLONEDX_VERSIONS = ("1.4", "1.5", "1.6")
SPDX_VERSIONS = ("SPDX-2.3",)

_NONE = msgspec.Raw(b"")


class _Envelope(msgspec.Struct):
    """The top-level keys of every format, left as raw JSON until the format is known."""

    bomFormat: msgspec.Raw = _NONE
    specVersion: msgspec.Raw = _NONE
    spdxVersion: msgspec.Raw = _NONE
    manifests: msgspec.Raw = _NONE
    dependencies: msgspec.Raw = _NONE
    components: msgspec.Raw = _NONE
    metadata: msgspec.Raw = _NONE
    packages: msgspec.Raw = _NONE
    relationships: msgspec.Raw = _NONE
    documentDescribes: msgspec.Raw = _NONE
    name: msgspec.Raw = _NONE
    project: msgspec.Raw = _NONE
    patterns: msgspec.Raw = _NONE


class _CdxProperty(msgspec.Struct):
    name: Any = None
    value: Any = None


class _CdxComponent(msgspec.Struct):
    purl: str | None = None
    bom_ref: str | None = msgspec.field(default=None, name="bom-ref")
    version: str | None = None
    scope: Literal["required", "optional", "excluded"] | None = None
    properties: list[_CdxProperty] = []
    components: list[msgspec.Raw] = []


class _CdxRoot(msgspec.Struct):
    name: str | None = None
    bom_ref: str | None = msgspec.field(default=None, name="bom-ref")


class _CdxMetadata(msgspec.Struct):
    component: _CdxRoot | None = None


class _CdxNode(msgspec.Struct):
    ref: str
    dependsOn: list[str] = []


class _SpdxExternalRef(msgspec.Struct):
    referenceType: str | None = None
    referenceLocator: str | None = None


class _SpdxPackage(msgspec.Struct):
    SPDXID: str | None = None
    name: str | None = None
    versionInfo: str | None = None
    externalRefs: list[_SpdxExternalRef] = []


class _SpdxRelationship(msgspec.Struct):
    spdxElementId: str | None = None
    relationshipType: str | None = None
    relatedSpdxElement: str | None = None


class _GhManifest(msgspec.Struct):
    resolved: dict[str, msgspec.Raw] = {}


class _GhResolved(msgspec.Struct):
    package_url: str | None = None
    relationship: Literal["direct", "indirect"] | None = None
    scope: Literal["runtime", "development"] | None = None


# SPDX relationships that make the element on one side a dependency of the other:
# type -> (the dependency is the related element, kind it implies or None for "no kind said").
_SPDX_DEPENDENCY: dict[str, tuple[bool, report.Kind | None]] = {
    "DEPENDS_ON": (True, None),
    "DEPENDENCY_OF": (False, None),
    "RUNTIME_DEPENDENCY_OF": (False, "runtime"),
    "PROVIDED_DEPENDENCY_OF": (False, "runtime"),
    "DEV_DEPENDENCY_OF": (False, "dev"),
    "TEST_DEPENDENCY_OF": (False, "dev"),
    "OPTIONAL_DEPENDENCY_OF": (False, "optional"),
    "BUILD_DEPENDENCY_OF": (False, "build"),
}

_DECODERS: dict[Any, msgspec.json.Decoder[Any]] = {}


def _decoder(kind: Any) -> msgspec.json.Decoder[Any]:
    found = _DECODERS.get(kind)
    if found is None:
        found = _DECODERS[kind] = msgspec.json.Decoder(kind)
    return found


_ENVELOPE = msgspec.json.Decoder(_Envelope)


def decode(
    body: bytes | bytearray | memoryview,
    *,
    project: str | None = None,
    max_bytes: int = report.MAX_BYTES,
    max_dependencies: int = report.MAX_DEPENDENCIES,
) -> report.Report:
    """Decode and normalize a report body; `project` (the Project header) wins over the document's.

    Raises report.ReportRejected when nothing of the report can be used.
    """
    if len(body) > max_bytes:
        raise report.ReportRejected(
            f"the report is {len(body)} bytes; at most {max_bytes} are accepted", reason=report.TOO_LARGE
        )
    try:
        envelope = _ENVELOPE.decode(body)
    except msgspec.ValidationError as err:
        raise report.ReportRejected(f"a report is a JSON object: {err}", reason=report.WRONG_TYPES) from err
    except msgspec.DecodeError as err:
        raise report.ReportRejected(f"the report is not JSON: {err}", reason=report.NOT_JSON) from err
    except RecursionError as err:
        # The envelope parse walks every nested value, so only it can meet this; the later
        # decodes read slices of the same, already-walked text.
        raise report.ReportRejected("the report's JSON is nested too deeply to read", reason=report.NOT_JSON) from err
    format_name = detect(envelope)
    collector = report.Collector(max_dependencies=max_dependencies)
    document_project = _READERS[format_name](envelope, collector)
    return collector.report(format=format_name, project=document_project, override=project)


def detect(envelope: _Envelope) -> report.Format:
    """The format from the document's own markers."""
    if envelope.bomFormat:
        bom_format = _field(envelope.bomFormat, Any, "bomFormat")
        spec = _field(envelope.specVersion, Any, "specVersion") if envelope.specVersion else None
        if bom_format != "CycloneDX" or spec not in CYCLONEDX_VERSIONS:
            raise report.ReportRejected(
                f"bomFormat {bom_format!r} specVersion {spec!r} is not read; CycloneDX 1.4-1.6 JSON is",
                reason=report.UNKNOWN_FORMAT,
            )
        return "cyclonedx"
    if envelope.spdxVersion:
        spdx = _field(envelope.spdxVersion, Any, "spdxVersion")
        if spdx not in SPDX_VERSIONS:
            raise report.ReportRejected(
                f"spdxVersion {spdx!r} is not read; SPDX 2.3 JSON is", reason=report.UNKNOWN_FORMAT
            )
        return "spdx"
    if envelope.manifests:
        return "github"
    if envelope.dependencies:
        return "native"
    raise report.ReportRejected(
        "the report is none of: native, CycloneDX 1.4-1.6, SPDX 2.3, GitHub dependency snapshot",
        reason=report.UNKNOWN_FORMAT,
    )


def _field(raw: msgspec.Raw, kind: Any, where: str) -> Any:
    """A document-level field; a wrong type here makes the whole report unusable."""
    try:
        return _decoder(kind).decode(raw)
    except msgspec.ValidationError as err:
        raise report.ReportRejected(f"{where}: {err}", reason=report.WRONG_TYPES) from err


def _list(raw: msgspec.Raw, where: str) -> list[msgspec.Raw]:
    return _field(raw, list[msgspec.Raw], where) if raw else []


def _entry(raw: msgspec.Raw, kind: Any, *, index: int, collector: report.Collector, reason: str = report.BAD_ENTRY) -> Any:
    """One entry, or None after rejecting it alone."""
    try:
        return _decoder(kind).decode(raw)
    except msgspec.ValidationError as err:
        collector.reject(index=index, reason=reason, detail=str(err), raw=raw)
        return None


def _native_whole(raw: msgspec.Raw, collector: report.Collector) -> bool:
    """The usual report, read in one decode: every entry well typed and every purl readable.
    False, with nothing added, when any entry is not; then each entry is read on its own and
    only the bad ones are rejected."""
    try:
        dependencies = _decoder(list[native.NativeDependency]).decode(raw)
    except msgspec.ValidationError:
        return False
    return collector.add_all([(d.purl, d.requirement, d.kind, d.direct) for d in dependencies])


def _native(envelope: _Envelope, collector: report.Collector) -> object:
    project = _field(envelope.project, str | None, "project") if envelope.project else None
    if _native_whole(envelope.dependencies, collector):
        dependencies = []
    else:
        dependencies = _list(envelope.dependencies, "dependencies")
        collector.expect(len(dependencies))
    for raw in dependencies:
        index = collector.count()
        entry = _entry(raw, native.NativeDependency, index=index, collector=collector)
        if entry is not None:
            collector.add(
                index=index,
                raw=raw,
                purl=entry.purl,
                requirement=entry.requirement,
                kind=entry.kind,
                direct=entry.direct,
            )
    patterns = _list(envelope.patterns, "patterns")
    if len(patterns) > native.MAX_PATTERNS:
        raise report.ReportRejected(f"at most {native.MAX_PATTERNS} patterns are accepted", reason=report.WRONG_TYPES)
    for index, raw in enumerate(patterns):
        pattern = _entry(raw, native.NativePattern, index=index, collector=collector, reason=report.BAD_PATTERN)
        if pattern is not None:
            collector.add_pattern(kind=pattern.kind, name=pattern.name)
    return project


def _cyclonedx(envelope: _Envelope, collector: report.Collector) -> object:
    metadata = _field(envelope.metadata, _CdxMetadata, "metadata") if envelope.metadata else _CdxMetadata()
    root = metadata.component or _CdxRoot()
    graph = _field(envelope.dependencies, list[_CdxNode], "dependencies") if envelope.dependencies else []
    # Direct = depended on by metadata.component; a BOM whose graph says nothing about the
    # root cannot tell, and then every component counts as direct, as in the native format.
    direct_refs: set[str] | None = None
    for node in graph:
        if root.bom_ref is not None and node.ref == root.bom_ref:
            direct_refs = (direct_refs or set()) | set(node.dependsOn)
    components = _list(envelope.components, "components")
    collector.expect(len(components))
    pending = components[::-1]
    while pending:
        raw = pending.pop()
        index = collector.count()
        component = _entry(raw, _CdxComponent, index=index, collector=collector)
        if component is None:
            continue
        # Nested components (assemblies) are dependencies too; read depth-first in document order.
        pending.extend(component.components[::-1])
        if root.bom_ref is not None and component.bom_ref == root.bom_ref:
            continue
        collector.add(
            index=index,
            raw=raw,
            purl=component.purl,
            version=component.version,
            kind=_cyclonedx_kind(component),
            direct=True if direct_refs is None else component.bom_ref in direct_refs,
        )
    return root.name


def _cyclonedx_kind(component: _CdxComponent) -> report.Kind:
    if component.scope == "optional":
        return "optional"
    # "excluded" is CycloneDX's scope for what is not part of the shipped artifact: dev and test
    # tooling. cyclonedx-npm marks npm dev dependencies with a property instead.
    if component.scope == "excluded":
        return "dev"
    for prop in component.properties:
        if prop.name == "cdx:npm:package:development" and prop.value == "true":
            return "dev"
    return "runtime"


def _spdx(envelope: _Envelope, collector: report.Collector) -> object:
    described = set(_field(envelope.documentDescribes, list[str], "documentDescribes") if envelope.documentDescribes else [])
    relationships = _field(envelope.relationships, list[_SpdxRelationship], "relationships") if envelope.relationships else []
    edges: list[tuple[str, str, report.Kind | None]] = []
    for rel in relationships:
        if rel.spdxElementId is None or rel.relatedSpdxElement is None:
            continue
        if rel.relationshipType == "DESCRIBES" and rel.spdxElementId == "SPDXRef-DOCUMENT":
            described.add(rel.relatedSpdxElement)
        elif rel.relationshipType == "DESCRIBED_BY" and rel.relatedSpdxElement == "SPDXRef-DOCUMENT":
            described.add(rel.spdxElementId)
        elif rel.relationshipType in _SPDX_DEPENDENCY:
            related_is_dependency, kind = _SPDX_DEPENDENCY[rel.relationshipType]
            if related_is_dependency:
                edges.append((rel.relatedSpdxElement, rel.spdxElementId, kind))
            else:
                edges.append((rel.spdxElementId, rel.relatedSpdxElement, kind))
    direct_ids = {dependency for dependency, dependent, _ in edges if dependent in described}
    # A relationship that names a kind says more than DEPENDS_ON, which names none.
    kinds: dict[str, report.Kind] = {}
    for dependency, _, kind in edges:
        if kind is not None:
            known = kinds.get(dependency)
            kinds[dependency] = kind if known is None else min(known, kind, key=report.KIND_RANK.__getitem__)
    packages = _list(envelope.packages, "packages")
    collector.expect(len(packages))
    project: object = None
    for raw in packages:
        index = collector.count()
        package = _entry(raw, _SpdxPackage, index=index, collector=collector)
        if package is None:
            continue
        if package.SPDXID in described:
            project = package.name if project is None else project
            continue
        purl = next((ref.referenceLocator for ref in package.externalRefs if ref.referenceType == "purl"), None)
        collector.add(
            index=index,
            raw=raw,
            purl=purl,
            version=package.versionInfo,
            kind=kinds.get(package.SPDXID or "", "runtime"),
            direct=package.SPDXID in direct_ids if direct_ids else True,
        )
    if project is None and envelope.name:
        project = _field(envelope.name, str | None, "name")
    return project


def _github(envelope: _Envelope, collector: report.Collector) -> object:
    manifests = _field(envelope.manifests, dict[str, _GhManifest], "manifests")
    collector.expect(sum(len(manifest.resolved) for manifest in manifests.values()))
    for manifest in manifests.values():
        for raw in manifest.resolved.values():
            index = collector.count()
            entry = _entry(raw, _GhResolved, index=index, collector=collector)
            if entry is not None:
                collector.add(
                    index=index,
                    raw=raw,
                    purl=entry.package_url,
                    kind="dev" if entry.scope == "development" else "runtime",
                    direct=entry.relationship != "indirect",
                )
    # A snapshot names a repository commit, not a project: the Project header must say which.
    return None


_READERS = {"native": _native, "cyclonedx": _cyclonedx, "spdx": _spdx, "github": _github}
