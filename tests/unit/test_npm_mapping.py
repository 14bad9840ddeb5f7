"""npm's version mapping: each distinct set of dependency sections is mapped once and shared."""

from __future__ import annotations

from typing import Any

from centralcloud.sources import npm


def manifest(**sections: Any) -> dict[str, Any]:
    return {"name": "plugin", **sections}


def packument(manifests: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {"name": "plugin", "dist-tags": {"latest": list(manifests)[-1]}, "versions": manifests, "time": {}}


def source() -> npm.NpmSource:
    # Mapping a packument is pure: it reads only the class's names, never the HTTP side.
    return npm.NpmSource.__new__(npm.NpmSource)


def test_versions_declaring_the_same_sections_share_one_mapped_list() -> None:
    same = {"dependencies": {"a": "^1.0.0", "b": "~2.0.0"}, "devDependencies": {"t": "*"}}
    facts = source()._facts("plugin", packument({
        "1.0.0": manifest(**same),
        "1.1.0": manifest(**{key: dict(value) for key, value in same.items()}),  # equal, not the same objects
        "1.2.0": manifest(dependencies={"a": "^1.0.0", "b": "~2.1.0"}, devDependencies={"t": "*"}),
    }))
    first, second, third = (version.dependencies for version in facts.versions)
    assert first is second
    assert third is not None and [d.requirement for d in third if d.name == "b"] == ["~2.1.0"]


def test_shared_lists_equal_what_each_manifest_maps_to() -> None:
    manifests = {
        "1.0.0": manifest(peerDependencies={"react": "^18"}),
        "1.1.0": manifest(peerDependencies={"react": "^18"}, peerDependenciesMeta={"react": {"optional": True}}),
        "1.2.0": manifest(dependencies={"a": "1", "o": "2"}, optionalDependencies={"o": "2"}),
        "1.3.0": manifest(dependencies=["an", "array"]),
        "1.4.0": manifest(dependencies={"a": {"not": "a string"}, "b": "3"}),
        "1.5.0": manifest(dependencies={"a": "1", "o": "2"}, optionalDependencies={"o": "2"}),
    }
    adapter = source()
    facts = adapter._facts("plugin", packument(manifests))
    for version in facts.versions:
        assert version.dependencies == adapter._dependencies("plugin", version.number, manifests[version.number])
    by_number = {version.number: version.dependencies for version in facts.versions}
    # An optional peer is not the same list as a required one, though the sections are equal.
    assert [d.optional for d in by_number["1.0.0"]] == [False]
    assert [d.optional for d in by_number["1.1.0"]] == [True]
    assert [(d.name, d.kind) for d in by_number["1.2.0"]] == [("a", "runtime"), ("o", "optional")]
    assert by_number["1.3.0"] == ()
    assert [d.name for d in by_number["1.4.0"]] == ["b"]
