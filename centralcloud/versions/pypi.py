"""PyPI's version semantics: PEP 440 versions and specifiers, through `packaging`.

`packaging` is the reference implementation pip itself vendors, so parsing,
ordering and specifier matching are all delegated to it. The one thing decided
here is the pre-release rule, because `packaging` changed its default for a
single version in 26.0 (it now admits pre-releases in `contains`), and our answer
must not depend on which `packaging` happens to be installed. We apply PEP 440's
rule explicitly:

- `satisfies`: a pre-release (or dev release) matches only when the specifier
  itself names one (`>=2.0b1`) or `include_prerelease=True` (pip's `--pre`).
- `max_satisfying`: as a resolver would, if no final release matches, the best
  matching pre-release is the answer (PEP 440: "accept remotely available
  pre-releases for version specifiers where there is no final or post release
  that satisfies the version specifier").
"""

from __future__ import annotations

from collections.abc import Iterable

from packaging import specifiers
from packaging import version as pep440

from centralcloud.versions import _base


class PypiScheme(_base.Scheme):
    """PyPI: PEP 440."""

    ecosystem = "pypi"

    def parse(self, version: str) -> pep440.Version:
        if not isinstance(version, str):
            raise self._invalid_version(version, "not a string")
        try:
            return pep440.Version(version)
        except pep440.InvalidVersion as err:
            raise self._invalid_version(version) from err

    def key(self, version: str) -> pep440.Version:
        # Version objects carry PEP 440 ordering (epochs, post, dev, local) themselves.
        return self.parse(version)

    def is_prerelease(self, version: str) -> bool:
        return self.parse(version).is_prerelease

    def max_satisfying(
        self, versions: Iterable[str], requirement: str, *, include_prerelease: bool = False
    ) -> str | None:
        candidates = list(versions)
        best = super().max_satisfying(candidates, requirement, include_prerelease=include_prerelease)
        if best is None and not include_prerelease:
            best = super().max_satisfying(candidates, requirement, include_prerelease=True)
        return best

    def _compile(self, requirement: str, include_prerelease: bool) -> tuple[specifiers.SpecifierSet, bool]:
        try:
            specifier_set = specifiers.SpecifierSet(requirement)
        except specifiers.InvalidSpecifier as err:
            raise self._invalid_requirement(requirement, str(err)) from err
        # True when some specifier names a pre-release, which opts the set into them.
        return specifier_set, bool(specifier_set.prereleases)

    def _matches(
        self,
        version: str,
        parsed: pep440.Version,
        matcher: tuple[specifiers.SpecifierSet, bool],
        include_prerelease: bool,
    ) -> bool:
        specifier_set, names_prerelease = matcher
        if parsed.is_prerelease and not (include_prerelease or names_prerelease):
            return False
        # The raw string, not the parsed Version, so `===` keeps comparing text as PEP 440 says.
        return specifier_set.contains(version.strip(), prereleases=True)
