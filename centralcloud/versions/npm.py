"""npm's version semantics: what node-semver 7 (the `semver` package npm itself uses) does.

Why no library: none on PyPI does exactly this. Run through the differential
test's cases, the `node-semver` port (0.9.1, a port of an older node-semver)
answers False instead of failing for ranges semver 7 rejects, so garbage reads as
"no match", and it still differs on build metadata inside ranges and on a `*`
set next to others; `semantic_version`'s NpmSpec rejects or misreads about a
third of the valid ranges (hyphen ranges with `*` or `v`, `^ 1.0`, `^x`). So this
module reproduces semver 7's range grammar and its desugaring into comparator
sets, and tests/test_versions_npm.py checks it against the real package under node.

A range is `||`-separated sets; a set is whitespace-separated comparators, all of
which must hold. Each comparator spelling (`^`, `~`, x-ranges, partials, hyphen
ranges) is rewritten into plain `<op><version>` comparators the way node-semver
rewrites them, because several of its answers (`<=1.2` meaning `<1.3.0-0`,
`^0.0.3` meaning `<0.0.4-0`, `>1` meaning `>=2.0.0`) only fall out of that
rewriting.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from centralcloud.versions import _base, _semver

# node-semver refuses longer versions and components beyond JavaScript's exact integers.
_MAX_LENGTH = 256
_MAX_SAFE_INTEGER = 2**53 - 1

# What JavaScript's `\s` and String.prototype.trim() treat as whitespace.
_JS_SPACE = "\t\n\v\f\r \u00a0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff" + "".join(
    chr(code) for code in range(0x2000, 0x200B)
)
_JS_SPACE_RUN = re.compile("[" + re.escape(_JS_SPACE) + "]+")

# The SemVer 2.0 grammar pieces, strict form (no leading zeros in numbers).
_NUM = r"(?:0|[1-9][0-9]*)"
_NONNUM = r"[0-9]*[A-Za-z-][0-9A-Za-z-]*"
# A non-numeric identifier is tried first: "0a" must not stop after "0".
_PRE_IDS = rf"(?:{_NONNUM}|{_NUM})(?:\.(?:{_NONNUM}|{_NUM}))*"
_BUILD_IDS = r"[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*"
_LOOSE_PRE_IDS = rf"(?:{_NONNUM}|[0-9]+)(?:\.(?:{_NONNUM}|[0-9]+))*"
_XID = rf"(?:{_NUM}|x|X|\*)"

_FULL = re.compile(
    rf"v?(?P<major>{_NUM})\.(?P<minor>{_NUM})\.(?P<patch>{_NUM})"
    rf"(?:-(?P<pre>{_PRE_IDS}))?(?:\+(?P<build>{_BUILD_IDS}))?",
    re.ASCII,
)
_COMPARATOR = re.compile(
    rf"(?P<op>[<>]?=?)\s?(?P<version>v?{_NUM}\.{_NUM}\.{_NUM}(?:-{_PRE_IDS})?(?:\+{_BUILD_IDS})?)",
    re.ASCII,
)


def _xrange_plain(name: str) -> str:
    """A version that may be partial or hold x/X/* wildcards, after any `v`/`=` prefix."""
    return (
        rf"(?P<{name}>[v=\s]*(?P<{name}_major>{_XID})"
        rf"(?:\.(?P<{name}_minor>{_XID})"
        rf"(?:\.(?P<{name}_patch>{_XID})(?:-(?P<{name}_pre>{_PRE_IDS}))?(?:\+{_BUILD_IDS})?)?)?)"
    )


_XRANGE_ANONYMOUS = re.sub(r"\?P<[a-z_]+>", "?:", _xrange_plain("x"))
_LOOSE_PLAIN = (
    rf"[v=\s]*[0-9]+\.[0-9]+\.[0-9]+(?:-?{_LOOSE_PRE_IDS})?(?:\+{_BUILD_IDS})?"
)

# Below, whitespace around operators is one optional character (`\s?`), never a
# run: node-semver collapses whitespace first and runs its patterns with `\s*`
# capped at one character, so the double space that stripping build metadata
# can leave behind (`> +b x`) splits a comparator instead of being absorbed.
_BUILD_ANYWHERE = re.compile(rf"\+{_BUILD_IDS}", re.ASCII)
_HYPHEN = re.compile(rf"\s?{_xrange_plain('low')}\s-\s{_xrange_plain('high')}\s?", re.ASCII)
# "> 1.2.3" becomes ">1.2.3"; the version alternatives only mark where one ends.
_OPERATOR_GAP = re.compile(
    rf"(?P<lead>\s?)(?P<op>[<>]?=?)\s?(?P<version>{_LOOSE_PLAIN}|{_XRANGE_ANONYMOUS})", re.ASCII
)
_TILDE_GAP = re.compile(r"(\s?)~>?\s", re.ASCII)
_CARET_GAP = re.compile(r"(\s?)\^\s", re.ASCII)
_CARET = re.compile(rf"\^{_xrange_plain('v')}", re.ASCII)
_TILDE = re.compile(rf"~>?{_xrange_plain('v')}", re.ASCII)
_XRANGE = re.compile(rf"(?P<op>[<>]?=?)\s?{_xrange_plain('v')}", re.ASCII)
_STAR = re.compile(r"[<>]?=?\s?\*", re.ASCII)
_GTE_ZERO = re.compile(r"\s?>=\s?0\.0\.0\s?", re.ASCII)
_GTE_ZERO_PRE = re.compile(r"\s?>=\s?0\.0\.0-0\s?", re.ASCII)

# A comparator is (operator, version); version None is node-semver's ANY ("" or "*").
Comparator = tuple[str, _semver.SemVer | None]
_ANY: Comparator = ("", None)


def parse_version(text: str) -> _semver.SemVer | None:
    """Parse what node-semver's `new SemVer(text)` accepts (strict mode), else None."""
    if len(text) > _MAX_LENGTH:
        return None
    match = _FULL.fullmatch(text.strip(_JS_SPACE))
    if match is None:
        return None
    numbers = (int(match["major"]), int(match["minor"]), int(match["patch"]))
    if any(number > _MAX_SAFE_INTEGER for number in numbers):
        return None
    return _semver.SemVer(
        *numbers,
        prerelease=_semver.split_identifiers(match["pre"]) if match["pre"] else (),
        build=tuple(match["build"].split(".")) if match["build"] else (),
    )


def _is_x(part: str | None) -> bool:
    return not part or part in ("x", "X", "*")


def _hyphen(match: re.Match[str], include_prerelease: bool) -> str:
    """`A - B` as a pair of comparators; partial ends widen to cover the whole partial."""
    zero = "-0" if include_prerelease else ""
    major, minor, patch = match["low_major"], match["low_minor"], match["low_patch"]
    if _is_x(major):
        low = ""
    elif _is_x(minor):
        low = f">={major}.0.0{zero}"
    elif _is_x(patch):
        low = f">={major}.{minor}.0{zero}"
    elif match["low_pre"]:
        low = f">={match['low']}"
    else:
        low = f">={match['low']}{zero}"
    major, minor, patch = match["high_major"], match["high_minor"], match["high_patch"]
    if _is_x(major):
        high = ""
    elif _is_x(minor):
        high = f"<{int(major) + 1}.0.0-0"
    elif _is_x(patch):
        high = f"<{major}.{int(minor) + 1}.0-0"
    elif match["high_pre"]:
        high = f"<={major}.{minor}.{patch}-{match['high_pre']}"
    elif include_prerelease:
        high = f"<{major}.{minor}.{int(patch) + 1}-0"
    else:
        high = f"<={match['high']}"
    return f"{low} {high}".strip()


def _caret(token: str, include_prerelease: bool) -> str:
    """`^X`: changes that do not modify the left-most non-zero part."""
    match = _CARET.fullmatch(token)
    if match is None:
        return token
    zero = "-0" if include_prerelease else ""
    major, minor, patch, pre = match["v_major"], match["v_minor"], match["v_patch"], match["v_pre"]
    if _is_x(major):
        return ""
    if _is_x(minor):
        return f">={major}.0.0{zero} <{int(major) + 1}.0.0-0"
    if _is_x(patch):
        if major == "0":
            return f">={major}.{minor}.0{zero} <{major}.{int(minor) + 1}.0-0"
        return f">={major}.{minor}.0{zero} <{int(major) + 1}.0.0-0"
    # A full version keeps its own lower bound even with includePrerelease, so
    # `^1.2.3` goes on excluding 1.2.3-beta; only partials widen to `-0`.
    low = f">={major}.{minor}.{patch}-{pre}" if pre else f">={major}.{minor}.{patch}"
    if major != "0":
        return f"{low} <{int(major) + 1}.0.0-0"
    if minor == "0":
        return f"{low} <{major}.{minor}.{int(patch) + 1}-0"
    return f"{low} <{major}.{int(minor) + 1}.0-0"


def _tilde(token: str, include_prerelease: bool) -> str:
    """`~X`: patch-level changes when a minor is given, minor-level when not."""
    match = _TILDE.fullmatch(token)
    if match is None:
        return token
    zero = "-0" if include_prerelease else ""
    major, minor, patch, pre = match["v_major"], match["v_minor"], match["v_patch"], match["v_pre"]
    if _is_x(major):
        return ""
    if _is_x(minor):
        return f">={major}.0.0{zero} <{int(major) + 1}.0.0-0"
    if _is_x(patch):
        return f">={major}.{minor}.0{zero} <{major}.{int(minor) + 1}.0-0"
    low = f">={major}.{minor}.{patch}-{pre}" if pre else f">={major}.{minor}.{patch}"
    return f"{low} <{major}.{int(minor) + 1}.0-0"


def _xrange(token: str, include_prerelease: bool) -> str:
    """Partial and wildcard versions, with or without an operator (`1.x`, `>=1.2`, `<=2`)."""
    token = token.strip(" ")
    match = _XRANGE.fullmatch(token)
    if match is None:
        return token
    op, major, minor, patch = match["op"], match["v_major"], match["v_minor"], match["v_patch"]
    # A wildcard followed by a number (`*.1`, `1.x.3`) is left for the comparator
    # parser to reject, as node-semver does.
    if (_is_x(major) and not _is_x(minor)) or (_is_x(minor) and patch and not _is_x(patch)):
        return token
    x_major = _is_x(major)
    x_minor = x_major or _is_x(minor)
    x_patch = x_minor or _is_x(patch)
    if op == "=" and x_patch:
        op = ""
    suffix = "-0" if include_prerelease else ""
    if x_major:
        # Every version is above `*` and none is below it.
        return "<0.0.0-0" if op in (">", "<") else "*"
    if op and x_patch:
        minor_number = 0 if x_minor else int(minor)
        major_number = int(major)
        if op == ">":
            # >1 means >=2.0.0 and >1.2 means >=1.3.0: above every 1.x / 1.2.x.
            op = ">="
            if x_minor:
                major_number, minor_number = major_number + 1, 0
            else:
                minor_number += 1
        elif op == "<=":
            # <=1.2 means <1.3.0-0: every 1.2.x is allowed.
            op = "<"
            if x_minor:
                major_number += 1
            else:
                minor_number += 1
        if op == "<":
            suffix = "-0"
        return f"{op}{major_number}.{minor_number}.0{suffix}"
    if x_minor:
        return f">={major}.0.0{suffix} <{int(major) + 1}.0.0-0"
    if x_patch:
        return f">={major}.{minor}.0{suffix} <{major}.{int(minor) + 1}.0-0"
    return token


def _each_word(text: str, rewrite: Callable[[str, bool], str], include_prerelease: bool) -> str:
    return " ".join(rewrite(word, include_prerelease) for word in text.strip(" ").split(" "))


def _comparator(text: str) -> Comparator:
    if text == "":
        return _ANY
    match = _COMPARATOR.fullmatch(text)
    if match is None:
        raise ValueError(f"invalid comparator {text!r}")
    version = parse_version(match["version"])
    if version is None:
        raise ValueError(f"invalid version in comparator {text!r}")
    # "=1.2.3" and "1.2.3" are the same exact-match comparator.
    return ("" if match["op"] == "=" else match["op"], version)


def _comparator_set(text: str, include_prerelease: bool) -> tuple[Comparator, ...]:
    """One `||`-alternative: rewrite every spelling into plain comparators and parse them."""
    text = _BUILD_ANYWHERE.sub("", text)
    hyphen = _HYPHEN.fullmatch(text)
    if hyphen is not None:
        text = _hyphen(hyphen, include_prerelease)
    text = _OPERATOR_GAP.sub(r"\g<lead>\g<op>\g<version>", text)
    text = _TILDE_GAP.sub(r"\1~", text)
    text = _CARET_GAP.sub(r"\1^", text)
    words: list[str] = []
    for token in text.split(" "):
        rewritten = _caret(token, include_prerelease)
        rewritten = _each_word(rewritten, _tilde, include_prerelease)
        rewritten = _each_word(rewritten, _xrange, include_prerelease)
        # A `*` that survived (as in `1.2.3*` or a lone `*`) just drops out.
        rewritten = _STAR.sub("", rewritten.strip(" "), count=1)
        words.append(rewritten)
    anything = _GTE_ZERO_PRE if include_prerelease else _GTE_ZERO
    comparators = []
    for word in re.split(" +", " ".join(words)):
        comparators.append(_comparator("" if anything.fullmatch(word) else word))
    # ANY is dropped when anything else constrains the set; duplicates are harmless.
    constraining = tuple(dict.fromkeys(c for c in comparators if c != _ANY))
    return constraining or (_ANY,)


def _test_comparator(comparator: Comparator, version: _semver.SemVer) -> bool:
    op, bound = comparator
    if bound is None:
        return True
    left, right = version.key, bound.key
    if op == "":
        return left == right
    if op == ">":
        return left > right
    if op == ">=":
        return left >= right
    if op == "<":
        return left < right
    return left <= right


def _test_set(comparators: tuple[Comparator, ...], version: _semver.SemVer, include_prerelease: bool) -> bool:
    if not all(_test_comparator(comparator, version) for comparator in comparators):
        return False
    if not version.prerelease or include_prerelease:
        return True
    # node-semver's rule: a pre-release only gets in through a set that names a
    # pre-release of the same major.minor.patch, so `^1.2.3-beta.1` admits
    # 1.2.3-beta.2 but never 1.3.0-alpha.
    return any(
        bound is not None and bound.prerelease and bound.release == version.release
        for _, bound in comparators
    )


@functools.lru_cache(maxsize=65536)
def _parse_cleaned(version: str) -> _semver.SemVer | None:
    # Cached: answers parse the same few thousand version strings over and over, and SemVer is frozen.
    return parse_version(re.sub(r"^[=v]+", "", version.strip(_JS_SPACE)))


class NpmScheme(_base.Scheme):
    """npm: SemVer 2.0 versions and node-semver 7 ranges."""

    ecosystem = "npm"

    def parse(self, version: str) -> _semver.SemVer:
        """Parse a version the way `semver.clean` does: trimmed, leading `v`/`=` dropped."""
        if not isinstance(version, str):
            raise self._invalid_version(version, "not a string")
        parsed = _parse_cleaned(version)
        if parsed is None:
            raise self._invalid_version(version)
        return parsed

    def key(self, version: str) -> tuple[Any, ...]:
        return self.parse(version).key

    def is_prerelease(self, version: str) -> bool:
        return bool(self.parse(version).prerelease)

    def _compile(self, requirement: str, include_prerelease: bool) -> tuple[tuple[Comparator, ...], ...]:
        raw = _JS_SPACE_RUN.sub(" ", requirement.strip(_JS_SPACE))
        try:
            sets = [_comparator_set(part.strip(" "), include_prerelease) for part in raw.split("||")]
        except ValueError as err:
            raise self._invalid_requirement(requirement, str(err)) from err
        # node-semver collapses a range with an unconstrained set to just that set;
        # this matters for pre-releases, which `*` never admits.
        if any(comparators == (_ANY,) for comparators in sets):
            return ((_ANY,),)
        return tuple(sets)

    def _matches(
        self,
        version: str,
        parsed: _semver.SemVer,
        matcher: tuple[tuple[Comparator, ...], ...],
        include_prerelease: bool,
    ) -> bool:
        return any(_test_set(comparators, parsed, include_prerelease) for comparators in matcher)
