"""The resolvers on hand-built facts: the Cargo book's and Hex's documented cases, and each rule."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from centralcloud import versions
from centralcloud.core import errors, model
from centralcloud.answers.resolve import cargo, hex, npm, pypi

PUBLISHED = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)


class Memory:
    """A provider over hand-built versions: {name: [Version, ...]}."""

    def __init__(self, ecosystem: str, packages: dict[str, list[model.Version]], *, slow: set[str] = frozenset()) -> None:
        self.ecosystem = ecosystem
        self.packages = packages
        self.slow = slow
        self.asked: list[str] = []

    async def package(self, name: str) -> model.PackageFacts:
        self.asked.append(name)
        if name in self.slow:
            await asyncio.sleep(5)
        if name not in self.packages:
            raise errors.NotFound(f"no {name}")
        return model.PackageFacts(ecosystem=self.ecosystem, name=name, display_name=name, versions=tuple(self.packages[name]))

    async def dependencies(self, name: str, version: model.Version) -> tuple[model.Dependency, ...]:
        return version.dependencies or ()


def V(number: str, *deps: model.Dependency, **kwargs: object) -> model.Version:
    return model.Version(number=number, dependencies=tuple(deps), published_at=PUBLISHED, **kwargs)


def D(ecosystem: str, name: str, requirement: str, **kwargs: object) -> model.Dependency:
    return model.Dependency(name=name, ecosystem=ecosystem, requirement=requirement, **kwargs)


def C(name: str, requirement: str, **kwargs: object) -> model.Dependency:
    return D("cargo", name, requirement, **kwargs)


# ---- cargo: the Cargo book, "Dependency Resolution" and "Features" -----------------


async def test_cargo_book_compatible_requirements_share_the_greatest_version():
    # Package A wants bitflags "1.0", package B "1.1"; the greatest 1.x is 1.2.1, so both use 1.2.1.
    provider = Memory("cargo", {
        "app": [V("0.1.0", C("a", "^1"), C("b", "^1"))],
        "a": [V("1.0.0", C("bitflags", "1.0"))],
        "b": [V("1.0.0", C("bitflags", "1.1"))],
        "bitflags": [V("1.0.0"), V("1.1.0"), V("1.2.1")],
    })  # fmt: skip
    resolution = await cargo.resolve(provider, name="app", requirement="=0.1.0")
    assert resolution.pairs() == {("app", "0.1.0"), ("a", "1.0.0"), ("b", "1.0.0"), ("bitflags", "1.2.1")}


async def test_cargo_book_incompatible_requirements_get_one_version_each():
    # rand "0.7" and "0.6" are different compatibility ranges: two versions, the greatest of each.
    provider = Memory("cargo", {
        "app": [V("0.1.0", C("a", "^1"), C("b", "^1"))],
        "a": [V("1.0.0", C("rand", "0.7"))],
        "b": [V("1.0.0", C("rand", "0.6"))],
        "rand": [V("0.6.1"), V("0.6.5"), V("0.7.0"), V("0.7.3"), V("0.8.5")],
    })  # fmt: skip
    resolution = await cargo.resolve(provider, name="app", requirement="=0.1.0", target="rand")
    assert {version for name, version in resolution.pairs() if name == "rand"} == {"0.7.3", "0.6.5"}
    assert resolution.chains == [["app@0.1.0", "a@1.0.0", "rand@0.7.3"], ["app@0.1.0", "b@1.0.0", "rand@0.6.5"]]


async def test_cargo_book_exact_pins_in_one_range_conflict():
    # log "=0.4.11" and "=0.4.8" are in one compatibility range, and no single version meets both.
    provider = Memory("cargo", {
        "app": [V("0.1.0", C("a", "^1"), C("b", "^1"))],
        "a": [V("1.0.0", C("log", "=0.4.11"))],
        "b": [V("1.0.0", C("log", "=0.4.8"))],
        "log": [V("0.4.8"), V("0.4.11"), V("0.4.14")],
    })  # fmt: skip
    resolution = await cargo.resolve(provider, name="app", requirement="=0.1.0")
    assert ("log", "0.4.11") in resolution.pairs() and ("log", "0.4.8") not in resolution.pairs()
    (conflict,) = resolution.conflicts
    assert conflict.name == "log" and conflict.chosen == "0.4.11"
    assert "=0.4.8 (from b@1.0.0)" in conflict.requirements


async def test_cargo_re_picks_a_range_for_a_later_requirement():
    provider = Memory("cargo", {
        "app": [V("0.1.0", C("a", "^1"), C("b", "^1"))],
        "a": [V("1.0.0", C("serde", "^1.0"))],
        "b": [V("1.0.0", C("serde", ">=1.0.100, <1.0.200"))],
        "serde": [V("1.0.100"), V("1.0.105"), V("1.0.210")],
    })  # fmt: skip
    resolution = await cargo.resolve(provider, name="app", requirement="=0.1.0")
    assert ("serde", "1.0.105") in resolution.pairs() and not resolution.conflicts
    assert len([name for name, _ in resolution.pairs() if name == "serde"]) == 1


def image_crate(*extra: model.Dependency) -> dict[str, list[model.Version]]:
    # The Cargo book's features chapter: default = ["ico", "webp"], ico = ["bmp", "png"], an optional gif
    # with its implicit feature, avif = ["dep:ravif", "dep:rgb"], serde = ["dep:serde", "rgb?/serde"].
    image = V(
        "1.0.0",
        C("gif", "^0.11.1", optional=True),
        C("ravif", "^0.6.3", optional=True),
        C("rgb", "^0.8.25", optional=True),
        C("serde", "^1.0", optional=True),
        C("winapi", "^0.3", condition="cfg(windows)"),
        C("cc", "^1", kind="build"),
        C("criterion", "^0.5", kind="dev"),
        *extra,
        features={
            "default": ("ico", "webp"), "bmp": (), "png": (), "ico": ("bmp", "png"), "webp": (),
            "avif": ("dep:ravif", "dep:rgb"), "serde": ("dep:serde", "rgb?/serde"),
        },
    )  # fmt: skip
    return {
        "image": [image],
        "gif": [V("0.11.4")],
        "ravif": [V("0.6.3")],
        "rgb": [V("0.8.25", C("serde", "^1", optional=True), features={"serde": ("dep:serde",)})],
        "serde": [V("1.0.210")],
        "winapi": [V("0.3.9")],
        "cc": [V("1.1.0")],
        "criterion": [V("0.5.1")],
    }


@pytest.mark.parametrize(
    ("features", "expected"),
    [
        ((), {"winapi", "cc"}),
        (("gif",), {"winapi", "cc", "gif"}),
        (("avif",), {"winapi", "cc", "ravif", "rgb"}),
        # rgb?/serde adds serde to rgb only when something else activates rgb.
        (("serde",), {"winapi", "cc", "serde"}),
        (("serde", "avif"), {"winapi", "cc", "serde", "ravif", "rgb"}),
    ],
)
async def test_cargo_features_activate_optional_dependencies(features, expected):
    provider = Memory("cargo", image_crate())
    resolution = await cargo.resolve(provider, name="image", requirement="^1", features=features)
    assert {name for name, _ in resolution.pairs()} - {"image"} == expected
    edges = {(edge.from_, edge.to) for edge in resolution.edges}
    assert (("rgb@0.8.25", "serde@1.0.210") in edges) == ({"serde", "avif"} <= set(features))


async def test_cargo_marks_target_and_build_dependencies_and_drops_dev():
    resolution = await cargo.resolve(Memory("cargo", image_crate()), name="image", requirement="^1")
    kinds = {node.name: node.kinds for node in resolution.nodes}
    assert kinds["winapi"] == ("runtime", "target") and kinds["cc"] == ("build",)
    assert "criterion" not in kinds


async def test_cargo_prefers_versions_for_the_asked_rust():
    provider = Memory("cargo", {"tokio": [V("1.38.0", requires_runtime="1.63"), V("1.40.0", requires_runtime="1.70")]})
    assert (await cargo.resolve(provider, name="tokio", requirement="^1", rust="1.65")).pairs() == {("tokio", "1.38.0")}
    assert (await cargo.resolve(provider, name="tokio", requirement="^1", rust="1.80")).pairs() == {("tokio", "1.40.0")}
    # Nothing fits an ancient compiler: the newest is taken anyway, as Cargo falls back.
    assert (await cargo.resolve(provider, name="tokio", requirement="^1", rust="1.50")).pairs() == {("tokio", "1.40.0")}


# ---- hex ---------------------------------------------------------------------------


def H(name: str, requirement: str, **kwargs: object) -> model.Dependency:
    return D("hex", name, requirement, **kwargs)


async def test_hex_one_version_meets_every_requirement():
    # Hex's requirement rules: "~> 1.14" is >= 1.14.0 and < 2.0.0, "~> 1.15.0" is >= 1.15.0 and < 1.16.0.
    provider = Memory("hex", {
        "app": [V("1.0.0", H("phoenix", "~> 1.7"), H("plug_cowboy", "~> 2.6"))],
        "phoenix": [V("1.7.14", H("plug", "~> 1.14"), H("jason", "~> 1.0", optional=True))],
        "plug_cowboy": [V("2.6.0", H("plug", "~> 1.15.0"), H("cowboy", "~> 2.7"))],
        "plug": [V("1.14.2"), V("1.15.3"), V("1.16.1")],
        "cowboy": [V("2.12.0", H("ranch", "~> 1.8")), V("3.0.0-rc.1")],
        "ranch": [V("1.8.0"), V("2.1.0")],
        "jason": [V("1.4.4")],
    })  # fmt: skip
    resolution = await hex.resolve(provider, name="app", requirement="== 1.0.0", target="ranch")
    assert resolution.pairs() == {
        ("app", "1.0.0"), ("phoenix", "1.7.14"), ("plug_cowboy", "2.6.0"), ("plug", "1.15.3"), ("cowboy", "2.12.0"),
        ("ranch", "1.8.0"),
    }  # fmt: skip
    assert resolution.chains == [["app@1.0.0", "plug_cowboy@2.6.0", "cowboy@2.12.0", "ranch@1.8.0"]]
    with_optional = await hex.resolve(provider, name="app", requirement="== 1.0.0", include_optional=True)
    assert ("jason", "1.4.4") in with_optional.pairs()


async def test_hex_unmeetable_requirement_is_a_conflict():
    provider = Memory("hex", {
        "app": [V("1.0.0", H("a", "~> 1.0"), H("b", "~> 1.0"))],
        "a": [V("1.0.0", H("plug", "~> 1.14.0"))],
        "b": [V("1.0.0", H("plug", "~> 1.16"))],
        "plug": [V("1.14.2"), V("1.16.1")],
    })  # fmt: skip
    resolution = await hex.resolve(provider, name="app", requirement="~> 1.0")
    (conflict,) = resolution.conflicts
    assert conflict.name == "plug" and conflict.chosen == "1.14.2"


# ---- pypi ----------------------------------------------------------------------------


def P(name: str, requirement: str = "", **kwargs: object) -> model.Dependency:
    return D("pypi", name, requirement, **kwargs)


FLASKISH = {
    "web": [V("1.0", P("click", ">=8"), P("importlib-metadata", ">=3.6", condition='python_version < "3.10"'),
              P("asgiref", ">=3.2", kind="optional", optional=True, condition="extra == async"),
              P("extras-user", ">=1"))],
    "click": [V("8.1.7", requires_runtime=">=3.7"), V("8.3.0", requires_runtime=">=3.10"), V("9.0.0rc1", prerelease=True),
              V("8.2.0", yanked=True)],
    "importlib-metadata": [V("8.0.0", P("zipp", ">=3.20"))],
    "zipp": [V("3.20.0")],
    "asgiref": [V("3.8.1")],
    "extras-user": [V("1.0", P("helper", ">=1", features=("fast",)))],
    "helper": [V("1.0", P("speedups", condition='extra == "fast" and platform_system == "Linux"'),
                 P("winonly", condition='sys_platform == "win32"'))],
    "speedups": [V("2.0")],
    "winonly": [V("1.0")],
}  # fmt: skip


async def test_pypi_markers_extras_and_requires_python():
    provider = Memory("pypi", FLASKISH)
    on_312 = await pypi.resolve(provider, name="web", requirement="==1.0", python="3.12")
    assert on_312.pairs() == {
        ("web", "1.0"), ("click", "8.3.0"), ("extras-user", "1.0"), ("helper", "1.0"), ("speedups", "2.0"),
    }  # fmt: skip
    on_39 = await pypi.resolve(provider, name="web", requirement="==1.0", python="3.9", extras=["async"])
    assert {name: version for name, version in on_39.pairs()} == {
        "web": "1.0", "click": "8.1.7", "importlib-metadata": "8.0.0", "zipp": "3.20.0", "asgiref": "3.8.1",
        "extras-user": "1.0", "helper": "1.0", "speedups": "2.0",
    }  # fmt: skip
    assert "markers evaluated for CPython 3.9 on Linux x86_64" in on_39.notes


async def test_pypi_backtracks_to_an_older_depender():
    provider = Memory("pypi", {
        "app": [V("1.0", P("lib"), P("pinned", "<2"))],
        "lib": [V("1.0", P("pinned", ">=1,<2")), V("2.0", P("pinned", ">=2"))],
        "pinned": [V("1.5"), V("2.1")],
    })  # fmt: skip
    resolution = await pypi.resolve(provider, name="app", requirement="")
    assert resolution.pairs() == {("app", "1.0"), ("lib", "1.0"), ("pinned", "1.5")}
    assert not resolution.conflicts


async def test_pypi_missing_and_deadline():
    provider = Memory("pypi", {"app": [V("1.0", P("gone"), P("slow"))]}, slow={"slow"})
    resolution = await pypi.resolve(provider, name="app", requirement="", deadline=0.2)
    assert not resolution.complete
    assert {(item.name, item.why) for item in resolution.missing} == {
        ("gone", "not found"), ("slow", "not fetched within the deadline"),
    }  # fmt: skip
    assert resolution.pairs() == {("app", "1.0")}


async def test_bad_input_is_a_bad_request():
    provider = Memory("pypi", {})
    with pytest.raises(versions.InvalidRequirement):
        await pypi.resolve(provider, name="app", requirement="=>1")
    with pytest.raises(errors.BadRequest):
        await pypi.resolve(provider, name="app", requirement="", python="three")
    assert provider.asked == []


# ---- npm -------------------------------------------------------------------------------


def N(name: str, requirement: str, **kwargs: object) -> model.Dependency:
    return D("npm", name, requirement, **kwargs)


async def test_npm_places_duplicates_below_the_conflict_and_reuses_visible_versions():
    provider = Memory("npm", {
        "app": [V("1.0.0", N("a", "^1.0.0"), N("b", "^1.0.0"), N("ms", "^2.1.0"))],
        "a": [V("1.0.0", N("ms", "2.0.0"))],
        "b": [V("1.0.0", N("ms", "^2.0.0"))],
        "ms": [V("2.0.0"), V("2.1.3")],
    })  # fmt: skip
    resolution = await npm.resolve(provider, name="app", version="1.0.0")
    assert resolution.pairs() == {("app", "1.0.0"), ("a", "1.0.0"), ("b", "1.0.0"), ("ms", "2.1.3"), ("ms", "2.0.0")}
    edges = {(edge.from_, edge.to) for edge in resolution.edges}
    # b sees the ms@2.1.3 placed beside it and reuses it; a needs its own.
    assert ("b@1.0.0", "ms@2.1.3") in edges and ("a@1.0.0", "ms@2.0.0") in edges


async def test_npm_peers_optional_dev_deprecated_and_cycles():
    provider = Memory("npm", {
        "app": [V("1.0.0", N("plugin", "^1"), N("test-lib", "^1", kind="dev"), N("fsevents", "^2", kind="optional", optional=True))],
        "plugin": [V("1.0.0", N("host", "^2", kind="peer"), N("extra", "^1", kind="peer", optional=True))],
        "host": [V("2.0.0", N("plugin", "^1")), V("2.1.0", N("plugin", "^1"), deprecated=True)],
        "fsevents": [V("2.3.3")],
        "extra": [V("1.0.0")],
        "test-lib": [V("1.0.0")],
    })  # fmt: skip
    resolution = await npm.resolve(provider, name="app", version="1.0.0")
    assert resolution.pairs() == {("app", "1.0.0"), ("plugin", "1.0.0"), ("host", "2.0.0"), ("fsevents", "2.3.3")}
    assert resolution.cycles == [["plugin@1.0.0", "host@2.0.0", "plugin@1.0.0"]]
    assert "optional dependencies are installed whatever their os/cpu fields say" in resolution.notes
    kinds = {node.name: node.kinds for node in resolution.nodes}
    assert kinds["host"] == ("peer",) and kinds["fsevents"] == ("optional",)


def test_npm_pick_prefers_latest_tag_then_fit_versions():
    facts = model.PackageFacts(
        ecosystem="npm", name="p", display_name="p",
        versions=(V("1.0.0"), V("1.1.0", requires_runtime=">=20"), V("1.2.0", deprecated=True), V("2.0.0-rc.1")),
        extra={"dist_tags": {"latest": "1.0.0", "next": "2.0.0-rc.1"}},
    )  # fmt: skip
    assert npm.pick(facts, "^1.0.0", node=None).number == "1.0.0"
    facts.extra["dist_tags"]["latest"] = "1.2.0"
    assert npm.pick(facts, "^1.0.0", node=None).number == "1.1.0"
    assert npm.pick(facts, "^1.0.0", node="18.0.0").number == "1.0.0"
    assert npm.pick(facts, "next", node=None).number == "2.0.0-rc.1"
    assert npm.pick(facts, "^3", node=None) is None
