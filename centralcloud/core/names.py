"""Package names: validation and normalization per ecosystem, and package URLs.

A name is checked here before any URL is built from it, so nothing like
`../admin` or `a b` ever reaches a registry.
"""

from __future__ import annotations

import functools

import msgspec
from packageurl import PackageURL

from centralcloud.core import ecosystems, errors


class PackageRef(msgspec.Struct, frozen=True):
    """A validated (ecosystem, normalized name) pair, with the version a purl named if any."""

    ecosystem: str
    name: str
    version: str | None = None

    @property
    def purl(self) -> str:
        return to_purl(self.ecosystem, self.name, self.version)


def ecosystem(value: str) -> str:
    """Return the canonical ecosystem name or raise UnknownEcosystem."""
    if not isinstance(value, str):
        raise errors.UnknownEcosystem("ecosystem must be a string")
    found = ecosystems.find(value)
    if found is None:
        raise errors.UnknownEcosystem(
            f"unknown ecosystem {value!r}; expected one of {', '.join(ecosystems.KEYS)}",
            ecosystem=value,
        )
    return found.key


def normalize(ecosystem_name: str, name: str) -> str:
    """Validate `name` in its ecosystem and return its normalized form."""
    if not isinstance(ecosystem_name, str) or not isinstance(name, str):
        raise errors.InvalidName("ecosystem and package name must be strings")
    return _normalize(ecosystem_name, name)


# Cached: a sync maps the name of every dependency of every version it reads.
@functools.lru_cache(maxsize=65536)
def _normalize(ecosystem_name: str, name: str) -> str:
    eco = ecosystems.get(ecosystem(ecosystem_name))
    if not name:
        raise errors.InvalidName("package name must be a non-empty string", ecosystem=eco.key)
    if len(name) > eco.max_name_length:
        raise errors.InvalidName(
            f"{eco.key} package names are at most {eco.max_name_length} characters", ecosystem=eco.key
        )
    # The whole exact input must match: no trailing newline, no characters that only
    # become ASCII after Unicode case folding (the registries allow ASCII names only).
    if not eco.valid_name(name) or (eco.key == "npm" and name.split("/")[-1].startswith((".", "_"))):
        raise errors.InvalidName(
            f"{name!r} is not a valid {eco.label} package name", ecosystem=eco.key, name=name, rule=eco.name_rule
        )
    return eco.normalize(name)


def parse_purl(value: str) -> PackageRef:
    """Parse `pkg:npm/%40scope/name@1.0.0` style package URLs into a validated ref."""
    if not isinstance(value, str):
        raise errors.BadRequest("purl must be a string")
    try:
        purl = PackageURL.from_string(value)
    except ValueError as err:
        raise errors.BadRequest(f"invalid package URL {value!r}: {err}", purl=value) from err
    eco = ecosystem(purl.type)
    raw = f"{purl.namespace}/{purl.name}" if purl.namespace else purl.name
    if eco == "npm" and purl.namespace and not purl.namespace.startswith("@"):
        raw = f"@{purl.namespace}/{purl.name}"
    return PackageRef(ecosystem=eco, name=normalize(eco, raw), version=purl.version or None)


def ref(*, ecosystem_name: str | None, name: str | None, purl: str | None, version: str | None = None) -> PackageRef:
    """Build a ref from either a purl or an ecosystem and name (exactly one of the two forms)."""
    if purl is not None:
        if ecosystem_name is not None or name is not None:
            raise errors.BadRequest("give either purl or ecosystem and name, not both")
        parsed = parse_purl(purl)
        if version is not None:
            parsed = PackageRef(parsed.ecosystem, parsed.name, version)
        return parsed
    if ecosystem_name is None or name is None:
        raise errors.BadRequest("a package is named by purl, or by ecosystem and name")
    eco = ecosystem(ecosystem_name)
    return PackageRef(ecosystem=eco, name=normalize(eco, name), version=version)


def to_purl(ecosystem_name: str, name: str, version: str | None = None) -> str:
    namespace = None
    if ecosystem_name == "npm" and name.startswith("@"):
        namespace, _, name = name.partition("/")
    return PackageURL(type=ecosystem_name, namespace=namespace, name=name, version=version).to_string()
