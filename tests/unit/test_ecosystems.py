"""One description per ecosystem, and everything that reads it."""

from __future__ import annotations

import aiohttp
import pytest

from centralcloud import versions
from centralcloud.core import ecosystems, errors, names
from centralcloud.runtime import builders, config


def test_keys_aliases_and_osv_names() -> None:
    assert ecosystems.KEYS == ("npm", "cargo", "hex", "pypi")
    assert ecosystems.find("crates.io") is ecosystems.CARGO and ecosystems.find(" Hex.PM ") is ecosystems.HEX
    assert ecosystems.from_osv("PyPI") is ecosystems.PYPI and ecosystems.from_osv("pypi") is None
    with pytest.raises(KeyError):
        ecosystems.get("crates.io")  # get takes keys only; find reads what people write


@pytest.mark.parametrize("description", ecosystems.ALL, ids=lambda e: e.key)
def test_every_scheme_is_the_ecosystems_own(description: ecosystems.Ecosystem) -> None:
    scheme = versions.scheme(description.key)
    assert type(scheme).__name__ == description.scheme.partition(":")[2]


async def test_every_adapter_is_built_from_its_description() -> None:
    settings = config.load(
        env={},
        npm_url="http://127.0.0.1:9/npm", pypi_url="http://127.0.0.1:9/pypi",
        crates_url="http://127.0.0.1:9/crates", hex_url="http://127.0.0.1:9/hex",
    )
    async with aiohttp.ClientSession() as session:
        sources = builders.build_sources(settings, session)
    assert list(sources) == list(ecosystems.KEYS)
    for key, source in sources.items():
        assert source.ecosystem == key
        assert type(source).__name__ == ecosystems.get(key).adapter.partition(":")[2]
    assert sources["npm"].base_url.startswith("http://127.0.0.1:9/npm")


@pytest.mark.parametrize(
    ("ecosystem", "name"),
    [
        ("npm", "left-pad\n"),  # `$` would match before a final newline
        ("pypi", "ſix"),  # becomes "six" only under Unicode case folding
        ("cargo", "serde\n"),
        ("hex", "phoenıx"),
        ("npm", "ｅxpress"),
    ],
)
def test_names_are_matched_whole_and_ascii(ecosystem: str, name: str) -> None:
    with pytest.raises(errors.InvalidName):
        names.normalize(ecosystem, name)


def test_valid_names_still_normalize() -> None:
    assert names.normalize("pypi", "Django_REST.framework") == "django-rest-framework"
    assert names.normalize("npm", "JSONStream") == "JSONStream"
    assert names.normalize("hex", "Phoenix") == "phoenix"
    assert names.normalize("cargo", "Serde") == "serde"
