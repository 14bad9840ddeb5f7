"""Cargo's version semantics: what the `semver` crate (which Cargo uses) accepts and matches.

Versions are strict SemVer 2.0 (no `v`, no leading zeros, no surrounding spaces).
A requirement is comma-separated comparators that must all hold; a bare version
is a caret requirement (`1.2.3` means `^1.2.3`), `*` alone matches every release,
and `1.*` / `1.2.*` are wildcards. Partial operands keep their missing parts
unknown rather than zero, which is how `>1` can mean "2.0.0 and up" and `<=1.2`
"anything up to the last 1.2.x".
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from centralcloud.versions import _base, _semver

# The crate caps a requirement at 32 comparators.
_MAX_COMPARATORS = 32
_MAX_NUMBER = 2**64 - 1

_IDENTIFIER = r"[0-9A-Za-z-]+"
_VERSION = re.compile(
    rf"(?P<major>[0-9]+)\.(?P<minor>[0-9]+)\.(?P<patch>[0-9]+)"
    rf"(?:-(?P<pre>{_IDENTIFIER}(?:\.{_IDENTIFIER})*))?"
    rf"(?:\+(?P<build>{_IDENTIFIER}(?:\.{_IDENTIFIER})*))?",
    re.ASCII,
)
# Two-character operators first, so ">=" is not read as ">" followed by junk.
_OPERATORS = (">=", "<=", ">", "<", "=", "~", "^")
_NUMBER = re.compile(r"[0-9]+", re.ASCII)
_TAG = re.compile(rf"{_IDENTIFIER}(?:\.{_IDENTIFIER})*", re.ASCII)
_WILDCARDS = ("*", "x", "X")


@dataclasses.dataclass(frozen=True, slots=True)
class Comparator:
    """One comparator of a Cargo requirement, with unknown parts left as None."""

    op: str
    """One of = > >= < <= ~ ^ and "wildcard" (for `1.*`)."""
    major: int
    """The major version, always given."""
    minor: int | None
    """The minor version, None when omitted or a wildcard."""
    patch: int | None
    """The patch version, None when omitted or a wildcard."""
    prerelease: tuple[_semver.Identifier, ...] = ()
    """Pre-release identifiers; only allowed when the patch is given."""


def _number(text: str) -> int:
    if len(text) > 1 and text.startswith("0"):
        raise ValueError(f"leading zero in {text!r}")
    value = int(text)
    if value > _MAX_NUMBER:
        raise ValueError(f"{text!r} does not fit in 64 bits")
    return value


def _prerelease(text: str) -> tuple[_semver.Identifier, ...]:
    for part in text.split("."):
        if len(part) > 1 and part.isdigit() and part.startswith("0"):
            raise ValueError(f"leading zero in pre-release identifier {part!r}")
    return _semver.split_identifiers(text)


def parse_version(text: str) -> _semver.SemVer:
    """Parse a strict SemVer version as `semver::Version::parse` does; raise ValueError."""
    match = _VERSION.fullmatch(text)
    if match is None:
        raise ValueError("expected MAJOR.MINOR.PATCH[-PRE][+BUILD]")
    return _semver.SemVer(
        _number(match["major"]),
        _number(match["minor"]),
        _number(match["patch"]),
        prerelease=_prerelease(match["pre"]) if match["pre"] else (),
        build=tuple(match["build"].split(".")) if match["build"] else (),
    )


def _take(pattern: re.Pattern[str], text: str, what: str) -> tuple[str, str]:
    match = pattern.match(text)
    if match is None or not match.group():
        raise ValueError(f"expected {what} at {text!r}")
    return match.group(), text[match.end() :]


def _comparator(text: str) -> tuple[Comparator, str]:
    """Parse one comparator from the front of `text`; return it and what follows."""
    op = next((candidate for candidate in _OPERATORS if text.startswith(candidate)), "")
    text = text[len(op) :].lstrip(" ")
    default = not op
    digits, text = _take(_NUMBER, text, "a major version")
    major = _number(digits)
    minor = patch = None
    wildcard = False
    if text.startswith("."):
        text = text[1:]
        if text[:1] in _WILDCARDS:
            wildcard, text = True, text[1:]
        else:
            digits, text = _take(_NUMBER, text, "a minor version")
            minor = _number(digits)
        if text.startswith("."):
            text = text[1:]
            if text[:1] in _WILDCARDS:
                wildcard, text = True, text[1:]
            elif wildcard:
                raise ValueError("a number cannot follow a wildcard")
            else:
                digits, text = _take(_NUMBER, text, "a patch version")
                patch = _number(digits)
    prerelease: tuple[_semver.Identifier, ...] = ()
    if patch is not None and text.startswith("-"):
        tag, text = _take(_TAG, text[1:], "a pre-release")
        prerelease = _prerelease(tag)
    if patch is not None and text.startswith("+"):
        # Build metadata is allowed in a requirement and means nothing.
        _, text = _take(_TAG, text[1:], "build metadata")
    if wildcard and default:
        op = "wildcard"
    comparator = Comparator(op=op or "^", major=major, minor=minor, patch=patch, prerelease=prerelease)
    return comparator, text.lstrip(" ")


def parse_requirement(text: str) -> tuple[Comparator, ...]:
    """Parse a requirement as `semver::VersionReq::parse` does; raise ValueError."""
    text = text.lstrip(" ")
    if text[:1] in _WILDCARDS:
        if text[1:].strip(" "):
            raise ValueError("a lone wildcard must be the whole requirement")
        return ()
    comparators: list[Comparator] = []
    while True:
        comparator, text = _comparator(text)
        comparators.append(comparator)
        if not text:
            return tuple(comparators)
        if not text.startswith(","):
            raise ValueError(f"expected ',' at {text!r}")
        text = text[1:].lstrip(" ")
        if len(comparators) == _MAX_COMPARATORS:
            raise ValueError(f"more than {_MAX_COMPARATORS} comparators")


def _exact(comparator: Comparator, version: _semver.SemVer) -> bool:
    return (
        version.major == comparator.major
        and comparator.minor in (None, version.minor)
        and comparator.patch in (None, version.patch)
        and version.prerelease == comparator.prerelease
    )


def _beyond(comparator: Comparator, version: _semver.SemVer, *, sign: int) -> bool:
    """Strictly greater (sign 1) or strictly less (sign -1) than the comparator.

    An omitted part compares as "equal to everything", so `>1` is false for all
    1.x and `<1.2` false for all 1.2.x.
    """
    pairs = (
        (version.major, comparator.major),
        (version.minor, comparator.minor),
        (version.patch, comparator.patch),
    )
    for ours, theirs in pairs:
        if theirs is None:
            return False
        if ours != theirs:
            return (ours - theirs) * sign > 0
    ours_pre = _semver.prerelease_key(version.prerelease)
    theirs_pre = _semver.prerelease_key(comparator.prerelease)
    return ours_pre > theirs_pre if sign > 0 else ours_pre < theirs_pre


def _pre_at_least(comparator: Comparator, version: _semver.SemVer) -> bool:
    return _semver.prerelease_key(version.prerelease) >= _semver.prerelease_key(comparator.prerelease)


def _tilde(comparator: Comparator, version: _semver.SemVer) -> bool:
    if version.major != comparator.major:
        return False
    if comparator.minor is not None and version.minor != comparator.minor:
        return False
    if comparator.patch is not None and version.patch != comparator.patch:
        return version.patch > comparator.patch
    return _pre_at_least(comparator, version)


def _caret(comparator: Comparator, version: _semver.SemVer) -> bool:
    """The left-most non-zero part is fixed; everything to its right may grow."""
    if version.major != comparator.major:
        return False
    minor, patch = comparator.minor, comparator.patch
    if minor is None:
        return True
    if patch is None:
        return version.minor >= minor if comparator.major > 0 else version.minor == minor
    if comparator.major > 0:
        if version.minor != minor:
            return version.minor > minor
    elif minor > 0:
        if version.minor != minor:
            return False
    elif version.minor != minor or version.patch != patch:
        # ^0.0.3 is exactly 0.0.3 (and its later pre-releases).
        return False
    if version.patch != patch:
        return version.patch > patch
    return _pre_at_least(comparator, version)


def _test(comparator: Comparator, version: _semver.SemVer) -> bool:
    op = comparator.op
    if op in ("=", "wildcard"):
        return _exact(comparator, version)
    if op == ">":
        return _beyond(comparator, version, sign=1)
    if op == ">=":
        return _exact(comparator, version) or _beyond(comparator, version, sign=1)
    if op == "<":
        return _beyond(comparator, version, sign=-1)
    if op == "<=":
        return _exact(comparator, version) or _beyond(comparator, version, sign=-1)
    if op == "~":
        return _tilde(comparator, version)
    return _caret(comparator, version)


class CargoScheme(_base.Scheme):
    """Cargo (crates.io): SemVer 2.0 versions and `semver` crate requirements."""

    ecosystem = "cargo"

    def parse(self, version: str) -> _semver.SemVer:
        if not isinstance(version, str):
            raise self._invalid_version(version, "not a string")
        try:
            return parse_version(version)
        except ValueError as err:
            raise self._invalid_version(version, str(err)) from err

    def key(self, version: str) -> tuple[Any, ...]:
        return self.parse(version).key

    def is_prerelease(self, version: str) -> bool:
        return bool(self.parse(version).prerelease)

    def _compile(self, requirement: str, include_prerelease: bool) -> tuple[Comparator, ...]:
        try:
            return parse_requirement(requirement)
        except ValueError as err:
            raise self._invalid_requirement(requirement, str(err)) from err

    def _matches(
        self,
        version: str,
        parsed: _semver.SemVer,
        matcher: tuple[Comparator, ...],
        include_prerelease: bool,
    ) -> bool:
        if not all(_test(comparator, parsed) for comparator in matcher):
            return False
        if not parsed.prerelease or include_prerelease:
            return True
        # Cargo's rule: a pre-release only matches when some comparator names a
        # pre-release of the very same major.minor.patch, so `^1.2.3-alpha`
        # accepts 1.2.3-beta but nothing like 1.4.0-rc.1.
        return any(
            comparator.prerelease
            and (comparator.major, comparator.minor, comparator.patch) == parsed.release
            for comparator in matcher
        )
