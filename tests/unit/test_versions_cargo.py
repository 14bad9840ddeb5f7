"""Cargo requirements: the Cargo book's tables ("Specifying dependencies"), bound by bound.

Each table row `requirement := >=low, <high` becomes four cases: `low` and the
last release below `high` are inside, the release just below `low` and `high`
itself are outside.
"""

from __future__ import annotations

import pytest

from centralcloud import versions

CARGO = versions.scheme("cargo")

# (requirement, lowest version inside, first version outside above; None = unbounded)
BOOK_TABLES = [
    # caret (also the meaning of a bare version)
    ("^1.2.3", "1.2.3", "2.0.0"),
    ("^1.2", "1.2.0", "2.0.0"),
    ("^1", "1.0.0", "2.0.0"),
    ("^0.2.3", "0.2.3", "0.3.0"),
    ("^0.2", "0.2.0", "0.3.0"),
    ("^0.0.3", "0.0.3", "0.0.4"),
    ("^0.0", "0.0.0", "0.1.0"),
    ("^0", "0.0.0", "1.0.0"),
    ("1.2.3", "1.2.3", "2.0.0"),
    ("0.2.3", "0.2.3", "0.3.0"),
    ("0.0.3", "0.0.3", "0.0.4"),
    ("1", "1.0.0", "2.0.0"),
    # tilde
    ("~1.2.3", "1.2.3", "1.3.0"),
    ("~1.2", "1.2.0", "1.3.0"),
    ("~1", "1.0.0", "2.0.0"),
    ("~0.2.3", "0.2.3", "0.3.0"),
    # wildcards
    ("*", "0.0.0", None),
    ("1.*", "1.0.0", "2.0.0"),
    ("1.2.*", "1.2.0", "1.3.0"),
    ("1.x", "1.0.0", "2.0.0"),
    ("0.*", "0.0.0", "1.0.0"),
    # comparisons, alone and comma-joined
    (">= 1.2.0", "1.2.0", None),
    ("> 1", "2.0.0", None),
    ("> 1.2", "1.3.0", None),
    ("< 2", "0.0.0", "2.0.0"),
    ("<= 1.2", "0.0.0", "1.3.0"),
    ("= 1.2.3", "1.2.3", "1.2.4"),
    ("=1.2", "1.2.0", "1.3.0"),
    (">= 1.2, < 1.5", "1.2.0", "1.5.0"),
    (">=1.2.3,<1.2.5", "1.2.3", "1.2.5"),
]


def _below(version: str) -> str | None:
    """The highest release we test below `version` (None below 0.0.0)."""
    major, minor, patch = (int(part) for part in version.split("."))
    if patch:
        return f"{major}.{minor}.{patch - 1}"
    if minor:
        return f"{major}.{minor - 1}.999"
    if major:
        return f"{major - 1}.999.999"
    return None


def _book_cases() -> list[tuple[str, str, bool]]:
    cases = []
    for requirement, low, high in BOOK_TABLES:
        cases.append((requirement, low, True))
        if (below_low := _below(low)) is not None:
            cases.append((requirement, below_low, False))
        if high is None:
            cases.append((requirement, "999.999.999", True))
        else:
            cases.append((requirement, high, False))
            cases.append((requirement, _below(high) or "0.0.0", True))
    return cases


@pytest.mark.parametrize(("requirement", "version", "expected"), _book_cases())
def test_cargo_book_tables(requirement: str, version: str, expected: bool) -> None:
    assert CARGO.satisfies(version, requirement) is expected


@pytest.mark.parametrize(
    ("version", "requirement", "expected"),
    [
        # a pre-release needs a comparator naming a pre-release of the same x.y.z
        ("1.2.3-alpha.2", "^1.2.3-alpha.1", True),
        ("1.2.3", "^1.2.3-alpha.1", True),
        ("1.2.3-alpha.0", "^1.2.3-alpha.1", False),
        ("1.3.0-alpha", "^1.2.3-alpha.1", False),
        ("1.2.3-alpha", "^1.2.3", False),
        ("2.0.0-rc.1", "<2", False),
        ("1.2.3-beta", ">=1.2.3-alpha, <1.2.4", True),
        ("1.2.4-alpha", ">=1.2.3-alpha, <1.2.4", False),
        ("1.2.3-alpha.10", ">1.2.3-alpha.9", True),
        ("1.2.3-alpha.beta", "~1.2.3-alpha.1", True),
        ("1.2.3-1", "=1.2.3-1", True),
        ("1.0.0-beta", "*", False),
        # ^0.0.x is an exact version, pre-releases of it aside
        ("0.0.3-beta", "^0.0.3-alpha", True),
        ("0.0.4-alpha", "^0.0.3-alpha", False),
        # build metadata is ignored on both sides
        ("1.2.3+build.5", "=1.2.3", True),
        ("1.2.3", "=1.2.3+other", True),
        # spacing and spellings the crate accepts
        ("1.3.0", "  >= 1.2 ,  < 1.5  ", True),
        ("1.5.0", "X", True),
        ("3.0.0", ">=1.*", True),
        ("0.9.0", ">=1.*", False),
        ("1.9.0", "1.*.*", True),
    ],
)
def test_prerelease_and_spelling_cases(version: str, requirement: str, expected: bool) -> None:
    assert CARGO.satisfies(version, requirement) is expected


def test_include_prerelease_lifts_the_same_triple_rule() -> None:
    assert not CARGO.satisfies("1.3.0-alpha", "^1.2.3")
    assert CARGO.satisfies("1.3.0-alpha", "^1.2.3", include_prerelease=True)
    assert not CARGO.satisfies("2.0.0-alpha", "^1.2.3", include_prerelease=True)


@pytest.mark.parametrize(
    "requirement",
    [
        "",
        "   ",
        "1.2.3.4",
        ">= 1.0, *",
        "*, 1.0",
        "*.*",
        "1.*.3",
        "~>1.2",
        "01.2",
        "1.02",
        "1.2-alpha",
        ">=1.2.3 <2",
        "^1.2.3 || 2",
        "1.2.3-",
        "1.2.3-01",
        "1.2.",
        "v1.2.3",
        ">=1.2,",
        "\t1.2.3",
        "18446744073709551616",
        ",".join(["1"] * 33),
    ],
)
def test_invalid_requirements(requirement: str) -> None:
    with pytest.raises(versions.InvalidRequirement):
        CARGO.satisfies("1.2.3", requirement)


def test_comparator_limit_is_thirty_two() -> None:
    assert CARGO.satisfies("1.2.3", ",".join([">=1"] * 32))


@pytest.mark.parametrize(
    "version",
    [
        "v1.2.3", "1.2", "01.2.3", "1.2.3-01", " 1.2.3", "1.2.3 ",
        "1.2.3-", "1.2.3+", "1.2.3-a..b", "18446744073709551616.0.0",
    ],
)
def test_invalid_versions(version: str) -> None:
    assert not CARGO.is_valid(version)
    with pytest.raises(versions.InvalidVersion):
        CARGO.key(version)


def test_versions_and_ordering() -> None:
    assert CARGO.is_valid("18446744073709551615.0.0")
    assert CARGO.is_valid("1.2.3-0.alpha+001")
    assert CARGO.is_prerelease("1.0.0-rc.1")
    ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
               "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.10.0"]
    assert CARGO.sort(reversed(ordered)) == ordered
    assert CARGO.max_satisfying(ordered + ["2.0.0", "bogus"], "^1") == "1.10.0"
    assert CARGO.max_satisfying(ordered, "=1.0.0-beta") == "1.0.0-beta"
