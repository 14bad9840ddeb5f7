"""Hex requirements: the tables of Elixir's `Version` docs, `and`/`or`, and pre-releases.

Our default is Hex's `allow_pre: false`; `include_prerelease=True` is Elixir's
own default, `allow_pre: true`, so both columns of the docs' table are checked.
"""

from __future__ import annotations

import pytest

from centralcloud import versions

HEX = versions.scheme("hex")


# Elixir's table: requirement, version, result with allow_pre false, result with allow_pre true.
@pytest.mark.parametrize(
    ("requirement", "version", "without_pre", "with_pre"),
    [
        ("~> 2.0", "2.1.0", True, True),
        ("~> 2.0", "3.0.0", False, False),
        ("~> 2.0.0", "2.0.5", True, True),
        ("~> 2.0.0", "2.1.0", False, False),
        ("~> 2.1.2", "2.1.6-dev", False, True),
        ("~> 2.1-dev", "2.2.0-dev", True, True),
        ("~> 2.1.2-dev", "2.1.6-dev", True, True),
        (">= 2.1.0", "2.2.0-dev", False, True),
        (">= 2.1.0-dev", "2.2.6-dev", True, True),
        ("< 2.2.0", "2.1.0-dev", True, True),
    ],
)
def test_elixir_allow_pre_table(requirement: str, version: str, without_pre: bool, with_pre: bool) -> None:
    assert HEX.satisfies(version, requirement) is without_pre
    assert HEX.satisfies(version, requirement, include_prerelease=True) is with_pre


# Elixir's `~>` translation table, checked on releases around each bound.
@pytest.mark.parametrize(
    ("approximate", "translation"),
    [
        ("~> 2.0.0", ">= 2.0.0 and < 2.1.0"),
        ("~> 2.1.2", ">= 2.1.2 and < 2.2.0"),
        ("~> 2.1.3-dev", ">= 2.1.3-dev and < 2.2.0"),
        ("~> 2.0", ">= 2.0.0 and < 3.0.0"),
        ("~> 2.1", ">= 2.1.0 and < 3.0.0"),
    ],
)
def test_approximate_translation_table(approximate: str, translation: str) -> None:
    releases = [
        "1.9.9", "2.0.0", "2.0.9", "2.1.0", "2.1.1", "2.1.2", "2.1.3", "2.1.9", "2.2.0", "2.9.9", "3.0.0",
    ]
    for version in releases:
        assert HEX.satisfies(version, approximate) is HEX.satisfies(version, translation), version


def test_approximate_never_admits_prereleases_of_its_upper_bound() -> None:
    assert not HEX.satisfies("2.1.0-rc.1", "~> 2.0.0", include_prerelease=True)
    assert HEX.satisfies("2.1.0-rc.1", ">= 2.0.0 and < 2.1.0", include_prerelease=True)
    assert not HEX.satisfies("3.0.0-rc.1", "~> 2.1-dev")
    assert HEX.satisfies("2.1.3-dev", "~> 2.1.3-dev")
    assert not HEX.satisfies("2.1.3-alpha", "~> 2.1.3-dev")


@pytest.mark.parametrize(
    ("version", "requirement", "expected"),
    [
        ("1.5.0", ">= 1.0.0 and < 2.0.0 or >= 3.0.0", True),
        ("2.5.0", ">= 1.0.0 and < 2.0.0 or >= 3.0.0", False),
        ("3.1.0", ">= 1.0.0 and < 2.0.0 or >= 3.0.0", True),
        # `and` binds tighter than `or`
        ("1.0.0", "== 1.0.0 or == 2.0.0 and == 3.0.0", True),
        ("3.0.0", "== 1.0.0 and == 2.0.0 or == 3.0.0", True),
        ("2.0.0", "== 1.0.0 or == 2.0.0 and == 3.0.0", False),
        ("1.2.0", "~> 1.0 or ~> 2.0", True),
        ("2.4.0", "~> 1.0 or ~> 2.0", True),
        ("3.0.0", "~> 1.0 or ~> 2.0", False),
        # bare version is ==, build metadata is ignored
        ("1.0.0", "1.0.0", True),
        ("1.0.0+build.1", "== 1.0.0", True),
        ("1.0.1", "1.0.0", False),
        ("1.0.1", "!= 1.0.0", True),
        ("1.0.0", "!= 1.0.0", False),
        # spacing is free except around and/or
        ("2.0.0", ">=2.0.0", True),
        ("2.0.5", "~>2.0.0", True),
        ("2.0.5", "  >=  2.0.0   and   <  3.0.0  ", True),
        ("2.0.0", "> 2.0.0", False),
        ("2.0.1", "> 2.0.0", True),
        ("2.0.0", "<= 2.0.0", True),
    ],
)
def test_requirements(version: str, requirement: str, expected: bool) -> None:
    assert HEX.satisfies(version, requirement) is expected


@pytest.mark.parametrize(
    ("version", "requirement", "expected"),
    [
        # the operand's pre-release opts the clause in, whatever its x.y.z
        ("3.0.0-rc.1", ">= 1.0.0-beta", True),
        ("3.0.0-rc.1", "> 2.0.0", False),
        ("3.0.0-rc.1", "~> 3.0", False),
        ("3.0.0-rc.1", "~> 3.0-rc.0", True),
        # < <= == != compare by precedence and ignore allow_pre
        ("2.0.0-rc.1", "< 2.0.0", True),
        ("1.5.0-dev", "<= 2.0.0", True),
        ("2.0.0-rc.1", "== 2.0.0-rc.1", True),
        ("2.0.0-rc.1", "!= 2.0.0", True),
        ("1.0.0-10", "> 1.0.0-2", True),
        ("1.0.0-beta", "< 1.0.0-rc1", True),
    ],
)
def test_prerelease_rule(version: str, requirement: str, expected: bool) -> None:
    assert HEX.satisfies(version, requirement) is expected


@pytest.mark.parametrize(
    "requirement",
    [
        "",
        "   ",
        "~> 2",
        ">= 2.0",
        "== == 1.0.0",
        "and 1.0.0",
        "1.0.0 or",
        ">= 1.0.0 and",
        "1.0.0 2.0.0",
        "v1.0.0",
        ">= 1.0.0, < 2.0.0",
        ">= 1.0.0 && < 2.0.0",
        "^1.0.0",
        "~> 1.0.0.0",
        "1.0.0 or or 2.0.0",
        "> 01.0.0",
        "1.0.0and 2.0.0",
    ],
)
def test_invalid_requirements(requirement: str) -> None:
    with pytest.raises(versions.InvalidRequirement):
        HEX.satisfies("1.0.0", requirement)


@pytest.mark.parametrize(
    "version",
    [
        "1.0", "v1.0.0", "01.0.0", "1.0.0-01", "1.0.0-", "1.0.0+",
        "1.0.0.0", "123456789012345.0.0", " 1.0.0", "1.0.0-a_b",
    ],
)
def test_invalid_versions(version: str) -> None:
    assert not HEX.is_valid(version)
    with pytest.raises(versions.InvalidVersion):
        HEX.satisfies(version, ">= 0.0.0")


def test_ordering_matches_version_compare_examples() -> None:
    assert HEX.key("2.0.1-alpha1") > HEX.key("2.0.0")
    assert HEX.key("1.0.0-beta") < HEX.key("1.0.0-rc1")
    assert HEX.key("1.0.0-10") > HEX.key("1.0.0-2")
    assert HEX.key("2.0.1+build0") == HEX.key("2.0.1")
    unordered = ["1.0.0", "1.0.0-rc.1", "0.9.0", "1.0.0-beta.2"]
    assert HEX.sort(unordered) == ["0.9.0", "1.0.0-beta.2", "1.0.0-rc.1", "1.0.0"]
    assert HEX.is_prerelease("1.0.0-rc.1")
    assert HEX.max_satisfying(["1.0.0", "1.1.0", "1.2.0-rc.0", "2.0.0"], "~> 1.0") == "1.1.0"
    assert HEX.max_satisfying(["1.0.0", "1.2.0-rc.0"], "~> 1.0", include_prerelease=True) == "1.2.0-rc.0"
