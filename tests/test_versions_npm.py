"""npm version semantics, checked against the real node-semver running under node.

The differential test installs `semver@7` (the package npm itself uses) into a
temporary directory once per session, sends every generated case to a single
node process, and requires our answers to equal node's for each one. Without
node or npm, or when the install fails, it is skipped with the reason; the
small table at the bottom still runs.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import shutil
import subprocess

import pytest

from centralcloud import versions

NPM = versions.scheme("npm")

# Reads {"pairs", "versions", "compare", "max"} on stdin, answers with node-semver's verdicts.
_NODE_SCRIPT = r"""
const semver = require(process.env.SEMVER_PATH);
let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  const job = JSON.parse(input);
  const result = {
    pairs: job.pairs.map(([version, range]) => [
      semver.validRange(range) === null ? "invalid range" : semver.satisfies(version, range),
      semver.validRange(range, { includePrerelease: true }) === null
        ? "invalid range"
        : semver.satisfies(version, range, { includePrerelease: true }),
    ]),
    versions: job.versions.map((version) => semver.clean(version) !== null),
    compare: job.compare.map(([left, right]) => semver.compare(left, right)),
    max: job.max.map(([candidates, range]) => semver.maxSatisfying(candidates, range)),
    version: require(process.env.SEMVER_PATH + "/package.json").version,
  };
  process.stdout.write(JSON.stringify(result));
});
"""

# Cases picked by hand for the corners of node-semver's grammar; the generator adds the bulk.
TRICKY_PAIRS = [
    # hyphen ranges, with partial ends widening to the whole partial
    ("1.2.3", "1.2.3 - 2.3.4"),
    ("2.3.4", "1.2.3 - 2.3.4"),
    ("2.3.5", "1.2.3 - 2.3.4"),
    ("1.2.0", "1.2 - 2.3.4"),
    ("1.1.9", "1.2 - 2.3.4"),
    ("2.3.9", "1.2.3 - 2.3"),
    ("2.4.0", "1.2.3 - 2.3"),
    ("2.9.9", "1.2.3 - 2"),
    ("3.0.0", "1.2.3 - 2"),
    ("1.0.0-beta", "1.0.0-alpha - 1.0.0"),
    ("1.0.0-beta", "1.0.0 - 1.0.0-rc.1"),
    ("1.2.3", "1.2.3 - *"),
    ("1.2.3", "* - 1.2.3"),
    ("1.2.3", "v1.2.3 - v2"),
    ("1.2.3", "=1.2.3 - 2"),
    ("1.2.3", "1.2.3 -2"),
    # caret keeps the left-most non-zero part
    ("0.2.5", "^0.2.3"),
    ("0.3.0", "^0.2.3"),
    ("0.0.3", "^0.0.3"),
    ("0.0.4", "^0.0.3"),
    ("0.0.9", "^0.0"),
    ("0.1.0", "^0.0"),
    ("0.9.9", "^0"),
    ("1.0.0", "^0"),
    ("1.2.3-beta.4", "^1.2.3-beta.2"),
    ("1.2.4-beta.4", "^1.2.3-beta.2"),
    ("1.3.0-alpha", "^1.2.3"),
    ("1.2.3-alpha", "^1.2.3"),
    ("0.0.3-alpha", "^0.0.3"),
    ("1.0.0", "^x"),
    ("1.0.0", "^ 1.0"),
    # tilde
    ("1.2.9", "~1.2.3"),
    ("1.3.0", "~1.2"),
    ("1.9.9", "~1"),
    ("2.0.0", "~1"),
    ("1.2.5", "~> 1.2.3"),
    ("1.2.5", "~>1.2.3"),
    ("0.1.5", "~0.1"),
    ("1.0.0", "~*"),
    ("1.2.3", "~v1.2"),
    # x-ranges with operators
    ("2.0.0", ">1"),
    ("1.9.9", ">1"),
    ("1.3.0", ">1.2"),
    ("1.2.9", "<=1.2"),
    ("1.3.0", "<=1.2"),
    ("1.3.0-0", "<=1.2"),
    ("0.0.0", "<1"),
    ("1.0.0-0", "<1"),
    ("1.2.3", ">*"),
    ("1.2.3", "<*"),
    ("1.2.3", ">=*"),
    ("1.2.3", "=*"),
    ("1.0.0", "X.X.X"),
    ("1.2.3", "*.1"),
    ("1.2.3", "1.x.3"),
    ("1.2.3", "1.2.3*"),
    # any, empty, and the collapse of a range holding `*`
    ("1.0.0", ""),
    ("1.0.0-beta", ""),
    ("1.0.0-beta", "*"),
    ("1.0.0-rc.1", "* || 1.0.0-rc.1"),
    ("1.0.0-rc.1", "1.0.0-rc.1 || >2"),
    ("1.0.0", "1.2.3 ||"),
    ("1.0.0", "||"),
    ("1.0.0", ">=0.0.0"),
    ("0.0.0-0", ">=0.0.0"),
    ("0.0.0-0", ">=0.0.0-0"),
    # build metadata, prefixes and spacing
    ("1.2.3", "1.2.3+build"),
    ("1.2.3+build", "1.2.3"),
    ("1.2.3", "=1.2.3"),
    ("1.2.3", "v1.2.3"),
    ("1.2.3", "= 1.2.3"),
    ("1.2.3", ">= 1.2.3"),
    ("1.2.3", ">=   1.2.3   <   2"),
    ("1.2.3", "  ^  1.2  "),
    ("1.2.3", ">=1.2.3\t<2"),
    ("1.2.3", "> =1.2.3"),
    ("1.2.3", ">==1.2.3"),
    ("1.2.3", "^=1.2"),
    ("v1.2.3", "1.2.3"),
    (" 1.2.3 ", "1.2.3"),
    # pre-release matching
    ("1.2.3-alpha", "<1.2.3"),
    ("1.2.3-alpha", "<1.2.3-beta"),
    ("1.2.3-beta", ">1.2.3-alpha <1.2.4"),
    ("1.2.4-beta", ">1.2.3-alpha <1.2.4"),
    ("1.2.3-alpha.10", ">1.2.3-alpha.9"),
    ("1.2.3-alpha.beta", ">1.2.3-alpha.1"),
    ("1.2.3-1", "<1.2.3-alpha"),
    ("2.0.0-0", "<2"),
    ("1.2.3-pre", "1.2.3-pre - 1.2.3"),
    # contradictions and invalid ranges
    ("1.2.3", ">=1.2.3 <1.2.3"),
    ("1.2.3", ">1.2.3 || <1.2.3"),
    ("1.2.3", "^1.2.3 ^1.2.3"),
    ("1.2.3", "blerg"),
    ("1.2.3", ">"),
    ("1.2.3", "1.2.3 -"),
    ("1.2.3", "01.2.3"),
    ("1.2.3", "^01.2"),
    ("1.2.3", "1.2.3-01"),
    ("1.2.3", "1.2.3 - 2.0.0 || <"),
    ("1.2.3", ">= =1.2.3"),
    ("1.2.3", "~^1.2"),
    ("1.2.3", "1.2.3.4"),
]

# Release triples near the usual bounds, and the pre-release tags the cases use.
_NUMBERS = (0, 1, 2, 3, 10)
_TAGS = ("0", "1", "alpha", "alpha.1", "alpha.beta", "beta", "beta.2", "beta.11", "rc.1", "0a", "x-y.7")


def _triple(rng: random.Random) -> tuple[int, int, int]:
    return (rng.choice(_NUMBERS), rng.choice(_NUMBERS), rng.choice(_NUMBERS))


def _version(rng: random.Random, triple: tuple[int, int, int] | None = None) -> str:
    major, minor, patch = triple or _triple(rng)
    text = f"{major}.{minor}.{patch}"
    if rng.random() < 0.35:
        text += "-" + rng.choice(_TAGS)
    if rng.random() < 0.1:
        text += "+build." + str(rng.randrange(100))
    return text


def _operand(rng: random.Random) -> str:
    """A full, partial or wildcard version as it may appear in a range."""
    major, minor, patch = (str(number) for number in _triple(rng))
    wildcard = rng.choice(("x", "X", "*"))
    shape = rng.randrange(9)
    if shape == 0:
        return major
    if shape == 1:
        return f"{major}.{minor}"
    if shape == 2:
        return f"{major}.{wildcard}"
    if shape == 3:
        return f"{major}.{minor}.{wildcard}"
    if shape == 4:
        return f"{major}.{minor}.{patch}-{rng.choice(_TAGS)}"
    if shape == 5 and rng.random() < 0.3:
        return wildcard
    prefix = rng.choice(("", "", "", "v", "="))
    return f"{prefix}{major}.{minor}.{patch}"


def _comparator(rng: random.Random) -> str:
    form = rng.randrange(8)
    if form == 0:
        return "^" + _operand(rng)
    if form == 1:
        return rng.choice(("~", "~>", "~ ")) + _operand(rng)
    if form in (2, 3):
        gap = rng.choice(("", "", " "))
        return rng.choice(("<", "<=", ">", ">=", "=")) + gap + _operand(rng)
    return _operand(rng)


def _comparator_set(rng: random.Random) -> str:
    shape = rng.randrange(6)
    if shape == 0:
        return f"{_operand(rng)} - {_operand(rng)}"
    return " ".join(_comparator(rng) for _ in range(1 if shape < 3 else rng.randint(2, 3)))


def _range(rng: random.Random) -> str:
    if rng.random() < 0.04:
        return rng.choice(("", "*", "x", ">=0.0.0"))
    return " || ".join(_comparator_set(rng) for _ in range(1 if rng.random() < 0.7 else rng.randint(2, 3)))


# Range fragments glued at random: mostly nonsense, which both sides must reject alike.
_FRAGMENTS = (
    "1", "2", "0", "10", ".", ".", "x", "*", "-", " ", "  ",
    "^", "~", ">", "<", "=", "v", "||", "+b.1", "-alpha", "\t",
)


def _fuzz_range(rng: random.Random) -> str:
    return "".join(rng.choice(_FRAGMENTS) for _ in range(rng.randint(2, 12)))


def _near(rng: random.Random, requirement: str) -> list[str]:
    """Versions around each number the range mentions: on, just below and just above its bounds."""
    triples = [
        tuple(int(part or 0) for part in match.groups())
        for match in re.finditer(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?", requirement)
    ]
    releases, prereleases = set(), set()
    for major, minor, patch in triples or [_triple(rng)]:
        for triple in (
            (major, minor, patch),
            (major, minor, patch + 1),
            (major, minor + 1, 0),
            (major + 1, 0, 0),
            (major, minor, max(patch - 1, 0)),
            (max(major - 1, 0), 9, 9),
        ):
            releases.add("%d.%d.%d" % triple)
            prereleases.add("%d.%d.%d-%s" % (*triple, rng.choice(_TAGS)))
    return rng.sample(sorted(releases), k=min(4, len(releases))) + rng.sample(
        sorted(prereleases), k=min(2, len(prereleases))
    )


def generate_cases(seed: int = 20240601) -> dict[str, list]:
    """Deterministic cases: tricky pairs, generated (version, range) pairs, orderings, max picks."""
    rng = random.Random(seed)
    pairs = list(TRICKY_PAIRS)
    ranges = [_range(rng) for _ in range(260)]
    for requirement in ranges:
        pairs.extend((version, requirement) for version in _near(rng, requirement))
        pairs.extend((_version(rng), requirement) for _ in range(2))
    for _ in range(300):
        requirement = _fuzz_range(rng)
        pairs.extend((version, requirement) for version in _near(rng, requirement)[:3])
    pool = sorted({_version(rng) for _ in range(120)})
    compare = [tuple(rng.sample(pool, 2)) for _ in range(250)]
    compare += list(itertools.pairwise(pool))
    validity = pool + [
        "1.2", "1", "01.2.3", "1.02.3", "1.2.3-01", "1.2.3-", "1.2.3+", "1.2.3-a..b", "=1.2.3",
        "v1.2.3", "==v1.2.3", " 1.2.3\t", "1.2.3.4", "a.b.c", "1.2.3-beta_1", "9007199254740992.0.0",
        "1.2.3-0a.1", "1.2.3+001", "", "  ", "v", "1.2.3 4",
    ]
    max_picks = [(rng.sample(pool, 25), requirement) for requirement in ranges[:120]]
    return {"pairs": pairs, "compare": compare, "versions": validity, "max": max_picks}


@pytest.fixture(scope="session")
def node_semver(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Path of an installed semver@7 package; skips when node or npm cannot provide it."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed for the node-semver differential test")
    prefix = tmp_path_factory.mktemp("node-semver")
    try:
        subprocess.run(
            [npm, "install", "--prefix", str(prefix), "--prefer-offline", "--no-audit", "--no-fund", "semver@7"],
            check=True,
            capture_output=True,
            timeout=300,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as err:
        output = getattr(err, "stderr", b"") or b""
        pytest.skip(f"could not install semver@7 with npm: {err}: {output.decode(errors='replace')[-500:]}")
    return str(prefix / "node_modules" / "semver")


@pytest.fixture(scope="session")
def reference(node_semver: str) -> tuple[dict[str, list], dict[str, list]]:
    """The generated cases and node-semver's answers, from one node process."""
    cases = generate_cases()
    completed = subprocess.run(
        [shutil.which("node") or "node", "-e", _NODE_SCRIPT],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={**os.environ, "SEMVER_PATH": node_semver},
    )
    return cases, json.loads(completed.stdout)


def _ours(version: str, requirement: str, include_prerelease: bool) -> bool | str:
    try:
        return NPM.satisfies(version, requirement, include_prerelease=include_prerelease)
    except versions.InvalidRequirement:
        return "invalid range"


def test_satisfies_matches_node_semver(reference: tuple[dict[str, list], dict[str, list]]) -> None:
    cases, answers = reference
    assert len(cases["pairs"]) >= 600
    mismatches = []
    for (version, requirement), expected in zip(cases["pairs"], answers["pairs"], strict=True):
        expected = tuple(expected)
        got = (_ours(version, requirement, False), _ours(version, requirement, True))
        if got != expected:
            mismatches.append(f"{version!r} in {requirement!r}: node {expected}, ours {got}")
    assert not mismatches, (
        f"{len(mismatches)} of {len(cases['pairs'])} pairs differ from node-semver "
        f"{answers['version']}:\n" + "\n".join(mismatches[:60])
    )


def test_ordering_matches_node_semver(reference: tuple[dict[str, list], dict[str, list]]) -> None:
    cases, answers = reference
    assert len(cases["compare"]) >= 200
    mismatches = []
    for (left, right), expected in zip(cases["compare"], answers["compare"], strict=True):
        left_key, right_key = NPM.key(left), NPM.key(right)
        got = (left_key > right_key) - (left_key < right_key)
        if got != expected:
            mismatches.append(f"compare({left!r}, {right!r}): node {expected}, ours {got}")
    assert not mismatches, "\n".join(mismatches[:60])


def test_validity_matches_node_semver_clean(reference: tuple[dict[str, list], dict[str, list]]) -> None:
    cases, answers = reference
    mismatches = [
        f"{version!r}: node {expected}, ours {NPM.is_valid(version)}"
        for version, expected in zip(cases["versions"], answers["versions"], strict=True)
        if NPM.is_valid(version) != expected
    ]
    assert not mismatches, "\n".join(mismatches)


def test_max_satisfying_matches_node_semver(reference: tuple[dict[str, list], dict[str, list]]) -> None:
    cases, answers = reference
    mismatches = []
    for (candidates, requirement), expected in zip(cases["max"], answers["max"], strict=True):
        try:
            got = NPM.max_satisfying(candidates, requirement)
        except versions.InvalidRequirement:
            got = None
        if got != expected:
            mismatches.append(f"max of {candidates} in {requirement!r}: node {expected!r}, ours {got!r}")
    assert not mismatches, "\n".join(mismatches[:30])


def test_generation_is_deterministic() -> None:
    assert generate_cases() == generate_cases()


# Hand-checked answers that hold without node, so the interface is covered everywhere.
@pytest.mark.parametrize(
    ("version", "requirement", "expected"),
    [
        ("1.4.2", "^1.2.0", True),
        ("2.0.0", "^1.2.0", False),
        ("0.2.9", "^0.2.3", True),
        ("0.3.0", "^0.2.3", False),
        ("1.2.9", "~1.2.3", True),
        ("1.3.0", "~1.2.3", False),
        ("2.3.4", "1.2.3 - 2.3.4", True),
        ("2.3.5", "1.2.3 - 2.3.4", False),
        ("2.3.9", "1.2 - 2.3", True),
        ("1.5.0", "1.x || >=2.5.0", True),
        ("2.4.0", "1.x || >=2.5.0", False),
        ("1.0.0-beta", "*", False),
        ("1.2.3-beta.3", ">=1.2.3-beta.2 <2", True),
        ("1.2.4-beta.3", ">=1.2.3-beta.2 <2", False),
        ("3.0.0", "", True),
    ],
)
def test_table(version: str, requirement: str, expected: bool) -> None:
    assert NPM.satisfies(version, requirement) is expected


def test_include_prerelease_and_max_satisfying() -> None:
    assert NPM.satisfies("1.3.0-beta", "^1.2.0", include_prerelease=True)
    assert NPM.max_satisfying(["1.2.0", "1.9.0", "2.0.0", "1.10.0-rc.1", "junk"], "^1.2") == "1.9.0"
    assert NPM.max_satisfying(["1.2.0", "1.10.0-rc.1"], "^1.2", include_prerelease=True) == "1.10.0-rc.1"
    assert NPM.max_satisfying(["3.0.0"], "^1.2") is None


def test_parse_cleans_like_semver_clean() -> None:
    assert str(NPM.parse(" =v1.2.3-beta.1+sha.5 ")) == "1.2.3-beta.1+sha.5"
    assert NPM.sort(["1.10.0", "1.2.0", "1.2.0-rc.1", "1.2.0-alpha.10", "1.2.0-alpha.9"]) == [
        "1.2.0-alpha.9",
        "1.2.0-alpha.10",
        "1.2.0-rc.1",
        "1.2.0",
        "1.10.0",
    ]
    with pytest.raises(versions.InvalidVersion):
        NPM.parse("1.2")
    with pytest.raises(versions.InvalidRequirement):
        NPM.satisfies("1.2.3", ">=1.2.3 <")
