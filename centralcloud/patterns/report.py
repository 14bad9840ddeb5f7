"""One instance's dependency report for one project, normalized whatever format it came in.

Every format decoder in `formats` ends here: entries go through `Collector`, which parses
each purl once (cached, since the same purls arrive from every instance), normalizes names
of the tracked ecosystems with `centralcloud.names`, rejects unreadable entries one by one
and merges duplicates. A report that cannot be used at all raises `ReportRejected` with a
stable `reason`.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Literal

import msgspec
from packageurl import PackageURL

from centralcloud.core import ecosystems, errors, names

Kind = Literal["runtime", "dev", "optional", "peer", "build"]
Format = Literal["native", "cyclonedx", "spdx", "github"]

# Whole-report reasons (ReportRejected.reason); stable, clients and records switch on them.
NOT_JSON = "not_json"
UNKNOWN_FORMAT = "unknown_format"
TOO_LARGE = "too_large"
TOO_MANY_DEPENDENCIES = "too_many_dependencies"
WRONG_TYPES = "wrong_types"
BAD_PROJECT = "bad_project"
BAD_INSTANCE = "bad_instance"

# Per-entry reasons (Reject.reason).
BAD_ENTRY = "bad_entry"
MISSING_PURL = "missing_purl"
MALFORMED_PURL = "malformed_purl"
INVALID_NAME = "invalid_name"
BAD_PATTERN = "bad_pattern"

MAX_BYTES = 4 * 1024 * 1024
"""Default cap on a report body; a lockfile-sized SBOM of a large monorepo fits well below it."""
MAX_DEPENDENCIES = 50_000
"""Default cap on dependency entries in one report, counted before duplicates merge."""
MAX_REJECTS_KEPT = 100
"""Rejected entries kept with their excerpt; the rest are only counted, so a report of junk
cannot make its own rejection record large."""
EXCERPT_CHARS = 160
MAX_PURL_CHARS = 1000
MAX_VERSION_CHARS = 256
MAX_PROJECT_CHARS = 200

# Merging: the kind that says most about where the package ends up wins. runtime ships; peer
# must be present beside it at run time; optional ships where it can; build and dev never ship.
KIND_RANK: dict[str, int] = {"runtime": 0, "peer": 1, "optional": 2, "build": 3, "dev": 4}

_INSTANCE = re.compile(r"[A-Za-z0-9_-]{1,64}")


class ReportRejected(errors.BadRequest):
    """A report that cannot be used at all; `reason` is one of the whole-report reason codes."""

    kind = "report_rejected"

    def __init__(self, message: str, *, reason: str, **details: object) -> None:
        super().__init__(message, reason=reason, **details)
        self.reason = reason


class Entry(msgspec.Struct, frozen=True, kw_only=True):
    """One dependency of the reported project."""

    ecosystem: str
    """The purl type. npm, pypi, cargo and hex are tracked (looked up); any other type is kept and counted but never fetched."""
    name: str
    """For tracked ecosystems the name normalized by the ecosystem's rules; otherwise the purl's namespace/name as given."""
    version: str | None = None
    """The resolved version (the purl's version), when the instance knows it."""
    requirement: str | None = None
    """The declared requirement ("^4.21.0"), when the format carries one."""
    kind: Kind = "runtime"
    """runtime, dev, optional, peer or build."""
    direct: bool = True
    """Declared by the project itself, as opposed to pulled in by another dependency."""

    @property
    def tracked(self) -> bool:
        return self.ecosystem in ecosystems.KEYS

    @property
    def purl(self) -> str:
        if self.tracked:
            return names.to_purl(self.ecosystem, self.name, self.version)
        namespace, _, name = self.name.rpartition("/")
        return PackageURL(type=self.ecosystem, namespace=namespace or None, name=name, version=self.version).to_string()


class Pattern(msgspec.Struct, frozen=True, kw_only=True, order=True):
    """A framework, architecture pattern or practice the instance detected in the project."""

    kind: str
    """What sort of pattern: framework, architecture, practice, ... (lower-case)."""
    name: str
    """The pattern's name, lower-cased and trimmed."""


class Reject(msgspec.Struct, frozen=True, kw_only=True):
    """One entry of a report that could not be read; the rest of the report is kept."""

    index: int
    """Position of the entry in the format's list of entries, in document order."""
    reason: str
    """bad_entry, missing_purl, malformed_purl, invalid_name or bad_pattern."""
    detail: str
    """What exactly was wrong, for a person."""
    excerpt: str
    """The start of the entry as it was sent."""


class Report(msgspec.Struct, frozen=True, kw_only=True):
    """A report decoded and normalized: the project's current dependency set."""

    format: Format
    """The format detected from the content."""
    project: str
    """The project the report is about (a Project header wins over the document)."""
    dependencies: tuple[Entry, ...]
    """Merged, one per (ecosystem, name, version), sorted."""
    patterns: tuple[Pattern, ...] = ()
    """Distinct patterns, sorted."""
    rejects: tuple[Reject, ...] = ()
    """The first rejected entries, with why."""
    rejected: int = 0
    """How many entries were rejected in all (rejects keeps only the first ones)."""

    @property
    def other(self) -> int:
        """Entries of untracked ecosystems (kept, never looked up)."""
        return sum(1 for entry in self.dependencies if not entry.tracked)

    def digest(self) -> str:
        """A stable hash of the dependency set and patterns: equal for an unchanged re-report.

        Independent of entry order, format and duplicate entries, since it is taken over the
        merged, sorted set; the project is not part of it (the set is stored per project).
        """
        # Every field of every entry and pattern is encoded (no defaults are left out).
        return hashlib.sha256(msgspec.json.encode(("report-v2", self.dependencies, self.patterns))).hexdigest()


def check_instance(token: str) -> str:
    """Return the instance id if it is 1-64 characters of [A-Za-z0-9_-], else raise."""
    if isinstance(token, str) and _INSTANCE.fullmatch(token):
        return token
    raise ReportRejected(
        "an instance id is 1-64 characters of A-Z, a-z, 0-9, _ and -", reason=BAD_INSTANCE, instance=str(token)[:80]
    )


def check_project(value: object) -> str:
    """Return the trimmed project name, or raise bad_project."""
    if not isinstance(value, str):
        raise ReportRejected("the report names no project; send a Project header", reason=BAD_PROJECT)
    name = value.strip()
    if not name or len(name) > MAX_PROJECT_CHARS:
        raise ReportRejected(f"a project name is 1-{MAX_PROJECT_CHARS} characters", reason=BAD_PROJECT)
    if any(unicodedata.category(char) == "Cc" for char in name):
        raise ReportRejected("a project name has no control characters", reason=BAD_PROJECT)
    return name


def excerpt(raw: bytes | msgspec.Raw | str) -> str:
    text = raw if isinstance(raw, str) else bytes(raw).decode("utf-8", "replace")
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


class _Bad(msgspec.Struct, frozen=True):
    reason: str
    detail: str


# Cached by the purl string: ingest sees the same few thousand purls from every instance,
# and parsing one costs ~10 µs against ~0.1 µs for a hit.
@functools.lru_cache(maxsize=65536)
def parse_purl(value: str) -> tuple[str, str, str | None] | _Bad:
    """(ecosystem, normalized name, version) of a purl, or why it cannot be used."""
    if len(value) > MAX_PURL_CHARS:
        return _Bad(MALFORMED_PURL, f"a purl is at most {MAX_PURL_CHARS} characters")
    try:
        purl = PackageURL.from_string(value)
    except ValueError as err:
        return _Bad(MALFORMED_PURL, str(err))
    version = purl.version or None
    if version is not None and len(version) > MAX_VERSION_CHARS:
        return _Bad(MALFORMED_PURL, f"a version is at most {MAX_VERSION_CHARS} characters")
    namespace = purl.namespace or None
    if purl.type not in ecosystems.KEYS:
        return (purl.type, f"{namespace}/{purl.name}" if namespace else purl.name, version)
    if purl.type == "npm" and namespace and not namespace.startswith("@"):
        namespace = f"@{namespace}"
    try:
        name = names.normalize(purl.type, f"{namespace}/{purl.name}" if namespace else purl.name)
    except errors.InvalidName as err:
        return _Bad(INVALID_NAME, err.message)
    return (purl.type, name, version)


def merge(entries: Iterable[Entry]) -> tuple[Entry, ...]:
    """One entry per (ecosystem, name, version), sorted.

    Duplicates of the same package and version combine: direct if any says direct, the kind
    that ranks first in KIND_RANK (runtime beats dev), and the requirement of a direct entry
    before that of an indirect one. An entry without a version folds into the only versioned
    entry of the same package when there is exactly one; otherwise it stays on its own.
    """
    entries = list(entries)
    if all(entry.version is not None for entry in entries):
        # The usual report: every entry versioned and none twice, so nothing to combine. Joined
        # with NUL, the keys sort as the (ecosystem, name, version) tuples do, at string speed.
        keys = [f"{entry.ecosystem}\0{entry.name}\0{entry.version}" for entry in entries]
        unique = dict(zip(keys, entries))
        if len(unique) == len(entries):
            return tuple([unique[key] for key in sorted(keys)])
    by_key: dict[tuple[str, str, str | None], Entry] = {}
    for entry in entries:
        key = (entry.ecosystem, entry.name, entry.version)
        known = by_key.get(key)
        by_key[key] = entry if known is None else _combine(known, entry)
    versions: dict[tuple[str, str], list[tuple[str, str, str | None]]] = {}
    for key in by_key:
        if key[2] is not None:
            versions.setdefault(key[:2], []).append(key)
    for key in [key for key in by_key if key[2] is None]:
        siblings = versions.get(key[:2], [])
        if len(siblings) == 1:
            versionless = by_key.pop(key)
            by_key[siblings[0]] = _combine(by_key[siblings[0]], versionless)
    return tuple(sorted(by_key.values(), key=lambda e: (e.ecosystem, e.name, e.version is not None, e.version or "")))


def _combine(first: Entry, second: Entry) -> Entry:
    if second.direct and not first.direct:
        first, second = second, first
    kind = min(first.kind, second.kind, key=KIND_RANK.__getitem__)
    return Entry(
        ecosystem=first.ecosystem,
        name=first.name,
        # Equal for duplicates; when a versionless entry folds in, the sibling's version.
        version=first.version if first.version is not None else second.version,
        requirement=first.requirement if first.requirement is not None else second.requirement,
        kind=kind,
        direct=first.direct or second.direct,
    )


class Collector:
    """Gathers a format's entries into a Report: counts, parses, rejects, merges."""

    def __init__(self, *, max_dependencies: int) -> None:
        self.max_dependencies = max_dependencies
        self.entries: list[Entry] = []
        self.patterns: set[Pattern] = set()
        self.rejects: list[Reject] = []
        self.rejected = 0
        self.seen = 0

    def expect(self, count: int) -> None:
        """Refuse a report whose entry list alone is over the cap, before reading any entry."""
        if count > self.max_dependencies:
            raise ReportRejected(
                f"the report has {count} dependency entries; at most {self.max_dependencies} are accepted",
                reason=TOO_MANY_DEPENDENCIES,
            )

    def count(self) -> int:
        """Count one more entry (raising past the cap) and return its index."""
        self.seen += 1
        self.expect(self.seen)
        return self.seen - 1

    def reject(self, *, index: int, reason: str, detail: str, raw: bytes | msgspec.Raw | str) -> None:
        self.rejected += 1
        if len(self.rejects) < MAX_REJECTS_KEPT:
            self.rejects.append(Reject(index=index, reason=reason, detail=detail, excerpt=excerpt(raw)))

    def add(
        self,
        *,
        index: int,
        raw: bytes | msgspec.Raw | str,
        purl: str | None,
        version: str | None = None,
        requirement: str | None = None,
        kind: Kind = "runtime",
        direct: bool = True,
    ) -> None:
        """Add one entry; `version` is used when the purl carries none."""
        if purl is None:
            self.reject(index=index, reason=MISSING_PURL, detail="the entry has no package URL", raw=raw)
            return
        parsed = parse_purl(purl)
        if isinstance(parsed, _Bad):
            self.reject(index=index, reason=parsed.reason, detail=parsed.detail, raw=raw)
            return
        ecosystem, name, purl_version = parsed
        if purl_version is None and version is not None and len(version) <= MAX_VERSION_CHARS:
            purl_version = version
        self.entries.append(
            Entry(
                ecosystem=ecosystem,
                name=name,
                version=purl_version,
                requirement=requirement,
                kind=kind,
                direct=direct,
            )
        )

    def add_all(self, entries: Sequence[tuple[str, str | None, Kind, bool]]) -> bool:
        """Add (purl, requirement, kind, direct) entries at once when every purl reads; False, with
        nothing added, when one does not (the caller then adds them one by one, rejecting that one)."""
        self.expect(self.seen + len(entries))
        parsed = [parse_purl(purl) for purl, _, _, _ in entries]
        if any(type(found) is _Bad for found in parsed):
            return False
        self.seen += len(entries)
        self.entries += [
            Entry(ecosystem=found[0], name=found[1], version=found[2], requirement=requirement, kind=kind, direct=direct)
            for found, (_, requirement, kind, direct) in zip(parsed, entries)
        ]
        return True

    def add_pattern(self, *, kind: str, name: str) -> None:
        self.patterns.add(Pattern(kind=kind.strip().lower(), name=name.strip().lower()))

    def report(self, *, format: Format, project: object, override: str | None) -> Report:
        return Report(
            format=format,
            project=check_project(override if override is not None else project),
            dependencies=merge(self.entries),
            patterns=tuple(sorted(self.patterns)),
            rejects=tuple(self.rejects),
            rejected=self.rejected,
        )
