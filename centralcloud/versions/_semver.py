"""The Semantic Versioning 2.0 value shared by npm, Cargo and Hex.

The three ecosystems disagree on how a version string is spelled and on what a
requirement means, but once parsed a version is the same five fields, and all
three order versions by SemVer 2.0 precedence, which `SemVer.key` implements.
"""

from __future__ import annotations

import dataclasses
from typing import Any

Identifier = int | str


@dataclasses.dataclass(frozen=True, slots=True)
class SemVer:
    """A parsed SemVer 2.0 version."""

    major: int
    """The major version number."""
    minor: int
    """The minor version number."""
    patch: int
    """The patch version number."""
    prerelease: tuple[Identifier, ...] = ()
    """Pre-release identifiers; numeric ones are ints, so they compare numerically."""
    build: tuple[str, ...] = ()
    """Build metadata identifiers; they never take part in precedence."""

    @property
    def release(self) -> tuple[int, int, int]:
        """(major, minor, patch): the tuple the prerelease rules of npm and Cargo compare."""
        return (self.major, self.minor, self.patch)

    @property
    def key(self) -> tuple[Any, ...]:
        """Sort key giving SemVer 2.0 precedence (build metadata ignored)."""
        return (self.major, self.minor, self.patch, prerelease_key(self.prerelease))

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(str(part) for part in self.prerelease)
        if self.build:
            text += "+" + ".".join(self.build)
        return text


def prerelease_key(prerelease: tuple[Identifier, ...]) -> tuple[Any, ...]:
    """Sort key for a pre-release tag under SemVer 2.0 rule 11.

    A release (no tag) ranks above every pre-release of the same triple; numeric
    identifiers rank below alphanumeric ones and compare as numbers; a shorter tag
    that is a prefix of a longer one ranks lower, which tuple comparison gives us.
    """
    if not prerelease:
        return (1,)
    return (0, *((0, part, "") if isinstance(part, int) else (1, 0, part) for part in prerelease))


def split_identifiers(text: str) -> tuple[Identifier, ...]:
    """Turn a validated dot-separated pre-release tag into identifiers, numbers as ints."""
    return tuple(int(part) if part.isdigit() and part.isascii() else part for part in text.split("."))
