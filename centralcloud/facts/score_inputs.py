"""What the quality score reads about one package (docs/quality.md), shared by its dimensions."""

from __future__ import annotations

import datetime as dt

import msgspec

Part = float | int | str | None
"""One value that explains a score: a number, a short text, or unknown."""


class Signals(msgspec.Struct, frozen=True, kw_only=True):
    """What we know about one package, gathered from the store, for scoring."""

    ecosystem: str
    """npm, cargo, hex, pypi (purl types); popularity is ranked within it."""
    name: str
    """The package name as the ecosystem spells it."""
    downloads: int | None = None
    """All-time downloads, when the registry says."""
    recent_downloads: int | None = None
    """Downloads in the registry's recent window, when the registry says."""
    stars: int | None = None
    """Stars of the source repository, when known."""
    forks: int | None = None
    """Forks of the source repository, when known (reported, not scored)."""
    open_issues: int | None = None
    """Open issues of the source repository, when known."""
    dependents: int = 0
    """Stored packages whose latest version depends on this one."""
    instances: int = 0
    """Distinct instances that report using this package."""
    releases: tuple[dt.datetime, ...] = ()
    """Publication times of its releases, pre-releases and yanked versions left out (a list works too)."""
    latest_release_at: dt.datetime | None = None
    """Publication time of the latest release, when known."""
    archived: bool | None = None
    """The source repository is archived; None when unknown."""
    deprecated: bool = False
    """The package is deprecated or retired by its publisher."""
    advisories_latest: tuple[float | None, ...] = ()
    """CVSS base score of each advisory affecting the latest version; None when an advisory has none."""
    fix_days: tuple[float, ...] = ()
    """For past advisories of this package: days from publication to the first fixed release, when known."""
    has_repository: bool = False
    """A source repository is linked."""
    has_license: bool = False
    """A license is declared."""
    has_documentation: bool = False
    """A documentation link or readme is present."""
