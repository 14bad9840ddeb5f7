"""Hex's version semantics: Elixir's `Version` module as Hex runs it.

Versions are strict SemVer 2.0 as `Version.parse/1` reads them: MAJOR.MINOR.PATCH
all required, no leading zeros, at most 14 digits per number, optional
`-pre` and `+build`, no `v` prefix and no surrounding spaces.

Requirements are `op version` clauses joined by ` and ` / ` or ` (`and` binds
tighter), with the operators `==`, `!=`, `>`, `>=`, `<`, `<=` and `~>`; a bare
version means `==`. Only `~>` accepts a version without its patch part:
`~> 2.0` means `>= 2.0.0 and < 3.0.0-0` and `~> 2.0.0` means `>= 2.0.0 and < 2.1.0-0`,
the `-0` making sure `~>` never admits pre-releases of its upper bound.

Pre-releases follow Elixir's `allow_pre: false`, which is what Hex uses when it
resolves dependencies (Elixir's own default is `true`): a pre-release version
fails a `~>`, `>` or `>=` clause unless that clause's operand is itself a
pre-release (any pre-release, not only one of the same MAJOR.MINOR.PATCH as in
npm and Cargo). `<`, `<=`, `==` and `!=` are not affected and compare by
precedence, so `< 2.0.0` does match 2.0.0-rc.1 and 1.5.0-dev. Passing
`include_prerelease=True` gives Elixir's default, `allow_pre: true`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from centralcloud.versions import _base, _semver

# Elixir refuses numbers with more digits than this (and so do we, to agree on validity).
_MAX_DIGITS = 14
_OPERATORS = (">=", "<=", "~>", ">", "<", "==")
_JOINERS = {" or ": "or", " and ": "and"}
_IDENTIFIER_CHARACTERS = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-")


@dataclasses.dataclass(frozen=True, slots=True)
class Clause:
    """One `op version` clause of a requirement."""

    op: str
    """One of == != > >= < <= ~>."""
    version: _semver.SemVer
    """The operand; for a `~>` written without a patch, its patch is 0 here."""
    has_patch: bool
    """False only for `~> MAJOR.MINOR`, whose upper bound is the next major."""


def _digits(text: str | None) -> int:
    if not text or not (text.isascii() and text.isdigit()):
        raise ValueError(f"expected a number, found {text!r}")
    if len(text) > 1 and text.startswith("0"):
        raise ValueError(f"leading zero in {text!r}")
    if len(text) > _MAX_DIGITS:
        raise ValueError(f"{text!r} has more than {_MAX_DIGITS} digits")
    return int(text)


def _identifiers(text: str) -> list[str]:
    parts = text.split(".")
    if not all(part and set(part) <= _IDENTIFIER_CHARACTERS for part in parts):
        raise ValueError(f"invalid identifiers {text!r}")
    return parts


def _prerelease(text: str | None) -> tuple[_semver.Identifier, ...]:
    if text is None:
        return ()
    identifiers: list[_semver.Identifier] = []
    for part in _identifiers(text):
        identifiers.append(_digits(part) if part.isdigit() else part)
    return tuple(identifiers)


def parse_version(text: str, *, approximate: bool = False) -> tuple[_semver.SemVer, bool]:
    """Parse like Elixir's `Version.Parser.parse_version/2`; raise ValueError.

    With `approximate` (the operand of `~>`) the patch may be left out; the
    second value says whether it was given.
    """
    rest, _, build = text.partition("+")
    core, dash, pre = rest.partition("-")
    parts = core.split(".")
    if len(parts) > 3 or len(parts) < (2 if approximate else 3):
        raise ValueError("expected MAJOR.MINOR.PATCH")
    has_patch = len(parts) == 3
    version = _semver.SemVer(
        _digits(parts[0]),
        _digits(parts[1]),
        _digits(parts[2]) if has_patch else 0,
        prerelease=_prerelease(pre if dash else None),
        build=tuple(_identifiers(build)) if "+" in text else (),
    )
    return version, has_patch


def _lex(text: str) -> list[str | tuple[str]]:
    """Split a requirement into operators, `and`/`or`, and operands (1-tuples).

    A run of operand characters with no operator before it gets an implied `==`,
    as Elixir's lexer does, so "1.0.0" reads as "== 1.0.0" and "1.0 2.0" is two
    operands in a row, which the grammar then rejects.
    """
    tokens: list[str | tuple[str]] = []
    buffer = ""

    def flush() -> None:
        nonlocal buffer
        if buffer:
            if not tokens or tokens[-1] in ("and", "or") or isinstance(tokens[-1], tuple):
                tokens.append("==")
            tokens.append((buffer,))
            buffer = ""

    position = 0
    while position < len(text):
        for spelling in (*_OPERATORS, *_JOINERS, "!=", "!"):
            if text.startswith(spelling, position):
                flush()
                tokens.append(_JOINERS.get(spelling, "!=" if spelling.startswith("!") else spelling))
                position += len(spelling)
                break
        else:
            if text[position] == " ":
                flush()
            else:
                buffer += text[position]
            position += 1
    flush()
    return tokens


def parse_requirement(text: str) -> tuple[tuple[Clause, ...], ...]:
    """Parse a requirement into alternatives (joined by `or`) of clauses (joined by `and`)."""
    tokens = _lex(text)
    alternatives: list[tuple[Clause, ...]] = []
    current: list[Clause] = []
    position = 0
    while True:
        if position + 1 >= len(tokens):
            raise ValueError("expected an operator followed by a version")
        op, operand = tokens[position], tokens[position + 1]
        if not isinstance(op, str) or op in ("and", "or") or not isinstance(operand, tuple):
            raise ValueError("expected an operator followed by a version")
        version, has_patch = parse_version(operand[0], approximate=op == "~>")
        current.append(Clause(op=op, version=version, has_patch=has_patch))
        position += 2
        if position == len(tokens):
            alternatives.append(tuple(current))
            return tuple(alternatives)
        joiner = tokens[position]
        if joiner == "or":
            alternatives.append(tuple(current))
            current = []
        elif joiner != "and":
            raise ValueError("expected 'and' or 'or' between clauses")
        position += 1


def _upper_bound(clause: Clause) -> tuple[Any, ...]:
    # The -0 pre-release keeps `~>` from admitting pre-releases of its bound.
    lowest_pre = _semver.prerelease_key((0,))
    bound = clause.version
    if clause.has_patch:
        return (bound.major, bound.minor + 1, 0, lowest_pre)
    return (bound.major + 1, 0, 0, lowest_pre)


def _test(clause: Clause, version: _semver.SemVer, allow_pre: bool) -> bool:
    ours, theirs = version.key, clause.version.key
    op = clause.op
    if op == "==":
        return ours == theirs
    if op == "!=":
        return ours != theirs
    if op == "<":
        return ours < theirs
    if op == "<=":
        return ours <= theirs
    pre_ok = allow_pre or not version.prerelease or bool(clause.version.prerelease)
    if op == ">":
        return ours > theirs and pre_ok
    if op == ">=":
        return ours >= theirs and pre_ok
    return theirs <= ours < _upper_bound(clause) and pre_ok


class HexScheme(_base.Scheme):
    """Hex: Elixir `Version` versions and requirements, with Hex's `allow_pre: false`."""

    ecosystem = "hex"

    def parse(self, version: str) -> _semver.SemVer:
        if not isinstance(version, str):
            raise self._invalid_version(version, "not a string")
        try:
            return parse_version(version)[0]
        except ValueError as err:
            raise self._invalid_version(version, str(err)) from err

    def key(self, version: str) -> tuple[Any, ...]:
        return self.parse(version).key

    def is_prerelease(self, version: str) -> bool:
        return bool(self.parse(version).prerelease)

    def _compile(self, requirement: str, include_prerelease: bool) -> tuple[tuple[Clause, ...], ...]:
        try:
            return parse_requirement(requirement)
        except ValueError as err:
            raise self._invalid_requirement(requirement, str(err)) from err

    def _matches(
        self,
        version: str,
        parsed: _semver.SemVer,
        matcher: tuple[tuple[Clause, ...], ...],
        include_prerelease: bool,
    ) -> bool:
        return any(
            all(_test(clause, parsed, include_prerelease) for clause in clauses) for clauses in matcher
        )
