"""centralcloud.packages.recommend, .recommendations, .dependencies, .dependents and
centralcloud.frameworks.get, .detect: the answers built on the facts."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from centralcloud.wire.messages import common

RuntimeMap = dict[str, Annotated[str, msgspec.Meta(max_length=32)]]


# ---- recommend ----------------------------------------------------------------------


class RecommendRequest(common.PackageName):
    """centralcloud.packages.recommend: which version of a package to use."""

    requirement: Annotated[str, msgspec.Meta(max_length=256)] | None = None
    """A requirement in the ecosystem's syntax the pick must satisfy (">=4.2,<6", "^4", "~> 1.7")."""
    current: Annotated[str, msgspec.Meta(max_length=128)] | None = None
    """The version the asker uses now; the reply then says what upgrading means."""
    runtime: RuntimeMap = {}
    """The asker's runtimes: python, node, rust or elixir, each a version such as 3.11."""
    allow_prerelease: bool = False
    """Let a prerelease be recommended."""
    min_age_days: Annotated[float, msgspec.Meta(ge=0, le=3650)] | None = None
    """Cooldown: skip versions published fewer days ago (default from configuration)."""


class SkippedInfo(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A newer version passed over."""

    version: str
    """The version."""
    why: str
    """Every rule it failed, "; "-separated."""
    advisories: list[str] = []
    """Advisory ids, when a known advisory is one of the reasons."""


class UpgradeInfo(msgspec.Struct, kw_only=True):
    """What moving from the current version to the pick means."""

    from_: str = msgspec.field(name="from")
    """The asker's current version."""
    advisories_fixed: list[str] = []
    """Advisories affecting the current version and not the pick."""
    breaking: str = "none"
    """major (or a 0.x minor in SemVer ecosystems), minor, patch or none."""
    downgrade: bool = False
    """The pick is older than the current version."""


class AdoptionInfo(msgspec.Struct, frozen=True, kw_only=True):
    """The team's use of the pick."""

    instances: int = 0
    """Instances using it (zero until pattern knowledge counts versions)."""


class RecommendReply(msgspec.Struct, kw_only=True):
    """The recommended version and why."""

    purl: str
    """The package, with the recommended version."""
    version: str
    """The recommended version."""
    latest: str | None
    """The newest final, unwithdrawn release, whatever the request asked."""
    reasons: list[str]
    """Why this version, in words."""
    skipped: list[SkippedInfo] = []
    """Newer versions passed over, newest first (at most 20)."""
    upgrade: UpgradeInfo | None = None
    """With `current`: what the upgrade fixes and breaks."""
    adoption: AdoptionInfo = AdoptionInfo()
    """The team's use of the pick."""
    least_bad: bool = False
    """Every candidate failed a check and this is the least bad."""


# ---- recommendations ----------------------------------------------------------------


class RecommendationsRequest(common.Request):
    """centralcloud.packages.recommendations: packages for a need, ranked."""

    need: Annotated[str, msgspec.Meta(max_length=200)]
    """What the package should do, in words ("task scheduler", "async runtime")."""
    ecosystem: common.EcosystemName | None = None
    """Only this ecosystem; without it the answer spans ecosystems."""
    limit: Annotated[int, msgspec.Meta(ge=1, le=50)] = 10
    """Candidates in the reply."""
    discover: bool = True
    """Ask the registries' own search endpoints when few stored packages match."""


class TeamInfo(msgspec.Struct, kw_only=True):
    """The team's use of a package."""

    instances: int = 0
    """Distinct instances reporting it as a direct dependency."""
    projects: int = 0
    """Distinct projects reporting it."""


class RecommendedPackage(msgspec.Struct, kw_only=True):
    """One candidate for the need."""

    purl: str
    """The package."""
    name: str
    """Its name."""
    ecosystem: str
    """Its ecosystem."""
    latest_version: str | None
    """Its latest version."""
    description: str | None
    """Its description."""
    score: float
    """Relevance to the need times quality, with sinks and the team's lift; higher is better."""
    why: list[str]
    """The reasons in words ("100M+ downloads", "used by 3 of your team's instances")."""
    team: TeamInfo
    """The team's use."""
    advisories_latest: int | None = None
    """Known advisories affecting the latest version (None: not checked)."""
    quality: float | None = None
    """Quality score 0-100, when computed."""
    downloads: int | None = None
    """Downloads as the registry counts them."""
    stars: int | None = None
    """Repository stars."""
    discovered: bool = False
    """Found by a registry's search rather than stored for use."""


class DiscoveryInfo(msgspec.Struct, kw_only=True):
    """What asking the registries' search endpoints gave."""

    asked: list[str] = []
    """Ecosystems whose search was asked."""
    found: int = 0
    """Packages they named that were not stored."""
    failed: list[str] = []
    """Ecosystems whose search failed or missed the deadline."""


class RecommendationsReply(msgspec.Struct, kw_only=True):
    """Candidates for a need, best first."""

    need: str
    """The need as asked."""
    candidates: list[RecommendedPackage]
    """Best first."""
    discovery: DiscoveryInfo | None = None
    """Present when the registries were searched."""


# ---- dependencies -------------------------------------------------------------------


class DependenciesRequest(common.PackageName):
    """centralcloud.packages.dependencies: the resolved dependency tree of one package version."""

    version: Annotated[str, msgspec.Meta(max_length=128)] | None = None
    """The version, when the purl names none; without either, the recommended one."""
    requirement: Annotated[str, msgspec.Meta(max_length=256)] | None = None
    """Instead of a version: a requirement resolved to its highest matching version first."""
    runtime: RuntimeMap = {}
    """python (markers, Requires-Python), node (engines), rust (rust_version)."""
    include: list[Literal["dev", "optional", "peer"]] = []
    """npm: dev adds the root's dev dependencies; hex: optional includes optional dependencies."""
    extras: list[Annotated[str, msgspec.Meta(max_length=64)]] = []
    """PyPI extras of the root."""
    features: list[Annotated[str, msgspec.Meta(max_length=64)]] = []
    """Cargo features of the root (default features stay on)."""
    target: common.Purl | None = None
    """A package (purl) to list every chain from the root to, shortest first."""


class NodeInfo(msgspec.Struct, kw_only=True):
    """A resolved package version."""

    purl: str
    """With version."""
    name: str
    """Its name."""
    version: str
    """The resolved version."""
    depth: int
    """Edges from the root on the shortest path."""
    kinds: list[str]
    """runtime, optional, peer, build, and target for platform-specific edges."""


class EdgeInfo(msgspec.Struct, kw_only=True):
    """A dependency between two resolved versions."""

    from_: str = msgspec.field(name="from")
    """The depender, name@version."""
    to: str
    """The dependency, name@version."""
    requirement: str
    """As declared."""
    kind: str = "runtime"
    """runtime, optional, peer or build."""


class MissingInfo(msgspec.Struct, kw_only=True):
    """A package whose facts were not at hand."""

    name: str
    """Its name (or name@version)."""
    why: str
    """not found, unavailable, or not fetched within the deadline (fetching goes on)."""


class ConflictInfo(msgspec.Struct, kw_only=True):
    """Requirements no version meets together."""

    name: str
    """The package required."""
    requirements: list[str]
    """Each as "requirement (from name@version)"."""
    chosen: str | None = None
    """The version kept, if any."""


class DependenciesReply(msgspec.Struct, kw_only=True):
    """A resolved tree."""

    root: str
    """name@version."""
    nodes: list[NodeInfo]
    """Root first, then by depth and name."""
    edges: list[EdgeInfo]
    """Every dependency between resolved versions."""
    chains: list[list[str]] | None = None
    """With a target: paths from the root to it, shortest first (at most 20)."""
    missing: list[MissingInfo] = []
    """Packages not read; ask again once their fetch completes."""
    conflicts: list[ConflictInfo] = []
    """Requirements that could not be met."""
    cycles: list[list[str]] = []
    """Cycles cut while walking."""
    notes: list[str] = []
    """The approximations that applied."""
    complete: bool = True
    """False when anything is missing."""


# ---- dependents ---------------------------------------------------------------------


class DependentsRequest(common.PackageName):
    """centralcloud.packages.dependents: what depends on a package."""


class DependentInfo(msgspec.Struct, kw_only=True):
    """A stored package whose latest version depends on the target."""

    purl: str
    """The depender, with its latest version."""
    name: str
    """Its name."""
    version: str | None
    """Its latest version."""
    requirement: str
    """Its requirement on the target."""
    kind: str
    """runtime, dev, optional, peer or build."""
    lagging: bool | None
    """True when the requirement does not admit the target's latest version (None: unreadable)."""


class TeamReachInfo(msgspec.Struct, kw_only=True):
    """The team's use, counted only at or above the pattern privacy threshold (else null)."""

    direct_instances: int | None = None
    """Instances reporting it directly."""
    direct_projects: int | None = None
    """Projects reporting it directly."""
    instances: int | None = None
    """Instances using it directly or through stored dependencies of what they report."""
    projects: int | None = None
    """Projects likewise."""


class DependentsReply(msgspec.Struct, kw_only=True):
    """Dependents of a package."""

    purl: str
    """The package."""
    latest_version: str | None
    """Its latest stored version."""
    count: int
    """Stored packages whose latest version depends on it (exact over what is stored)."""
    lagging: int
    """Of those, how many require a range that excludes its latest version."""
    dependents: list[DependentInfo]
    """Those packages, by name."""
    team: TeamReachInfo
    """The team's use."""
    scope: str
    """What the counts cover: stored packages only, never the whole registry."""


# ---- frameworks ---------------------------------------------------------------------


class FrameworkGetRequest(common.PackageName):
    """centralcloud.frameworks.get: a framework's stack."""

    limit: Annotated[int, msgspec.Meta(ge=1, le=200)] = 50
    """Plugins and companions listed at most."""


class StackDependency(msgspec.Struct, kw_only=True):
    """A runtime dependency of the framework's latest version."""

    purl: str
    """The dependency."""
    requirement: str
    """As declared."""
    kind: str
    """runtime, peer, optional or build."""


class PluginInfo(msgspec.Struct, kw_only=True):
    """A stored package that plugs into the framework."""

    purl: str
    """The plugin."""
    name: str
    """Its name."""
    description: str | None
    """Its description."""
    latest_version: str | None
    """Its latest version."""
    how: str
    """peer (npm peer dependency), classifier (PyPI Framework :: classifier) or keyword (depends on it and names it)."""


class CompanionInfo(msgspec.Struct, kw_only=True):
    """A package the team uses alongside the framework."""

    purl: str
    """The companion."""
    projects: int
    """Projects using both."""
    lift: float
    """How much likelier it is in projects with the framework than in all projects."""


class FrameworkReply(msgspec.Struct, kw_only=True):
    """A framework's stack."""

    purl: str
    """The framework."""
    latest_version: str | None
    """Its latest version."""
    dependencies: list[StackDependency]
    """Its latest version's own non-dev dependencies."""
    plugins: list[PluginInfo]
    """Its plugin ecosystem among stored packages, most downloaded first."""
    plugins_total: int
    """Stored plugins in all (the list may be cut at `limit`)."""
    companions: list[CompanionInfo]
    """Co-used by the team, by lift, shown only when enough instances share the pair."""
    patterns: list[str] = []
    """Patterns reported alongside it (empty until pattern knowledge exists)."""


class FrameworksDetectRequest(common.Request):
    """centralcloud.frameworks.detect: which of these packages are frameworks."""

    purls: Annotated[list[common.Purl], msgspec.Meta(min_length=1, max_length=500)]
    """Packages to look at."""


class DetectedFramework(msgspec.Struct, kw_only=True):
    """A package that many stored packages plug into."""

    purl: str
    """The framework."""
    plugins: int
    """Stored packages declaring it as a peer, classifier or plugin target."""


class FrameworksDetectReply(msgspec.Struct, kw_only=True):
    """The frameworks among the asked packages."""

    frameworks: list[DetectedFramework]
    """Most plugins first."""
    threshold: int
    """Plugins a package needs to count as a framework."""
