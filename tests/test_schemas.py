"""The JSON Schemas in schemas/ are generated from the message types and must not drift."""

from __future__ import annotations

import importlib
import json
import pathlib
import pkgutil
import re

import centralcloud
from centralcloud.core import errors
from centralcloud.wire import schemas, subjects

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "schemas"


def test_schema_files_match_the_code() -> None:
    built = schemas.build()
    on_disk = {path.name for path in SCHEMAS.glob("*.json")}
    assert on_disk == set(built), "run: python -m centralcloud.wire.schemas"
    for name, document in built.items():
        assert (SCHEMAS / name).read_text(encoding="utf-8") == schemas.render(document), (
            f"schemas/{name} is stale; run: python -m centralcloud.wire.schemas"
        )


def test_every_subject_has_request_and_reply_schemas() -> None:
    for subject in subjects.REQUESTS:
        for part in ("request", "reply"):
            assert (SCHEMAS / f"{subject.name}.{part}.json").exists()


def test_every_message_field_is_described() -> None:
    checked = 0
    for path in SCHEMAS.glob("*.json"):
        document = json.loads(path.read_text())
        for component, schema in document["$defs"].items():
            for field, prop in schema.get("properties", {}).items():
                assert prop.get("description"), f"{component}.{field} in {path.name} has no docstring"
                checked += 1
    assert checked > 100


def test_subject_names_are_unique_and_prefixed() -> None:
    names = [subject.name for subject in subjects.REQUESTS] + [subjects.CACHE_INVALIDATE.name]
    assert len(set(names)) == len(names)
    assert all(name.startswith(f"{subjects.PREFIX}.") for name in names)


def test_readme_catalogue_lists_exactly_the_request_subjects() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Subjects\n", 1)[1].split("\n## ", 1)[0]
    headers = [line for line in section.splitlines() if line.startswith("### ")]
    catalogued = [name for line in headers for name in re.findall(r"`(centralcloud\.[a-z_.]+)`", line)]
    assert sorted(catalogued) == sorted(subject.name for subject in subjects.REQUESTS)


def _sent_error_classes() -> set[type[errors.CentralCloudError]]:
    # Import every module so that error classes defined beside their code (versions) are seen.
    for module in pkgutil.walk_packages(centralcloud.__path__, "centralcloud."):
        if module.name != "centralcloud.__main__":
            importlib.import_module(module.name)
    found: set[type[errors.CentralCloudError]] = {errors.CentralCloudError}
    pending = [errors.CentralCloudError]
    while pending:
        for sub in pending.pop().__subclasses__():
            # runtime's errors stop `serve` from starting; no request ever gets one.
            if sub not in found and not sub.__module__.startswith("centralcloud.runtime."):
                found.add(sub)
                pending.append(sub)
    return found


def test_error_schema_lists_every_code_the_service_sends() -> None:
    document = json.loads((SCHEMAS / "error.json").read_text())
    description = document["$defs"]["ErrorBody"]["properties"]["code"]["description"]
    listed = set(re.findall(r"[a-z_]+", description.split(":", 1)[1]))
    kinds = {cls.kind for cls in _sent_error_classes()}
    assert {"database", "invalid_version", "invalid_requirement"} <= kinds
    assert kinds <= listed, f"ErrorBody.code does not describe {sorted(kinds - listed)}"
