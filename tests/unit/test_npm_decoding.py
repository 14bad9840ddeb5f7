"""npm packuments decoded into typed structs map to the same facts as generically decoded ones."""

from __future__ import annotations

import pathlib

import msgspec
import pytest

from centralcloud.sources import npm

FIXTURES = sorted((pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "npm").glob("*.json"))


def source() -> npm.NpmSource:
    # Mapping a packument is pure: it reads only the class's names, never the HTTP side.
    return npm.NpmSource.__new__(npm.NpmSource)


@pytest.mark.parametrize("fixture", FIXTURES, ids=[path.stem for path in FIXTURES])
def test_typed_decoding_maps_to_the_same_facts(fixture: pathlib.Path) -> None:
    body = fixture.read_bytes()
    generic = source()._facts(fixture.stem, msgspec.json.decode(body))
    typed = source()._facts(fixture.stem, npm._DECODER.decode(body))
    assert typed.versions and typed == generic


def test_odd_shapes_decode_and_are_read_leniently() -> None:
    body = msgspec.json.encode({
        "name": "odd", "dist-tags": {"latest": "1.1.0"}, "time": {"1.1.0": "2020-01-01T00:00:00.000Z"},
        "versions": {
            "1.0.0": "not a manifest",
            "1.1.0": {"dependencies": ["an", "array"], "engines": ["node >= 0.4"], "license": {"type": "MIT"},
                      "deprecated": True, "readme": "skipped"},
        },
    })  # fmt: skip
    facts = source()._facts("odd", npm._DECODER.decode(body))
    (version,) = facts.versions
    assert (version.number, version.dependencies, version.requires_runtime) == ("1.1.0", (), None)
    assert (version.licenses, version.deprecated, facts.deprecated) == (("MIT",), True, True)
