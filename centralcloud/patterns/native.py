"""The native report format: what an instance sends when it has no SBOM at hand.

These types are the single source of the native format: `formats` decodes with them and
`schema` turns them into `schemas/reports/centralcloud.patterns.report.json`.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from centralcloud.patterns import report

MAX_PATTERNS = 1000

PatternKind = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]
PatternName = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"\S")]
# Shown in the schema but not enforced by the decoder: a bad purl is then judged by the purl
# parser and rejected as malformed_purl, not as a mistyped entry.
Purl = Annotated[
    str, msgspec.Meta(extra_json_schema={"pattern": "^pkg:", "minLength": 5, "maxLength": report.MAX_PURL_CHARS})
]
Requirement = Annotated[str, msgspec.Meta(max_length=report.MAX_VERSION_CHARS)]


class NativeDependency(msgspec.Struct, frozen=True, kw_only=True):
    """One dependency of the project."""

    purl: Purl
    """Package URL; its version, when present, is the resolved version ("pkg:npm/express@4.21.2")."""
    requirement: Requirement | None = None
    """The requirement as declared in the manifest ("^4.21.0"), when known."""
    kind: report.Kind = "runtime"
    """runtime, dev, optional, peer or build."""
    direct: bool = True
    """False for a dependency pulled in by another dependency."""


class NativePattern(msgspec.Struct, frozen=True, kw_only=True):
    """Something the instance detected in the project besides its packages."""

    kind: PatternKind
    """framework, architecture, practice or another lower-case word."""
    name: PatternName
    """The pattern's name ("phoenix", "event-sourcing"); compared case-insensitively."""


class NativeReport(msgspec.Struct, frozen=True, kw_only=True):
    """A project's dependency report in the native format."""

    project: str | None = None
    """The project's name; a Project header overrides it, and one of the two is required."""
    dependencies: list[NativeDependency]
    """The project's dependencies, direct and indirect."""
    patterns: Annotated[list[NativePattern], msgspec.Meta(max_length=MAX_PATTERNS)] = []
    """Frameworks, architecture patterns and practices detected locally."""
