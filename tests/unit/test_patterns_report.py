"""Report rules: instance ids, project names, purl parsing, merging of duplicates, the native schema."""

from __future__ import annotations

import json
import pathlib

import jsonschema
import pytest

from centralcloud.wire import schemas
from centralcloud.patterns import report, schema

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
SCHEMA_FILE = ROOT / "schemas" / "reports" / schema.FILE_NAME
NATIVE = ROOT / "tests" / "fixtures" / "reports" / "native.json"


@pytest.mark.parametrize("token", ["a", "dev-1", "CI_runner-07", "x" * 64])
def test_valid_instance_ids(token: str) -> None:
    assert report.check_instance(token) == token


@pytest.mark.parametrize("token", ["", "x" * 65, "a.b", "a b", "dev-1\n", "ünï", "a*", "a>", None, 7])
def test_invalid_instance_ids(token: object) -> None:
    with pytest.raises(report.ReportRejected) as caught:
        report.check_instance(token)  # type: ignore[arg-type]
    assert caught.value.reason == report.BAD_INSTANCE


@pytest.mark.parametrize("value", [None, "", "   ", "a\x00b", "tab\there", "x" * 201, 5])
def test_bad_project_names(value: object) -> None:
    with pytest.raises(report.ReportRejected) as caught:
        report.check_project(value)
    assert caught.value.reason == report.BAD_PROJECT


def test_project_names_are_trimmed() -> None:
    assert report.check_project("  billing api ") == "billing api"
    assert report.check_project("é" * 200) == "é" * 200


def entry(name: str, **fields: object) -> report.Entry:
    return report.Entry(ecosystem="npm", name=name, **fields)  # type: ignore[arg-type]


def test_merge_direct_wins_runtime_beats_dev_and_direct_requirement_is_kept() -> None:
    merged = report.merge(
        [
            entry("a", version="1.0.0", kind="dev", direct=False, requirement="^0.9"),
            entry("a", version="1.0.0", kind="dev", direct=True, requirement="^1.0"),
            entry("a", version="1.0.0", kind="runtime", direct=False),
        ]
    )
    assert merged == (entry("a", version="1.0.0", kind="runtime", direct=True, requirement="^1.0"),)


@pytest.mark.parametrize(
    ("kinds", "winner"),
    [(("dev", "build"), "build"), (("optional", "peer"), "peer"), (("build", "optional"), "optional"), (("dev", "runtime"), "runtime")],
)
def test_merge_kind_order(kinds: tuple[str, str], winner: str) -> None:
    merged = report.merge([entry("a", version="1", kind=kind) for kind in kinds])
    assert [e.kind for e in merged] == [winner]


def test_merge_keeps_distinct_versions_and_folds_a_versionless_entry_into_a_lone_version() -> None:
    merged = report.merge(
        [
            entry("lodash", version="4.17.21", direct=False),
            entry("lodash", version="3.10.1", direct=False),
            entry("lodash", direct=True, requirement="^4"),
            entry("left-pad", requirement="^1", direct=True),
            entry("left-pad", version="1.3.0", direct=False),
            entry("zod", requirement="^3"),
        ]
    )
    assert merged == (
        entry("left-pad", version="1.3.0", requirement="^1", direct=True),
        # Two versions: which one the versionless entry meant is unknown, so it stays apart.
        entry("lodash", requirement="^4", direct=True),
        entry("lodash", version="3.10.1", direct=False),
        entry("lodash", version="4.17.21", direct=False),
        entry("zod", requirement="^3"),
    )


@pytest.mark.parametrize(
    ("purl", "parsed"),
    [
        ("pkg:npm/%40babel/core@7.26.0", ("npm", "@babel/core", "7.26.0")),
        # The purl spec lower-cases npm names (as centralcloud.names.parse_purl does too).
        ("pkg:npm/JSONStream@1.3.5", ("npm", "jsonstream", "1.3.5")),
        ("pkg:pypi/Django_REST.framework@3.15.2", ("pypi", "django-rest-framework", "3.15.2")),
        ("pkg:cargo/Serde", ("cargo", "serde", None)),
        ("pkg:hex/Phoenix@1.7.18", ("hex", "phoenix", "1.7.18")),
        ("pkg:golang/github.com/gorilla/mux@v1.8.1", ("golang", "github.com/gorilla/mux", "v1.8.1")),
        ("pkg:npm/express@4.21.2?arch=x64#lib", ("npm", "express", "4.21.2")),
    ],
)
def test_parse_purl(purl: str, parsed: tuple[str, str, str | None]) -> None:
    assert report.parse_purl(purl) == parsed


def test_untracked_entries_keep_their_purl() -> None:
    kept = report.Entry(ecosystem="golang", name="github.com/gorilla/mux", version="v1.8.1")
    assert not kept.tracked
    assert kept.purl == "pkg:golang/github.com/gorilla/mux@v1.8.1"
    assert report.Entry(ecosystem="npm", name="@babel/core", version="7.26.0").purl == "pkg:npm/%40babel/core@7.26.0"


def test_native_schema_file_matches_the_code() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schemas.render(schema.build()), (
        "run: python -m centralcloud.patterns.schema"
    )


def test_every_native_field_is_described() -> None:
    document = schema.build()
    described = [
        (name, field)
        for name, component in document["$defs"].items()
        for field, prop in component["properties"].items()
        if prop.get("description")
    ]
    assert len(described) == 9
    assert all(prop.get("description") for c in document["$defs"].values() for prop in c["properties"].values())


def test_the_schema_accepts_the_native_fixture_and_refuses_wrong_types() -> None:
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))
    validator.validate(json.loads(NATIVE.read_text(encoding="utf-8")))
    for wrong in (
        {"project": "p"},
        {"dependencies": [{"purl": "npm/express"}]},
        {"dependencies": [{"purl": "pkg:npm/a", "kind": "transitive"}]},
        {"dependencies": [], "patterns": [{"kind": "Framework", "name": "x"}]},
    ):
        assert not validator.is_valid(wrong), wrong
