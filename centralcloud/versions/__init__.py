"""Version semantics per ecosystem, behind one interface.

    from centralcloud import versions

    npm = versions.scheme("npm")
    npm.satisfies("1.4.2", "^1.2.0")                  # True
    npm.max_satisfying(["1.2.0", "2.0.0"], "~1.2")    # "1.2.0"
    npm.in_osv_range("1.4.2", [{"introduced": "0"}, {"fixed": "1.4.3"}])  # True

Each ecosystem follows its own tool exactly, not a lowest common denominator:
npm follows node-semver 7, Cargo the `semver` crate, Hex Elixir's `Version`
with Hex's pre-release setting, and PyPI PEP 440 through `packaging`. The
modules beside this one document the rules each implements.

Every method takes version and requirement strings. Invalid input raises
`InvalidVersion` / `InvalidRequirement` (both `errors.BadRequest`), never a
quiet False: a version we cannot read is not a version that does not match.
"""

from __future__ import annotations

import importlib

from centralcloud.core import ecosystems, names
from centralcloud.versions import _base

InvalidVersion = _base.InvalidVersion
InvalidRequirement = _base.InvalidRequirement
Scheme = _base.Scheme


def _load(description: ecosystems.Ecosystem) -> Scheme:
    module, _, cls = description.scheme.partition(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)()


# Schemes hold no per-call state (only a requirement cache), so one of each serves everyone.
_SCHEMES: dict[str, Scheme] = {description.key: _load(description) for description in ecosystems.ALL}


def scheme(ecosystem: str) -> Scheme:
    """The version scheme of `ecosystem` ("npm", "pypi", "cargo", "hex" or an alias).

    Raises `errors.UnknownEcosystem` for anything else.
    """
    return _SCHEMES[names.ecosystem(ecosystem)]


__all__ = ["InvalidRequirement", "InvalidVersion", "Scheme", "scheme"]
