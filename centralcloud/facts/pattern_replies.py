"""The replies of patterns.usage, pairs and popular, built from the aggregates the last
recompute filled (store.patterns); the knowledge caches them."""

from __future__ import annotations

import datetime as dt

from centralcloud.patterns import metrics
from centralcloud.patterns import report as reports
from centralcloud.store import db
from centralcloud.store import patterns as store_patterns
from centralcloud.wire import messages


async def usage(database: db.Executor, package: tuple[str, str]) -> messages.UsageReply:
    ecosystem, name = package
    row = await store_patterns.usage(database, ecosystem=ecosystem, name=name)
    purl = purl_of(ecosystem, name)
    if row is None:
        return messages.UsageReply(
            ecosystem=ecosystem, name=name, purl=purl, instances=0, projects=0, direct_instances=0, versions=[],
            first_seen=None, last_seen=None, trend=messages.Trend(added_30d=0, dropped_30d=0),
        )
    return messages.UsageReply(
        ecosystem=ecosystem, name=name, purl=purl, instances=row["instances"], projects=row["projects"],
        direct_instances=row["direct_instances"],
        versions=[messages.VersionUsage(version=v["version"], instances=v["instances"]) for v in row["versions"]],
        first_seen=row["first_seen_at"], last_seen=row["last_seen"],
        trend=_trend((row["added"], row["dropped"])),
    )


async def pairs(database: db.Executor, package: tuple[str, str], *, limit: int, min_instances: int) -> messages.PairsReply:
    ecosystem, name = package
    row = await store_patterns.usage(database, ecosystem=ecosystem, name=name)
    state = await store_patterns.state(database)
    found = []
    if row is not None:
        for pair in await store_patterns.pairs(
            database, row["id"], min_instances=min_instances, limit=limit
        ):
            measures = metrics.associate(
                together=pair["projects"], a=pair["a"], b=pair["b"], total=pair["transactions"]
            )
            found.append(messages.PairInfo(
                purl=purl_of(pair["ecosystem"], pair["name"]), projects=pair["projects"], instances=pair["instances"],
                support=round(measures.support, 6), confidence=round(measures.confidence_ab, 6),
                confidence_reverse=round(measures.confidence_ba, 6), lift=round(measures.lift, 6),
                npmi=round(measures.npmi, 6),
            ))
    return messages.PairsReply(
        purl=purl_of(ecosystem, name), pairs=found,
        transactions=state["transactions"] if state else 0, computed_at=state["computed_at"] if state else None,
    )


async def popular(database: db.Executor, *, min_instances: int, since: dt.datetime, kind: str, ecosystem: str | None, limit: int) -> messages.PopularReply:
    least = min_instances
    if kind == "packages":
        rows = await store_patterns.popular_packages(database, ecosystem=ecosystem, min_instances=least, limit=limit)
        return messages.PopularReply(kind=kind, packages=[
            messages.PopularPackage(
                purl=purl_of(row["ecosystem"], row["name"]), instances=row["instances"], projects=row["projects"],
                trend=_trend((row["added"], row["dropped"])),
            )
            for row in rows
        ])
    if kind == "pairs":
        rows = await store_patterns.popular_pairs(database, ecosystem=ecosystem, min_instances=least, limit=limit)
        found = []
        for row in rows:
            measures = metrics.associate(together=row["projects"], a=row["a"], b=row["b"], total=row["transactions"])
            found.append(messages.PopularPair(
                purls=[purl_of(row["a_ecosystem"], row["a_name"]), purl_of(row["b_ecosystem"], row["b_name"])],
                projects=row["projects"], instances=row["instances"],
                lift=round(measures.lift, 6), npmi=round(measures.npmi, 6),
            ))
        return messages.PopularReply(kind=kind, pairs=found)
    rows = await store_patterns.popular_patterns(database, min_instances=least, limit=limit, since=since)
    return messages.PopularReply(kind=kind, patterns=[
        messages.PopularPattern(
            kind=row["kind"], name=row["name"], instances=row["instances"], projects=row["projects"],
            trend=_trend((row["added"], row["dropped"])),
            associated=[
                messages.AssociatedPackage(
                    purl=purl_of(item["ecosystem"], item["name"]), projects=item["projects"], lift=round(item["lift"], 6)
                )
                for item in row["associated"]
                if ecosystem is None or item["ecosystem"] == ecosystem
            ],
            first_seen=row["first_seen_at"], last_seen=row["last_seen_at"],
        )
        for row in rows
    ])


def _trend(counts: tuple[int, int]) -> messages.Trend:
    return messages.Trend(added_30d=counts[0], dropped_30d=counts[1])


def purl_of(ecosystem: str, name: str) -> str:
    """The versionless purl of a reported package, tracked or not."""
    return reports.Entry(ecosystem=ecosystem, name=name).purl
