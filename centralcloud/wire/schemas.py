"""JSON Schemas of every message, generated from the subject table and the message types.

`python -m centralcloud.wire.schemas [DIR]` writes one file per subject (request and reply)
plus the shared error reply into `schemas/`; a test fails when the files drift from the code.
"""

from __future__ import annotations

import ast
import inspect
import json
import pathlib
import sys
from typing import Any

import msgspec

from centralcloud.wire import messages, subjects


def field_docs(module: Any) -> dict[str, dict[str, str]]:
    """{class name: {field: docstring}} read from the docstring under each annotated field."""
    tree = ast.parse(inspect.getsource(module))
    docs: dict[str, dict[str, str]] = {}
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        fields: dict[str, str] = {}
        body = node.body
        for current, following in zip(body, body[1:]):
            if (
                isinstance(current, ast.AnnAssign)
                and isinstance(current.target, ast.Name)
                and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                fields[current.target.id] = inspect.cleandoc(following.value.value)
        docs[node.name] = fields
    return docs


def _inherited_docs(cls: type, docs: dict[str, dict[str, str]]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for base in reversed(cls.__mro__):
        merged.update(docs.get(base.__name__, {}))
    return merged


def build() -> dict[str, dict[str, Any]]:
    """{file name: schema document}."""
    docs: dict[str, dict[str, str]] = {}
    for area in messages.AREAS:
        docs.update(field_docs(area))
    types: dict[str, type] = {}
    for subject in subjects.REQUESTS:
        types[f"{subject.name}.request"] = subject.request
        types[f"{subject.name}.reply"] = subject.reply
    types["error"] = messages.ErrorReply
    types[subjects.ALERTS.name] = messages.Alert  # published on centralcloud.alerts.<instance>
    types[subjects.CACHE_INVALIDATE.name] = messages.CacheInvalidation
    names = list(types)
    (schemas, components) = msgspec.json.schema_components(
        [types[name] for name in names], ref_template="#/$defs/{name}"
    )
    for component_name, component in components.items():
        cls = getattr(messages, component_name, None)
        if cls is None:
            continue
        described = _inherited_docs(cls, docs)
        # A field renamed on the wire ("from" for from_) is documented under its Python name.
        python_name = {field.encode_name: field.name for field in msgspec.structs.fields(cls)}
        for field, prop in component.get("properties", {}).items():
            if python_name.get(field, field) in described:
                prop["description"] = described[python_name.get(field, field)]
    documents = {}
    for name, schema in zip(names, schemas):
        document = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"centralcloud/{name}.json",
            **schema,
            "$defs": {key: components[key] for key in sorted(_referenced(schema, components))},
        }
        documents[f"{name}.json"] = document
    return documents


def _referenced(schema: Any, components: dict[str, Any]) -> set[str]:
    """Names of the components `schema` refers to, directly or through other components."""
    found: set[str] = set()
    pending = [schema]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                key = ref.removeprefix("#/$defs/")
                if key not in found:
                    found.add(key)
                    pending.append(components[key])
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return found


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def write(directory: pathlib.Path) -> list[pathlib.Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name, document in build().items():
        path = directory / file_name
        path.write_text(render(document), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    target = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "schemas")
    for path in write(target):
        print(path)
