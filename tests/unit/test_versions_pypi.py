"""PyPI (PEP 440) through the shared interface, and the interface's own wiring.

Matching itself is `packaging`'s, so comparing against `packaging` would prove
nothing; these tables pin what we decide on top of it (the pre-release rule,
`===` on the raw string, errors) and the OSV evaluation with PEP 440 ordering.
"""

from __future__ import annotations

import pytest

from centralcloud import versions
from centralcloud.core import errors

PYPI = versions.scheme("pypi")


@pytest.mark.parametrize(
    ("version", "requirement", "expected"),
    [
        ("1.0", ">=1.0", True),
        ("0.9", ">=1.0", False),
        # pre-releases only when the specifier names one
        ("2.0a1", ">=1.0", False),
        ("2.0.dev3", ">=1.0", False),
        ("1.0b2", ">=1.0b1", True),
        ("1.5rc1", ">=1.0b1,<2", True),
        ("2.0a1", "", False),
        ("2.0", "", True),
        # != and .* wildcards
        ("1.0", "!=1.0", False),
        ("1.0.1", "!=1.0", True),
        ("1.4.2", "==1.4.*", True),
        ("1.5", "==1.4.*", False),
        ("1.4.2", "!=1.4.*", False),
        ("1.5.0", "!=1.4.*", True),
        # ~= compatible release
        ("1.4.9", "~=1.4.5", True),
        ("1.5.0", "~=1.4.5", False),
        ("1.9", "~=1.4", True),
        ("2.0", "~=1.4", False),
        # === compares the text, not the parsed value
        ("1.0", "===1.0", True),
        ("1.0.0", "===1.0", False),
        # post, local and epoch
        ("1.0.post1", ">1.0", False),
        ("1.1", ">1.0", True),
        ("1.0+local.7", "==1.0", True),
        ("1!0.5", ">=2.0", True),
        ("2.0.dev1", "<2.0", False),
        ("1.9", "<2.0, >=1.0 ", True),
    ],
)
def test_specifier_table(version: str, requirement: str, expected: bool) -> None:
    assert PYPI.satisfies(version, requirement) is expected


@pytest.mark.parametrize(
    ("version", "requirement"),
    [("2.0a1", ">=1.0"), ("2.0a1", ""), ("1.5.dev3", "~=1.4"), ("1.0rc1", "!=1.0")],
)
def test_include_prerelease_admits_prereleases(version: str, requirement: str) -> None:
    assert not PYPI.satisfies(version, requirement)
    assert PYPI.satisfies(version, requirement, include_prerelease=True)


def test_prerelease_of_excluded_upper_bound_stays_out() -> None:
    # PEP 440: <V excludes V's own pre-releases even when pre-releases are allowed.
    assert not PYPI.satisfies("2.0a1", "<2.0", include_prerelease=True)


@pytest.mark.parametrize("requirement", ["=>1.0", ">=1.0;", ">=", "~=1", "django>=1.0", "1.0", ">=1.0 <2"])
def test_invalid_specifier_raises(requirement: str) -> None:
    with pytest.raises(versions.InvalidRequirement) as caught:
        PYPI.satisfies("1.0", requirement)
    assert isinstance(caught.value, errors.BadRequest)
    assert caught.value.kind == "invalid_requirement"
    assert caught.value.details == {"ecosystem": "pypi", "requirement": requirement}


@pytest.mark.parametrize("version", ["", "foo", "1.0-beta-gamma", "1..0", "1.0 2.0"])
def test_invalid_version_raises(version: str) -> None:
    assert not PYPI.is_valid(version)
    with pytest.raises(versions.InvalidVersion) as caught:
        PYPI.satisfies(version, ">=1.0")
    assert isinstance(caught.value, errors.BadRequest)
    assert caught.value.kind == "invalid_version"


def test_ordering_and_prerelease_flag() -> None:
    ordered = ["1.0.dev0", "1.0a1", "1.0rc1", "1.0", "1.0+local", "1.0.post1", "1.1", "1!0.1"]
    assert PYPI.sort(reversed(ordered)) == ordered
    assert PYPI.key("1.0") == PYPI.key("1.0.0")
    assert PYPI.is_prerelease("1.0rc1")
    assert PYPI.is_prerelease("1.0.dev0")
    assert not PYPI.is_prerelease("1.0.post1")
    assert PYPI.is_valid("v1.0")


def test_max_satisfying_falls_back_to_prereleases_like_a_resolver() -> None:
    assert PYPI.max_satisfying(["1.0", "1.6", "2.0b1", "nonsense"], ">=1.5") == "1.6"
    # Nothing final matches: PEP 440 lets the best pre-release through.
    assert PYPI.max_satisfying(["1.0", "2.0b1", "2.0b2"], ">=1.5") == "2.0b2"
    assert PYPI.max_satisfying(["1.0", "1.6", "2.0b1"], ">=1.5", include_prerelease=True) == "2.0b1"
    assert PYPI.max_satisfying(["1.0"], ">=1.5") is None
    with pytest.raises(versions.InvalidRequirement):
        PYPI.max_satisfying([], ">>1")


# Django-style advisory: affected before 3.2.14 and in 4.0 before 4.0.6.
DJANGO_EVENTS = [{"introduced": "0"}, {"fixed": "3.2.14"}, {"introduced": "4.0"}, {"fixed": "4.0.6"}]


@pytest.mark.parametrize(
    ("version", "affected"),
    [
        ("1.11.29", True),
        ("3.2.13", True),
        ("3.2.14rc1", True),
        ("3.2.14", False),
        ("3.2.15", False),
        ("4.0a1", False),
        ("4.0", True),
        ("4.0.5", True),
        ("4.0.6", False),
        ("4.1", False),
        ("0.1.dev1", True),
    ],
)
def test_osv_ecosystem_range(version: str, affected: bool) -> None:
    assert PYPI.in_osv_range(version, DJANGO_EVENTS) is affected
    assert PYPI.in_osv_range(version, list(reversed(DJANGO_EVENTS))) is affected


def test_osv_last_affected_and_limit() -> None:
    events = [{"introduced": "2.0"}, {"last_affected": "2.2.1"}]
    assert PYPI.in_osv_range("2.2.1", events)
    assert PYPI.in_osv_range("2.2.1.post1", events) is False
    assert PYPI.in_osv_range("3.0", [{"introduced": "1.0"}, {"limit": "3.0"}]) is False
    assert PYPI.in_osv_range("2.9", [{"introduced": "1.0"}, {"limit": "3.0"}])


def test_osv_unparsable_event_version_raises() -> None:
    with pytest.raises(versions.InvalidVersion):
        PYPI.in_osv_range("1.0", [{"introduced": "0"}, {"fixed": "not a version"}])


def test_scheme_lookup() -> None:
    assert versions.scheme("PyPI") is PYPI
    assert versions.scheme(" npm ") is versions.scheme("npm")
    assert versions.scheme("crates.io") is versions.scheme("cargo")
    assert versions.scheme("hex.pm").ecosystem == "hex"
    assert isinstance(versions.scheme("npm"), versions.Scheme)
    with pytest.raises(errors.UnknownEcosystem):
        versions.scheme("maven")


@pytest.mark.parametrize("ecosystem", ["npm", "pypi", "cargo", "hex"])
def test_non_string_inputs_are_bad_requests(ecosystem: str) -> None:
    scheme = versions.scheme(ecosystem)
    with pytest.raises(versions.InvalidVersion):
        scheme.parse(None)  # type: ignore[arg-type]
    with pytest.raises(versions.InvalidRequirement):
        scheme.satisfies("1.0.0", None)  # type: ignore[arg-type]
