"""The JSON Schemas in schemas/ are generated from the message types and must not drift."""

from __future__ import annotations

import json
import pathlib

from centralcloud.wire import messages, schemas

SCHEMAS = pathlib.Path(__file__).resolve().parent.parent / "schemas"


def test_schema_files_match_the_code() -> None:
    built = schemas.build()
    on_disk = {path.name for path in SCHEMAS.glob("*.json")}
    assert on_disk == set(built), "run: python -m centralcloud.wire.schemas"
    for name, document in built.items():
        assert (SCHEMAS / name).read_text(encoding="utf-8") == schemas.render(document), (
            f"schemas/{name} is stale; run: python -m centralcloud.wire.schemas"
        )


def test_every_subject_has_request_and_reply_schemas() -> None:
    for subject in messages.ENDPOINTS:
        for part in ("request", "reply"):
            assert (SCHEMAS / f"{subject}.{part}.json").exists()


def test_every_message_field_is_described() -> None:
    checked = 0
    for path in SCHEMAS.glob("*.json"):
        document = json.loads(path.read_text())
        for component, schema in document["$defs"].items():
            for field, prop in schema.get("properties", {}).items():
                assert prop.get("description"), f"{component}.{field} in {path.name} has no docstring"
                checked += 1
    assert checked > 100
