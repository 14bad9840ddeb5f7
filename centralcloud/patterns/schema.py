"""JSON Schema of the native report format, generated from `centralcloud.patterns.native`.

`python -m centralcloud.patterns.schema [DIR]` writes it; a test fails when the file drifts
from the code. Reports are published events, not request-reply messages, so the file sits
apart from the endpoint schemas, under `schemas/reports/`.
"""

from __future__ import annotations

import pathlib
import sys
from typing import Any

import msgspec

from centralcloud.wire import schemas
from centralcloud.patterns import native

FILE_NAME = "centralcloud.patterns.report.json"


def build() -> dict[str, Any]:
    """The schema document of a native report."""
    docs = schemas.field_docs(native)
    (schema,), components = msgspec.json.schema_components([native.NativeReport], ref_template="#/$defs/{name}")
    for component_name, component in components.items():
        for field, prop in component.get("properties", {}).items():
            if field in docs.get(component_name, {}):
                prop["description"] = docs[component_name][field]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"centralcloud/reports/{FILE_NAME}",
        **schema,
        "$defs": dict(sorted(components.items())),
    }


def write(directory: pathlib.Path) -> pathlib.Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / FILE_NAME
    path.write_text(schemas.render(build()), encoding="utf-8")
    return path


if __name__ == "__main__":
    print(write(pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "schemas/reports")))
