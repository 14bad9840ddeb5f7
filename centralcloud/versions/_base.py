"""The interface every ecosystem's version scheme implements, and what they share.

Each ecosystem only supplies parsing, ordering and requirement matching; listing,
sorting, picking the best match and OSV range evaluation are written once here on
top of those, so the four ecosystems cannot drift apart in how they answer them.
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from centralcloud.core import errors

_OSV_EVENT_KINDS = ("introduced", "fixed", "last_affected", "limit")


class InvalidVersion(errors.BadRequest):
    """A version string that is not valid in its ecosystem."""

    kind = "invalid_version"


class InvalidRequirement(errors.BadRequest):
    """A version requirement (range, specifier) that cannot be parsed in its ecosystem."""

    kind = "invalid_requirement"


class Scheme(abc.ABC):
    """Version semantics of one ecosystem.

    Versions and requirements are plain strings at this interface. An invalid
    version raises `InvalidVersion` and an invalid requirement raises
    `InvalidRequirement`, both `BadRequest`s, so a caller can never mistake
    garbage for "does not match".
    """

    ecosystem: str

    # ---- what each ecosystem supplies -------------------------------------------

    @abc.abstractmethod
    def parse(self, version: str) -> Any:
        """Parse `version` into the ecosystem's version value; raise InvalidVersion."""

    @abc.abstractmethod
    def key(self, version: str) -> Any:
        """A sort key giving the ecosystem's precedence order; raise InvalidVersion."""

    @abc.abstractmethod
    def is_prerelease(self, version: str) -> bool:
        """True when `version` is a pre-release in the ecosystem's sense."""

    @abc.abstractmethod
    def _compile(self, requirement: str, include_prerelease: bool) -> Any:
        """Parse `requirement` into a matcher; raise InvalidRequirement. Results are cached."""

    @abc.abstractmethod
    def _matches(self, version: str, parsed: Any, matcher: Any, include_prerelease: bool) -> bool:
        """Whether a version (given raw and parsed) satisfies an already compiled requirement."""

    # ---- shared behaviour ------------------------------------------------------

    def is_valid(self, version: str) -> bool:
        """True when `version` parses in this ecosystem."""
        try:
            self.parse(version)
        except InvalidVersion:
            return False
        return True

    def prerelease_flag(self, version: str) -> bool:
        """The pre-release flag a registry adapter records: `is_prerelease`, or False when `version`
        does not parse (a registry may list such an entry; it must not fail the whole document)."""
        try:
            return self.is_prerelease(version)
        except InvalidVersion:
            return False

    def satisfies(self, version: str, requirement: str, *, include_prerelease: bool = False) -> bool:
        """Whether `version` satisfies `requirement` under the ecosystem's rules.

        `include_prerelease` lifts the ecosystem's rule that keeps pre-releases out
        of requirements that do not ask for them (npm's `includePrerelease`,
        Elixir's `allow_pre`, pip's `--pre`).
        """
        matcher = self._requirement(requirement, include_prerelease)
        return self._matches(version, self.parse(version), matcher, include_prerelease)

    def max_satisfying(
        self, versions: Iterable[str], requirement: str, *, include_prerelease: bool = False
    ) -> str | None:
        """The highest of `versions` that satisfies `requirement`, or None.

        Entries that are not valid versions are skipped rather than raised on:
        registries do publish the odd malformed version, and one of them must not
        hide the answer for all the others. The requirement itself must parse.
        """
        matcher = self._requirement(requirement, include_prerelease)
        return self._best(versions, matcher, include_prerelease)

    def sort(self, versions: Iterable[str]) -> list[str]:
        """`versions` in ascending precedence; raise InvalidVersion on any invalid entry.

        Versions of equal precedence (differing only in build metadata) keep their
        input order.
        """
        return sorted(versions, key=self.key)

    def in_osv_range(self, version: str, events: Sequence[Mapping[str, str]]) -> bool:
        """Whether `version` lies in one OSV range given as its `events` list.

        This is the OSV schema's evaluation: events are sorted by version
        (`introduced: "0"` first), a sweep turns "affected" on at each
        `introduced` <= version and off at each `fixed` <= version or
        `last_affected` < version, and when `limit` events exist the version must
        also be below one of them (`"*"` is infinity). Events at equal versions
        keep their listed order, so a record's own order decides ties.

        Every version in the events must parse: a range we cannot read raises
        InvalidVersion (or InvalidRequirement for a malformed event) so callers
        flag the advisory instead of silently calling a package safe.
        """
        target = self.key(version)
        sweep: list[tuple[str, Any]] = []
        limits: list[Any] = []
        for event in _osv_events(events):
            ((kind, value),) = event.items()
            if kind == "limit":
                # None stands for "*", the schema's infinity.
                limits.append(None if "*" in value else self.key(value))
            elif kind == "introduced" and value == "0":
                sweep.append((kind, None))
            else:
                sweep.append((kind, self.key(value)))
        if limits and not any(limit is None or target < limit for limit in limits):
            return False
        # "introduced: 0" (bound None) sorts before every version; the stable sort
        # keeps the record's order between events at the same version.
        sweep.sort(key=lambda event: (0,) if event[1] is None else (1, event[1]))
        affected = False
        for kind, bound in sweep:
            if kind == "introduced":
                if bound is None or target >= bound:
                    affected = True
            elif kind == "fixed":
                if target >= bound:
                    affected = False
            elif target > bound:  # last_affected
                affected = False
        return affected

    # ---- helpers ---------------------------------------------------------------

    def _requirement(self, requirement: str, include_prerelease: bool) -> Any:
        if not isinstance(requirement, str):
            raise InvalidRequirement("a version requirement must be a string", ecosystem=self.ecosystem)
        return self._compiled(requirement, include_prerelease)

    @functools.cached_property
    def _compiled(self) -> Any:
        # One bounded cache per scheme: the same few thousand requirement strings
        # recur across every package's dependency lists.
        return functools.lru_cache(maxsize=4096)(self._compile)

    def _best(self, versions: Iterable[str], matcher: Any, include_prerelease: bool) -> str | None:
        best: str | None = None
        best_key: Any = None
        for candidate in versions:
            try:
                parsed = self.parse(candidate)
            except InvalidVersion:
                continue
            if not self._matches(candidate, parsed, matcher, include_prerelease):
                continue
            candidate_key = self.key(candidate)
            if best is None or candidate_key > best_key:
                best, best_key = candidate, candidate_key
        return best

    def _invalid_version(self, version: object, reason: str = "") -> InvalidVersion:
        suffix = f": {reason}" if reason else ""
        return InvalidVersion(
            f"{version!r} is not a valid {self.ecosystem} version{suffix}",
            ecosystem=self.ecosystem,
            version=version if isinstance(version, str) else None,
        )

    def _invalid_requirement(self, requirement: str, reason: str = "") -> InvalidRequirement:
        suffix = f": {reason}" if reason else ""
        return InvalidRequirement(
            f"{requirement!r} is not a valid {self.ecosystem} version requirement{suffix}",
            ecosystem=self.ecosystem,
            requirement=requirement,
        )


def _osv_events(events: Sequence[Mapping[str, str]]) -> Iterable[Mapping[str, str]]:
    if isinstance(events, (str, bytes)) or not isinstance(events, Sequence):
        raise InvalidRequirement("OSV range events must be a list of objects")
    for event in events:
        if not isinstance(event, Mapping) or len(event) != 1:
            raise InvalidRequirement(
                "each OSV range event must be an object with exactly one key", event=repr(event)
            )
        ((kind, value),) = event.items()
        if kind not in _OSV_EVENT_KINDS or not isinstance(value, str) or not value:
            raise InvalidRequirement(f"unknown or empty OSV range event {event!r}", event=repr(event))
        yield event
