"""Framework stacks (`centralcloud.frameworks.get`) and detection (`.detect`).

A framework is what other packages declare they plug into, read from the facts:
- npm: packages whose latest version names it as a peer dependency;
- PyPI: packages carrying its `Framework :: <Name>` trove classifier;
- crates and hex: packages whose latest version depends on it and that carry its name
  among their keywords.

`detect` calls a package a framework when at least `min_plugins` stored packages plug
into it that way (CENTRALCLOUD_FRAMEWORK_MIN_PLUGINS, default 3): one or two plugins
are as likely a package's own helpers as a plugin ecosystem. Team companions are the
packages the team's projects use alongside it, by lift, shown only when enough distinct
instances share the pair (the pattern privacy threshold).
"""

from __future__ import annotations

import msgspec

from centralcloud.answers import service
from centralcloud.core import errors, names
from centralcloud.facts import cache
from centralcloud.patterns import metrics
from centralcloud.store import answers as store_answers
from centralcloud.wire import messages

MIN_PLUGINS = 3
"""Stored plugins a package needs to count as a framework."""


class Frameworks:
    def __init__(self, *, answers: service.Answers, min_plugins: int = MIN_PLUGINS) -> None:
        self.answers = answers
        self.database = answers.database
        self.cache: cache.ReadCache = answers.cache
        self.min_plugins = min_plugins
        self._encoder = msgspec.json.Encoder()

    async def get(self, request: messages.FrameworkGetRequest) -> bytes:
        ref = names.ref(ecosystem_name=request.ecosystem, name=request.name, purl=request.purl)
        key = f"{cache.ANSWERS}framework-{ref.ecosystem}-{ref.name}-{request.limit}"
        cached = await self.cache.get(key)
        if cached is not None:
            return cached
        facts = await self.answers.facts(ref, details=True)  # its own dependencies are part of the stack
        latest = next((v for v in facts.versions if v.number == facts.latest_version), None)
        own = [
            messages.answers.StackDependency(
                purl=names.to_purl(dep.ecosystem, dep.name), requirement=dep.requirement, kind=dep.kind
            )
            for dep in ((latest.dependencies or ()) if latest else ())
            if dep.kind != "dev"
        ]
        rows = await store_answers.framework_plugins(
            self.database, ecosystem=ref.ecosystem, name=ref.name, display_name=facts.display_name, limit=request.limit
        )
        total = (await store_answers.framework_plugin_counts(self.database, [(ref.ecosystem, ref.name)]))[
            (ref.ecosystem, ref.name)
        ]
        reply = messages.FrameworkReply(
            purl=ref.purl,
            latest_version=facts.latest_version,
            dependencies=own,
            plugins=[
                messages.answers.PluginInfo(
                    purl=names.to_purl(row["ecosystem"], row["name"]), name=row["name"], description=row["description"],
                    latest_version=row["latest_version"], how=row["how"],
                )
                for row in rows
            ],
            plugins_total=total,
            companions=await self._companions(ref, limit=request.limit),
        )
        encoded = self._encoder.encode(reply)
        await self.cache.set(key, encoded)
        return encoded

    async def _companions(self, ref: names.PackageRef, *, limit: int) -> list[messages.answers.CompanionInfo]:
        """Packages co-used with the framework in the team's projects, strongest first."""
        projects = await store_answers.team_projects_with(self.database, ecosystem=ref.ecosystem, name=ref.name)
        if not projects:
            return []
        item = f"{ref.ecosystem}:{ref.name}"
        others = sorted({other for _, _, used in projects for other in used} - {item})
        refs = [tuple(other.split(":", 1)) for other in [item, *others]]
        used_by, total = await store_answers.team_item_projects(self.database, refs)  # type: ignore[arg-type]
        together = metrics.co_usage(
            metrics.Transaction(instance=instance, project=project, items=used) for instance, project, used in projects
        )
        found = []
        for other in others:
            usage = together.pairs.get((item, other) if item <= other else (other, item))
            if usage is None or not metrics.shown(instances=len(usage.instances), min_instances=self.answers.options.min_instances):
                continue
            association = metrics.associate(together=usage.projects, a=used_by[item], b=used_by[other], total=total)
            ecosystem, name = other.split(":", 1)
            found.append(
                messages.answers.CompanionInfo(
                    purl=names.to_purl(ecosystem, name), projects=usage.projects, lift=round(association.lift, 4)
                )
            )
        found.sort(key=lambda companion: (-companion.lift, -companion.projects, companion.purl))
        return found[:limit]

    async def detect(self, request: messages.FrameworksDetectRequest) -> bytes:
        refs = []
        for purl in request.purls:
            try:
                refs.append(names.parse_purl(purl))
            except errors.BadRequest as err:
                raise errors.BadRequest(f"{purl!r}: {err.message}", purl=purl) from err
        counts = await store_answers.framework_plugin_counts(self.database, [(ref.ecosystem, ref.name) for ref in refs])
        found = [
            messages.answers.DetectedFramework(purl=names.to_purl(eco, name), plugins=count)
            for (eco, name), count in counts.items()
            if count >= self.min_plugins
        ]
        found.sort(key=lambda framework: (-framework.plugins, framework.purl))
        return self._encoder.encode(messages.FrameworksDetectReply(frameworks=found, threshold=self.min_plugins))
