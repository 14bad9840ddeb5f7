"""The ecosystems CentralCloud knows: one description each, read by everything else.

Names, version schemes, registry adapters, OSV names and sync politeness all come from
here, so adding an ecosystem means adding one `Ecosystem` below (plus its version scheme
in `centralcloud.versions` and its adapter in `centralcloud.sources`). The database's
CHECK constraints list the same keys; a test keeps them equal.

Scheme and adapter are named by dotted path, not imported: they sit in rooms above this
one and import it themselves.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable


def _lower(name: str) -> str:
    return name.lower()


def _pep503(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _keep(name: str) -> str:
    return name


@dataclasses.dataclass(frozen=True)
class Ecosystem:
    """What one ecosystem is, in every room's terms."""

    key: str
    """Our name for it, which is its purl type (npm, pypi, cargo, hex)."""
    label: str
    """How people write it (npm, PyPI, Cargo, Hex)."""
    osv_name: str
    """Its name in OSV records and queries."""
    aliases: tuple[str, ...]
    """Other spellings accepted on input (crates.io, hex.pm …)."""
    name_pattern: re.Pattern[str]
    """A valid package name, matched in full against the exact input (ASCII only)."""
    name_rule: str
    """The name rule in words, for error messages."""
    max_name_length: int
    """Longest name the registry accepts."""
    normalize: Callable[[str], str]
    """The registry's canonical form of a valid name."""
    scheme: str
    """The version scheme class, as `module:Class` under centralcloud.versions."""
    adapter: str
    """The registry adapter class, as `module:Class` under centralcloud.sources."""
    sync_concurrency: int
    """Packages the sync fetches at once (politeness limits inside adapters apply as well)."""

    def valid_name(self, name: str) -> bool:
        return (
            0 < len(name) <= self.max_name_length
            and name.isascii()
            and self.name_pattern.fullmatch(name) is not None
        )


_NPM_PART = r"[A-Za-z0-9~-][A-Za-z0-9._~-]*"

NPM = Ecosystem(
    key="npm",
    label="npm",
    osv_name="npm",
    aliases=("node",),
    # Legacy names keep capitals (JSONStream) and the registry is case-sensitive, so case is
    # preserved; the character set is the URL-safe one npm's own validator allows, and no
    # part may start with "." or "_".
    name_pattern=re.compile(rf"(?:@{_NPM_PART}/)?{_NPM_PART}"),
    name_rule="URL-safe characters, optionally @scope/name, not starting with . or _",
    max_name_length=214,
    normalize=_keep,
    scheme="npm:NpmScheme",
    adapter="npm:NpmSource",
    sync_concurrency=16,
)

PYPI = Ecosystem(
    key="pypi",
    label="PyPI",
    osv_name="PyPI",
    aliases=(),
    # The core metadata "Name" field (PEP 508), compared in PEP 503 normal form.
    name_pattern=re.compile(r"[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9]"),
    name_rule="ASCII letters, digits, '.', '_' and '-', starting and ending with a letter or digit",
    max_name_length=200,
    normalize=_pep503,
    scheme="pypi:PypiScheme",
    adapter="pypi:PypiSource",
    sync_concurrency=16,
)

CARGO = Ecosystem(
    key="cargo",
    label="Cargo",
    osv_name="crates.io",
    aliases=("crates.io", "crates"),
    name_pattern=re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}"),
    name_rule="ASCII letters, digits, '-' and '_', starting with a letter",
    max_name_length=64,
    normalize=_lower,
    scheme="cargo:CargoScheme",
    adapter="cargo:CargoSource",
    # crates.io asks for one API request a second.
    sync_concurrency=2,
)

HEX = Ecosystem(
    key="hex",
    label="Hex",
    osv_name="Hex",
    aliases=("hex.pm",),
    # Compared lower-cased: a lower-case letter first, then lower-case letters, digits and _.
    name_pattern=re.compile(r"[A-Za-z][A-Za-z0-9_]*"),
    name_rule="a letter, then letters, digits and '_'",
    max_name_length=100,
    normalize=_lower,
    scheme="hexpm:HexScheme",
    adapter="hex:HexSource",
    sync_concurrency=4,
)

ALL: tuple[Ecosystem, ...] = (NPM, CARGO, HEX, PYPI)
"""Every ecosystem, in the order listings use."""

KEYS: tuple[str, ...] = tuple(e.key for e in ALL)

_BY_NAME: dict[str, Ecosystem] = {
    spelling: eco for eco in ALL for spelling in (eco.key, *(alias.lower() for alias in eco.aliases))
}
_BY_OSV: dict[str, Ecosystem] = {eco.osv_name: eco for eco in ALL}


def find(value: str) -> Ecosystem | None:
    """The ecosystem spelled `value` (its key or an alias, any case), or None."""
    return _BY_NAME.get(value.strip().lower())


def get(key: str) -> Ecosystem:
    """The ecosystem whose key is `key`; KeyError for anything else."""
    eco = _BY_NAME.get(key)
    if eco is None or eco.key != key:
        raise KeyError(key)
    return eco


def from_osv(osv_name: str) -> Ecosystem | None:
    """The ecosystem OSV calls `osv_name` (exact, as OSV spells it), or None."""
    return _BY_OSV.get(osv_name)
