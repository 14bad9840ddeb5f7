"""Reports in all four formats decode into the same normalized dependency set; bad ones are rejected."""

from __future__ import annotations

import json
import pathlib
import random
import time

import msgspec
import pytest
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentScope, ComponentType
from cyclonedx.output import make_outputter
from cyclonedx.schema import OutputFormat, SchemaVersion
from packageurl import PackageURL

from centralcloud.patterns import formats, report

REPORTS = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "reports"
FORMATS = ("native", "cyclonedx", "spdx", "github")

# billing-api, written out by hand: (ecosystem, name, version, kind, direct).
BILLING_API = {
    ("npm", "express", "4.21.2", "runtime", True),
    ("npm", "accepts", "1.3.8", "runtime", False),
    ("npm", "lodash", "4.17.21", "runtime", False),
    ("npm", "lodash", "3.10.1", "runtime", False),
    ("npm", "@types/node", "22.10.2", "dev", True),
    ("npm", "react", "18.3.1", "runtime", True),
    ("pypi", "django", "5.1.4", "runtime", True),
    ("pypi", "djangorestframework", "3.15.2", "runtime", True),
    ("pypi", "asgiref", "3.8.1", "runtime", False),
    ("pypi", "pytest", "8.3.4", "dev", True),
    ("cargo", "tokio", "1.42.0", "runtime", True),
    ("hex", "phoenix", "1.7.18", "runtime", True),
    ("maven", "org.apache.commons/commons-lang3", "3.17.0", "runtime", True),
}


def load(name: str) -> bytes:
    return (REPORTS / f"{name}.json").read_bytes()


def decode_fixture(name: str) -> report.Report:
    # A GitHub snapshot names no project; the Project header does.
    return formats.decode(load(name), project="billing-api" if name == "github" else None)


def dependency_set(decoded: report.Report) -> set[tuple[str, str, str | None, str, bool]]:
    return {(e.ecosystem, e.name, e.version, e.kind, e.direct) for e in decoded.dependencies}


def native_body(dependencies: list[object], **extra: object) -> bytes:
    return json.dumps({"project": "p", "dependencies": dependencies, **extra}).encode()


def rejected_reason(body: bytes, **options: object) -> str:
    with pytest.raises(report.ReportRejected) as caught:
        formats.decode(body, **options)
    return caught.value.reason


@pytest.mark.parametrize("name", FORMATS)
def test_each_format_decodes_the_billing_api_project(name: str) -> None:
    decoded = decode_fixture(name)
    assert decoded.format == name
    assert decoded.project == "billing-api"
    assert decoded.rejected == 0 and decoded.rejects == ()
    assert dependency_set(decoded) == BILLING_API
    assert decoded.other == 1
    assert [entry.purl for entry in decoded.dependencies if not entry.tracked] == [
        "pkg:maven/org.apache.commons/commons-lang3@3.17.0"
    ]


def test_the_three_sbom_formats_give_one_digest() -> None:
    digests = {decode_fixture(name).digest() for name in ("cyclonedx", "spdx", "github")}
    assert len(digests) == 1
    # The native report says the same but also carries requirements, which are part of the set.
    assert decode_fixture("native").digest() not in digests


def test_native_keeps_requirements_and_patterns() -> None:
    decoded = decode_fixture("native")
    by_name = {entry.name: entry for entry in decoded.dependencies}
    assert by_name["express"].requirement == "^4.21.0"
    assert by_name["phoenix"].requirement == "~> 1.7.14"
    assert by_name["accepts"].requirement is None
    assert by_name["react"].direct is True and by_name["react"].kind == "runtime"
    assert [(p.kind, p.name) for p in decoded.patterns] == [
        ("architecture", "event-sourcing"),
        ("framework", "phoenix"),
    ]


def test_project_header_wins_over_the_document() -> None:
    for name in FORMATS:
        assert formats.decode(load(name), project="  renamed ").project == "renamed"


def test_github_snapshot_without_project_header_is_rejected() -> None:
    assert rejected_reason(load("github")) == report.BAD_PROJECT


def test_github_duplicate_across_manifests_merges_direct_and_runtime() -> None:
    # express is direct/runtime in one manifest and indirect/development in another.
    decoded = decode_fixture("github")
    express = [entry for entry in decoded.dependencies if entry.name == "express"]
    assert [(e.kind, e.direct) for e in express] == [("runtime", True)]


def generated_cyclonedx(version: SchemaVersion) -> bytes:
    bom = Bom()
    root = Component(name="web-shop", type=ComponentType.APPLICATION, bom_ref="web-shop")
    bom.metadata.component = root
    react = Component(name="react", version="18.3.1", purl=PackageURL.from_string("pkg:npm/react@18.3.1"), bom_ref="r")
    fsevents = Component(
        name="fsevents",
        version="2.3.3",
        purl=PackageURL.from_string("pkg:npm/fsevents@2.3.3"),
        bom_ref="f",
        scope=ComponentScope.OPTIONAL,
    )
    flask = Component(name="Flask", version="3.1.0", purl=PackageURL.from_string("pkg:pypi/Flask@3.1.0"), bom_ref="k")
    for component in (react, fsevents, flask):
        bom.components.add(component)
    bom.register_dependency(root, [react, flask])
    bom.register_dependency(react, [fsevents])
    return make_outputter(bom, OutputFormat.JSON, version).output_as_string().encode()


@pytest.mark.parametrize("version", [SchemaVersion.V1_4, SchemaVersion.V1_5, SchemaVersion.V1_6])
def test_library_written_cyclonedx_decodes(version: SchemaVersion) -> None:
    decoded = formats.decode(generated_cyclonedx(version))
    assert decoded.project == "web-shop"
    assert dependency_set(decoded) == {
        ("npm", "react", "18.3.1", "runtime", True),
        ("npm", "fsevents", "2.3.3", "optional", False),
        ("pypi", "flask", "3.1.0", "runtime", True),
    }


def test_cyclonedx_outside_1_4_to_1_6_is_an_unknown_format() -> None:
    assert rejected_reason(generated_cyclonedx(SchemaVersion.V1_3)) == report.UNKNOWN_FORMAT


def test_cyclonedx_nested_components_without_a_graph_are_all_direct() -> None:
    body = json.dumps(
        {
            "bomFormat": "CycloneDX",
            "specVersion": "1.5",
            "metadata": {"component": {"bom-ref": "app", "name": "app"}},
            "components": [
                {"bom-ref": "app", "name": "app", "purl": "pkg:npm/app@1.0.0"},
                {
                    "name": "outer",
                    "purl": "pkg:npm/outer@1.0.0",
                    "components": [{"name": "inner", "purl": "pkg:npm/inner@2.0.0", "version": "9"}],
                },
                {"type": "file", "name": "README.md"},
            ],
        }
    ).encode()
    decoded = formats.decode(body)
    assert dependency_set(decoded) == {
        ("npm", "outer", "1.0.0", "runtime", True),
        ("npm", "inner", "2.0.0", "runtime", True),
    }
    assert [(r.index, r.reason) for r in decoded.rejects] == [(3, report.MISSING_PURL)]


def test_spdx_kinds_from_typed_relationships_and_document_name_fallback() -> None:
    def package(spdx_id: str, purl: str | None) -> dict[str, object]:
        refs = [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": purl}]
        return {"SPDXID": spdx_id, "name": spdx_id, "externalRefs": refs if purl else []}

    body = json.dumps(
        {
            "spdxVersion": "SPDX-2.3",
            "name": "tooling-sbom",
            "packages": [
                package("SPDXRef-root", None),
                package("SPDXRef-a", "pkg:cargo/cc@1.2.5"),
                package("SPDXRef-b", "pkg:cargo/libc@0.2.169"),
                package("SPDXRef-c", "pkg:cargo/serde@1.0.217"),
            ],
            "relationships": [
                {"spdxElementId": "SPDXRef-root", "relationshipType": "DESCRIBED_BY", "relatedSpdxElement": "SPDXRef-DOCUMENT"},
                {"spdxElementId": "SPDXRef-a", "relationshipType": "BUILD_DEPENDENCY_OF", "relatedSpdxElement": "SPDXRef-root"},
                {"spdxElementId": "SPDXRef-b", "relationshipType": "OPTIONAL_DEPENDENCY_OF", "relatedSpdxElement": "SPDXRef-c"},
                {"spdxElementId": "SPDXRef-root", "relationshipType": "DEPENDS_ON", "relatedSpdxElement": "SPDXRef-c"},
            ],
        }
    ).encode()
    decoded = formats.decode(body)
    # The described package is named "SPDXRef-root" here; it is the project, not a dependency.
    assert decoded.project == "SPDXRef-root"
    assert dependency_set(decoded) == {
        ("cargo", "cc", "1.2.5", "build", True),
        ("cargo", "libc", "0.2.169", "optional", False),
        ("cargo", "serde", "1.0.217", "runtime", True),
    }
    no_root = json.dumps({"spdxVersion": "SPDX-2.3", "name": "tooling-sbom", "packages": [package("x", "pkg:hex/jason@1.4.4")]})
    decoded = formats.decode(no_root.encode())
    assert decoded.project == "tooling-sbom"
    assert dependency_set(decoded) == {("hex", "jason", "1.4.4", "runtime", True)}


def test_spdx_3_json_ld_is_an_unknown_format() -> None:
    body = json.dumps({"@context": "https://spdx.org/rdf/3.0.1/spdx-context.jsonld", "@graph": []}).encode()
    assert rejected_reason(body) == report.UNKNOWN_FORMAT


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"\xff\xfe{}", b'{"project": "p", "dependencies": [', b"<sbom/>"],
    ids=["empty", "text", "bad-utf8", "truncated", "xml"],
)
def test_not_json(body: bytes) -> None:
    assert rejected_reason(body) == report.NOT_JSON


def test_json_nested_too_deeply_is_not_read() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    assert rejected_reason(b'{"project": "p", "dependencies": [{"purl": "pkg:npm/a", "x": ' + deep + b"}]}") == report.NOT_JSON


@pytest.mark.parametrize(
    "document",
    [{}, {"name": "x"}, {"bomFormat": "SomethingElse", "specVersion": "1.6"}, {"spdxVersion": "SPDX-2.2", "packages": []}],
    ids=["empty-object", "no-markers", "other-bom", "spdx-2.2"],
)
def test_unknown_format(document: dict[str, object]) -> None:
    assert rejected_reason(json.dumps(document).encode()) == report.UNKNOWN_FORMAT


@pytest.mark.parametrize(
    "document",
    [
        [{"purl": "pkg:npm/a"}],
        "a string",
        {"project": 5, "dependencies": []},
        {"project": "p", "dependencies": {"purl": "pkg:npm/a"}},
        {"project": "p", "dependencies": [], "patterns": "framework"},
        {"bomFormat": "CycloneDX", "specVersion": "1.6", "components": {"a": 1}},
        {"bomFormat": "CycloneDX", "specVersion": "1.6", "metadata": [], "components": []},
        {"bomFormat": "CycloneDX", "specVersion": "1.6", "dependencies": [{"dependsOn": []}]},
        {"spdxVersion": "SPDX-2.3", "packages": [], "relationships": "none"},
        {"version": 0, "manifests": {"m": {"resolved": ["pkg:npm/a"]}}},
        {"version": 0, "manifests": ["package.json"]},
    ],
    ids=[
        "top-array",
        "top-string",
        "project-int",
        "deps-object",
        "patterns-string",
        "components-object",
        "metadata-array",
        "graph-without-ref",
        "relationships-string",
        "resolved-array",
        "manifests-array",
    ],
)
def test_wrong_types(document: object) -> None:
    assert rejected_reason(json.dumps(document).encode()) == report.WRONG_TYPES


def test_five_megabyte_body_is_too_large() -> None:
    filler = [{"purl": f"pkg:npm/package-{i}@1.0.0", "requirement": "^1.0.0" + " " * 200} for i in range(20_000)]
    body = native_body(filler)
    assert len(body) > 5_000_000
    assert rejected_reason(body) == report.TOO_LARGE
    assert rejected_reason(load("native"), max_bytes=100) == report.TOO_LARGE


def test_a_hundred_thousand_dependencies_are_too_many() -> None:
    body = native_body([{"purl": "pkg:npm/a"}] * 100_000)
    assert len(body) < report.MAX_BYTES
    assert rejected_reason(body) == report.TOO_MANY_DEPENDENCIES
    assert rejected_reason(load("cyclonedx"), max_dependencies=12) == report.TOO_MANY_DEPENDENCIES
    assert formats.decode(load("cyclonedx"), max_dependencies=13).format == "cyclonedx"


def test_nested_cyclonedx_components_count_toward_the_cap() -> None:
    nested = {"name": "leaf", "purl": "pkg:npm/leaf@1.0.0"}
    for depth in range(5):
        nested = {"name": f"level{depth}", "purl": f"pkg:npm/level{depth}@1.0.0", "components": [nested]}
    body = json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [nested]}).encode()
    assert rejected_reason(body, max_dependencies=5, project="p") == report.TOO_MANY_DEPENDENCIES
    assert len(formats.decode(body, max_dependencies=6, project="p").dependencies) == 6


def test_bad_entries_are_rejected_one_by_one_and_the_rest_kept() -> None:
    body = native_body(
        [
            {"purl": "pkg:npm/express@4.21.2"},
            {"purl": "not-a-purl"},
            {"purl": "pkg:npm/"},
            {"purl": "pkg:npm/..%2Fadmin@1.0.0"},
            {"purl": 42},
            "pkg:npm/react@18.3.1",
            {"purl": "pkg:npm/react@18.3.1", "kind": "transitive"},
            {"requirement": "^1"},
            {"purl": "pkg:pypi/Flask@3.1.0", "direct": "yes"},
            {"purl": "pkg:pypi/Flask@3.1.0", "direct": False},
        ],
        patterns=[{"kind": "framework", "name": "flask"}, {"kind": "Framework", "name": "x"}, {"kind": "practice", "name": " "}],
    )
    decoded = formats.decode(body)
    assert dependency_set(decoded) == {
        ("npm", "express", "4.21.2", "runtime", True),
        ("pypi", "flask", "3.1.0", "runtime", False),
    }
    assert [(r.index, r.reason) for r in decoded.rejects] == [
        (1, report.MALFORMED_PURL),
        (2, report.MALFORMED_PURL),
        (3, report.INVALID_NAME),
        (4, report.BAD_ENTRY),
        (5, report.BAD_ENTRY),
        (6, report.BAD_ENTRY),
        (7, report.BAD_ENTRY),
        (8, report.BAD_ENTRY),
        (1, report.BAD_PATTERN),
        (2, report.BAD_PATTERN),
    ]
    assert decoded.rejected == 10
    assert decoded.rejects[3].excerpt == '{"purl": 42}'
    assert "$.purl" in decoded.rejects[3].detail
    assert [(p.kind, p.name) for p in decoded.patterns] == [("framework", "flask")]


def test_sbom_entries_with_broken_purls_are_rejected_alone() -> None:
    document = json.loads(load("spdx"))
    document["packages"][1]["externalRefs"][0]["referenceLocator"] = "npm/express@4.21.2"
    document["packages"][2]["externalRefs"] = "none"
    decoded = formats.decode(json.dumps(document).encode())
    assert [(r.index, r.reason) for r in decoded.rejects] == [(1, report.MALFORMED_PURL), (2, report.BAD_ENTRY)]
    assert dependency_set(decoded) == {row for row in BILLING_API if row[1] not in ("express", "accepts")}


def test_rejects_keep_a_bounded_excerpt_and_count_the_rest() -> None:
    long_purl = "pkg:npm/" + "x" * 5000
    decoded = formats.decode(native_body([{"purl": long_purl}] * (report.MAX_REJECTS_KEPT + 50)))
    assert decoded.dependencies == ()
    assert decoded.rejected == report.MAX_REJECTS_KEPT + 50
    assert len(decoded.rejects) == report.MAX_REJECTS_KEPT
    assert len(decoded.rejects[0].excerpt) == report.EXCERPT_CHARS
    assert decoded.rejects[0].reason == report.MALFORMED_PURL


def test_digest_ignores_order_and_duplicates_but_not_content() -> None:
    document = json.loads(load("native"))
    baseline = formats.decode(json.dumps(document).encode()).digest()
    shuffled = dict(document, dependencies=random.Random(7).sample(document["dependencies"], k=13))
    shuffled["dependencies"].append(shuffled["dependencies"][0])
    shuffled["patterns"] = shuffled["patterns"][::-1]
    assert formats.decode(json.dumps(shuffled).encode()).digest() == baseline
    bumped = json.loads(json.dumps(document))
    bumped["dependencies"][0]["purl"] = "pkg:npm/express@4.21.3"
    assert formats.decode(json.dumps(bumped).encode()).digest() != baseline
    no_patterns = dict(document, patterns=[])
    assert formats.decode(json.dumps(no_patterns).encode()).digest() != baseline


def test_decoding_a_200_dependency_cyclonedx_report_is_quick() -> None:
    components = [
        {"type": "library", "bom-ref": f"c{i}", "name": f"package-{i}", "version": f"1.{i}.0", "purl": f"pkg:npm/package-{i}@1.{i}.0"}
        for i in range(200)
    ]
    body = json.dumps(
        {
            "bomFormat": "CycloneDX",
            "specVersion": "1.6",
            "metadata": {"component": {"bom-ref": "app", "name": "app"}},
            "components": components,
            "dependencies": [{"ref": "app", "dependsOn": [f"c{i}" for i in range(50)]}],
        }
    ).encode()
    report.parse_purl.cache_clear()
    started = time.perf_counter()
    decoded = formats.decode(body)
    cold = time.perf_counter() - started
    rounds = 200
    started = time.perf_counter()
    for _ in range(rounds):
        formats.decode(body)
    warm = (time.perf_counter() - started) / rounds
    print(f"\n200-dependency CycloneDX ({len(body)} bytes): {cold * 1e3:.3f} ms cold purl cache, {warm * 1e3:.3f} ms warm")
    assert len(decoded.dependencies) == 200
    assert sum(entry.direct for entry in decoded.dependencies) == 50


def test_report_round_trips_through_msgspec() -> None:
    decoded = decode_fixture("cyclonedx")
    again = msgspec.json.decode(msgspec.json.encode(decoded), type=report.Report)
    assert again == decoded and again.digest() == decoded.digest()
