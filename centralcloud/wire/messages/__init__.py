"""Every message on the wire, as msgspec Structs, one module per area.

Requests are decoded strictly (unknown fields and wrong types are 400s); replies are
encoded from these types. The docstring under each field becomes its description in
the JSON Schemas under `schemas/` (see `centralcloud.wire.schemas`). The area modules
are gathered here so that callers write `messages.PackageReply` whichever file holds it.
"""

from __future__ import annotations

from centralcloud.wire.messages import advisories, answers, common, health, packages, patterns, sync

from centralcloud.wire.messages.common import (  # noqa: F401 - re-exported
    CacheInvalidation,
    EcosystemName,
    ErrorBody,
    ErrorReply,
    Name,
    PackageName,
    Purl,
    Request,
)
from centralcloud.wire.messages.packages import (  # noqa: F401 - re-exported
    AcceptedPackage,
    DependencyInfo,
    DownloadsInfo,
    PackageGetRequest,
    PackageReply,
    QualityInfo,
    RejectedPackage,
    RepositoryInfo,
    RequestPackagesReply,
    RequestPackagesRequest,
    SearchHit,
    SearchReply,
    SearchRequest,
    VersionInfo,
)
from centralcloud.wire.messages.advisories import (  # noqa: F401 - re-exported
    AdvisoriesReply,
    AdvisoriesRequest,
    AdvisoryInfo,
    RangeInfo,
    Undetermined,
)
from centralcloud.wire.messages.sync import (  # noqa: F401 - re-exported
    SourceCountsInfo,
    SyncFailureInfo,
    SyncRunInfo,
    SyncRunReply,
    SyncRunRequest,
    SyncStatusReply,
    SyncStatusRequest,
)

from centralcloud.wire.messages.answers import (  # noqa: F401 - re-exported
    AdoptionInfo,
    CompanionInfo,
    ConflictInfo,
    DependenciesReply,
    DependenciesRequest,
    DependentInfo,
    DependentsReply,
    DependentsRequest,
    DetectedFramework,
    DiscoveryInfo,
    EdgeInfo,
    FrameworkGetRequest,
    FrameworkReply,
    FrameworksDetectReply,
    FrameworksDetectRequest,
    MissingInfo,
    NodeInfo,
    PluginInfo,
    RecommendationsReply,
    RecommendationsRequest,
    RecommendedPackage,
    RecommendReply,
    RecommendRequest,
    SkippedInfo,
    StackDependency,
    TeamInfo,
    TeamReachInfo,
    UpgradeInfo,
)

from centralcloud.wire.messages.health import (  # noqa: F401 - re-exported
    ComponentHealth,
    HealthReply,
    HealthRequest,
)

from centralcloud.wire.messages.patterns import (  # noqa: F401 - re-exported
    Alert,
    AlertAdvisory,
    AssociatedPackage,
    EntryReject,
    InstanceProject,
    InstanceReply,
    InstanceRequest,
    PairInfo,
    PairsReply,
    PairsRequest,
    PopularPackage,
    PopularPair,
    PopularPattern,
    PopularReply,
    PopularRequest,
    RejectedReport,
    Trend,
    UsageReply,
    UsageRequest,
    VersionUsage,
)

AREAS = (common, packages, advisories, sync, answers, health, patterns)
"""The modules whose field docstrings describe the schemas."""
