"""Names are validated as full matches of the exact input (issue 11's smaller defects)."""

from __future__ import annotations

import pytest

from centralcloud.core import errors, names


@pytest.mark.parametrize(
    ("ecosystem", "name"),
    [
        ("npm", "left-pad\n"),  # `$` would match before a final newline
        ("npm", "left-pad\r\n"),
        ("pypi", "six\n"),
        ("pypi", "\u017fix"),  # LATIN SMALL LETTER LONG S case-folds to "s": "ſix" would pass as "six"
        ("npm", "\u017fix"),
        ("cargo", "serde\n"),
        ("hex", "phoenix\n"),
        ("pypi", "dj\u0430ngo"),  # Cyrillic a
    ],
)
def test_names_with_trailing_newlines_or_non_ascii_are_refused(ecosystem: str, name: str) -> None:
    with pytest.raises(errors.InvalidName):
        names.ref(ecosystem_name=ecosystem, name=name, purl=None)


def test_the_plain_names_still_pass() -> None:
    assert names.ref(ecosystem_name="npm", name="left-pad", purl=None).name == "left-pad"
    assert names.ref(ecosystem_name="pypi", name="Six", purl=None).name == "six"
