"""OSV range evaluation (the schema's "Evaluation" algorithm) with SEMVER events.

The same cases run for npm, Cargo and Hex: all three order versions by SemVer
2.0 precedence, so an OSV SEMVER range must mean the same thing in each.
"""

from __future__ import annotations

import itertools

import pytest

from centralcloud import versions

SEMVER_ECOSYSTEMS = ["npm", "cargo", "hex"]

TWO_PAIRS = [
    {"introduced": "1.0.0"},
    {"fixed": "1.4.2"},
    {"introduced": "2.0.0"},
    {"fixed": "2.1.5"},
]

CASES = [
    # from the beginning until a fix; pre-releases order before their release
    ([{"introduced": "0"}, {"fixed": "1.2.3"}], "0.0.0", True),
    ([{"introduced": "0"}, {"fixed": "1.2.3"}], "0.0.0-alpha", True),
    ([{"introduced": "0"}, {"fixed": "1.2.3"}], "1.2.2", True),
    ([{"introduced": "0"}, {"fixed": "1.2.3"}], "1.2.3-rc.1", True),
    ([{"introduced": "0"}, {"fixed": "1.2.3"}], "1.2.3", False),
    ([{"introduced": "0"}, {"fixed": "1.2.3"}], "1.2.3+build.9", False),
    ([{"introduced": "0"}, {"fixed": "1.2.3"}], "2.0.0", False),
    # two introduced/fixed pairs
    (TWO_PAIRS, "0.9.0", False),
    (TWO_PAIRS, "1.0.0-rc.1", False),
    (TWO_PAIRS, "1.0.0", True),
    (TWO_PAIRS, "1.4.1", True),
    (TWO_PAIRS, "1.4.2", False),
    (TWO_PAIRS, "1.9.9", False),
    (TWO_PAIRS, "2.0.0", True),
    (TWO_PAIRS, "2.1.4", True),
    (TWO_PAIRS, "2.1.5", False),
    (TWO_PAIRS, "3.0.0", False),
    # last_affected is inclusive
    ([{"introduced": "1.0.0"}, {"last_affected": "1.2.0"}], "1.2.0", True),
    ([{"introduced": "1.0.0"}, {"last_affected": "1.2.0"}], "1.2.0-rc.1", True),
    ([{"introduced": "1.0.0"}, {"last_affected": "1.2.0"}], "1.2.1", False),
    ([{"introduced": "1.0.0"}, {"last_affected": "1.2.0"}], "0.9.9", False),
    # never fixed
    ([{"introduced": "1.0.0"}], "99.0.0", True),
    ([{"introduced": "0"}], "0.0.1", True),
    # limit bounds the range; "*" is infinity; being under any one limit is enough
    ([{"introduced": "0"}, {"limit": "2.0.0"}], "1.9.9", True),
    ([{"introduced": "0"}, {"limit": "2.0.0"}], "2.0.0", False),
    ([{"introduced": "1.0.0"}, {"limit": "*"}], "50.0.0", True),
    ([{"introduced": "1.0.0"}, {"limit": "1.5.0"}, {"limit": "2.5.0"}], "2.0.0", True),
    ([{"introduced": "1.0.0"}, {"limit": "1.5.0"}, {"limit": "2.5.0"}], "3.0.0", False),
    ([{"introduced": "1.0.0"}, {"fixed": "1.3.0"}, {"limit": "2.0.0"}], "1.4.0", False),
    # pre-release identifiers compare numerically, and below alphanumerics
    ([{"introduced": "1.0.0-alpha.2"}, {"fixed": "1.0.0-alpha.10"}], "1.0.0-alpha.9", True),
    ([{"introduced": "1.0.0-alpha.2"}, {"fixed": "1.0.0-alpha.10"}], "1.0.0-alpha.beta", False),
    # an empty range: introduced and fixed at one version, in that order
    ([{"introduced": "1.0.0"}, {"fixed": "1.0.0"}], "1.0.0", False),
]


@pytest.mark.parametrize("ecosystem", SEMVER_ECOSYSTEMS)
@pytest.mark.parametrize(("events", "version", "affected"), CASES)
def test_in_osv_range(ecosystem: str, events: list[dict[str, str]], version: str, affected: bool) -> None:
    assert versions.scheme(ecosystem).in_osv_range(version, events) is affected


@pytest.mark.parametrize("ecosystem", SEMVER_ECOSYSTEMS)
def test_event_order_does_not_matter(ecosystem: str) -> None:
    scheme = versions.scheme(ecosystem)
    probes = ["0.1.0", "1.0.0", "1.4.1", "1.4.2", "2.0.0", "2.1.5", "3.0.0"]
    expected = [scheme.in_osv_range(version, TWO_PAIRS) for version in probes]
    for shuffled in itertools.permutations(TWO_PAIRS):
        assert [scheme.in_osv_range(version, list(shuffled)) for version in probes] == expected


@pytest.mark.parametrize("ecosystem", SEMVER_ECOSYSTEMS)
@pytest.mark.parametrize(
    "events",
    [
        [{"introduced": "0"}, {"fixed": "1.2"}],
        [{"introduced": "1.0.0.1"}, {"fixed": "2.0.0"}],
        [{"introduced": "1.0.0"}, {"last_affected": "latest"}],
        [{"introduced": "1.0.0"}, {"limit": "2.0"}],
    ],
)
def test_unparsable_event_version_raises(ecosystem: str, events: list[dict[str, str]]) -> None:
    # Callers flag such an advisory; it must never quietly read as "not affected".
    with pytest.raises(versions.InvalidVersion):
        versions.scheme(ecosystem).in_osv_range("1.5.0", events)


@pytest.mark.parametrize("ecosystem", SEMVER_ECOSYSTEMS)
def test_unparsable_target_version_raises(ecosystem: str) -> None:
    with pytest.raises(versions.InvalidVersion):
        versions.scheme(ecosystem).in_osv_range("1.5", [{"introduced": "0"}])


@pytest.mark.parametrize(
    "events",
    [
        [{"introduced": "1.0.0", "fixed": "2.0.0"}],
        [{"patched": "1.0.0"}],
        [{"introduced": ""}],
        [{"introduced": 1}],
        ["introduced"],
        {"introduced": "0"},
    ],
)
def test_malformed_events_raise(events: object) -> None:
    with pytest.raises(versions.InvalidRequirement):
        versions.scheme("npm").in_osv_range("1.0.0", events)  # type: ignore[arg-type]


def test_npm_accepts_a_v_prefix_in_events_but_cargo_does_not() -> None:
    events = [{"introduced": "v1.0.0"}, {"fixed": "=2.0.0"}]
    assert versions.scheme("npm").in_osv_range("1.5.0", events)
    with pytest.raises(versions.InvalidVersion):
        versions.scheme("cargo").in_osv_range("1.5.0", events)
