"""One handler per subject: decode the request, ask the catalog or the sync job, encode the reply.

Expected failures are raised as `CentralCloudError`s; the endpoint turns them into error
replies.
"""

from __future__ import annotations

import msgspec

from centralcloud.answers import bundle
from centralcloud.core import errors, names
from centralcloud.edge import endpoint, rates
from centralcloud.facts import catalog, knowledge
from centralcloud.facts import health as facts_health
from centralcloud.jobs import progress
from centralcloud.jobs import runner as sync
from centralcloud.wire import messages, subjects


def decode(data: bytes, kind: type[msgspec.Struct]) -> msgspec.Struct:
    if not data.strip():
        raise errors.BadRequest("empty request: send a JSON object")
    try:
        return msgspec.json.decode(data, type=kind)
    except msgspec.ValidationError as err:
        raise errors.BadRequest(f"invalid request: {err}") from err
    except msgspec.DecodeError as err:
        raise errors.BadRequest(f"request is not valid JSON: {err}") from err


class Handlers:
    """One coroutine per subject: bytes in, bytes out, named after the subject (packages.get: packages_get)."""

    def __init__(
        self, the_catalog: catalog.Catalog, job: sync.SyncJob | None = None, answers: bundle.Bundle | None = None,
        the_knowledge: knowledge.Knowledge | None = None, *,
        checks: facts_health.Health | None = None, request_rate: rates.Buckets | None = None,
    ) -> None:
        self.catalog = the_catalog
        self.job = job
        self.knowledge = the_knowledge
        # The handler table is also built without a catalog (to list it); answers need one.
        self.answers = answers or (bundle.build(the_catalog) if the_catalog is not None else None)
        self.checks = checks
        """What centralcloud.health reports."""
        self.request_rate = request_rate or rates.Buckets(per_minute=6000, burst=5000)
        """Packages each caller may ask packages.request to keep fresh (see endpoint.identify)."""
        self._encoder = msgspec.json.Encoder()

    async def packages_get(self, data: bytes) -> bytes:
        request = decode(data, subjects.PACKAGES_GET.request)
        ref = names.ref(ecosystem_name=request.ecosystem, name=request.name, purl=request.purl)
        return await self.catalog.get(ref, max_versions=request.max_versions)

    async def packages_search(self, data: bytes) -> bytes:
        request = decode(data, subjects.PACKAGES_SEARCH.request)
        ecosystem = names.ecosystem(request.ecosystem) if request.ecosystem is not None else None
        if not catalog.search_terms(request.query):
            raise errors.BadRequest("query must contain words (letters or digits)", query=request.query)
        return await self.catalog.search(query=request.query, ecosystem=ecosystem, limit=request.limit)

    async def packages_request(self, data: bytes) -> bytes:
        request = decode(data, subjects.PACKAGES_REQUEST.request)
        wait = self.request_rate.take(endpoint.caller(), len(request.packages))
        if wait > 0:
            raise errors.RateLimited(
                f"{endpoint.caller()} asked for more packages than its rate allows; try again in {wait:.0f}s",
                retry_after=wait,
            )
        return self._encoder.encode(await self.catalog.request(request.packages))

    async def health(self, data: bytes) -> bytes:
        decode(data, subjects.HEALTH.request)
        if self.checks is None:
            raise errors.CentralCloudError("health checks are not set up in this process")
        return self._encoder.encode(await self.checks.check())

    # Answers from the read cache, tried before a request takes a slot (see endpoint.CachedAnswer).

    async def cached_packages_get(self, data: bytes) -> bytes | None:
        request = msgspec.json.decode(data, type=subjects.PACKAGES_GET.request)
        ref = names.ref(ecosystem_name=request.ecosystem, name=request.name, purl=request.purl)
        return await self.catalog.cached_get(ref, max_versions=request.max_versions)

    async def cached_packages_search(self, data: bytes) -> bytes | None:
        request = msgspec.json.decode(data, type=subjects.PACKAGES_SEARCH.request)
        if not catalog.search_terms(request.query):
            return None
        ecosystem = names.ecosystem(request.ecosystem) if request.ecosystem is not None else None
        return await self.catalog.cached_search(query=request.query, ecosystem=ecosystem, limit=request.limit)

    async def packages_advisories(self, data: bytes) -> bytes:
        request = decode(data, subjects.PACKAGES_ADVISORIES.request)
        ref = names.ref(ecosystem_name=request.ecosystem, name=request.name, purl=request.purl, version=request.version)
        return self._encoder.encode(await self.catalog.advisories(ref, version=ref.version))

    async def sync_run(self, data: bytes) -> bytes:
        request = decode(data, subjects.SYNC_RUN.request)
        if self.job is None:
            raise errors.CentralCloudError("the sync job is not running in this process")
        refs = None
        if request.packages is not None:
            refs = [names.ref(ecosystem_name=p.ecosystem, name=p.name, purl=p.purl) for p in request.packages]
        run_id, started = await self.job.start(trigger="request", packages=refs)
        if started:
            message = f"sync run {run_id} started"
        elif run_id is not None:
            message = f"sync run {run_id} is already under way"
        else:
            message = f"another replica is starting a run; ask {subjects.SYNC_STATUS.name}"
        return self._encoder.encode(messages.SyncRunReply(run=run_id, started=started, message=message))

    async def sync_status(self, data: bytes) -> bytes:
        request = decode(data, subjects.SYNC_STATUS.request)
        if self.job is None:
            raise errors.CentralCloudError("the sync job is not running in this process")
        runs = await self.job.status(request.run, limit=request.limit)
        reply = messages.SyncStatusReply(runs=[
            messages.SyncRunInfo(
                id=run["id"], state=run["state"], phase=run["phase"], trigger=run["trigger"], scheduled_for=run["scheduled_for"],
                started_at=run["started_at"], finished_at=run["finished_at"], total=run["total"],
                done=progress.done(run["counts"]),
                counts={k: messages.SourceCountsInfo(**v) for k, v in (run["counts"] or {}).items()},
                failures=[messages.SyncFailureInfo(**f) for f in run["failures"]],
                error=run["error"],
            )
            for run in runs
        ])
        return self._encoder.encode(reply)

    # ---- answers ----

    async def packages_recommend(self, data: bytes) -> bytes:
        return await self.answers.answers.recommend(decode(data, subjects.PACKAGES_RECOMMEND.request))

    async def packages_recommendations(self, data: bytes) -> bytes:
        return await self.answers.needs.recommendations(decode(data, subjects.PACKAGES_RECOMMENDATIONS.request))

    async def packages_dependencies(self, data: bytes) -> bytes:
        return await self.answers.answers.dependencies(decode(data, subjects.PACKAGES_DEPENDENCIES.request))

    async def packages_dependents(self, data: bytes) -> bytes:
        return await self.answers.answers.dependents(decode(data, subjects.PACKAGES_DEPENDENTS.request))

    async def frameworks_get(self, data: bytes) -> bytes:
        return await self.answers.frameworks.get(decode(data, subjects.FRAMEWORKS_GET.request))

    async def frameworks_detect(self, data: bytes) -> bytes:
        return await self.answers.frameworks.detect(decode(data, subjects.FRAMEWORKS_DETECT.request))

    # ---- end answers ----

    # Pattern knowledge (issue 8) ----------------------------------------------------------------

    def _patterns(self) -> knowledge.Knowledge:
        if self.knowledge is None:
            raise errors.CentralCloudError("pattern knowledge is not running in this process")
        return self.knowledge

    async def patterns_usage(self, data: bytes) -> bytes:
        request = decode(data, subjects.PATTERNS_USAGE.request)
        the_package = knowledge.package(ecosystem_name=request.ecosystem, name=request.name, purl=request.purl)
        return await self._patterns().usage(the_package)

    async def patterns_pairs(self, data: bytes) -> bytes:
        request = decode(data, subjects.PATTERNS_PAIRS.request)
        the_package = knowledge.package(ecosystem_name=request.ecosystem, name=request.name, purl=request.purl)
        return await self._patterns().pairs(the_package, limit=request.limit)

    async def patterns_popular(self, data: bytes) -> bytes:
        request = decode(data, subjects.PATTERNS_POPULAR.request)
        ecosystem = request.ecosystem.lower() if request.ecosystem is not None else None
        return await self._patterns().popular(kind=request.kind, ecosystem=ecosystem, limit=request.limit)

    async def patterns_instance(self, data: bytes) -> bytes:
        request = decode(data, subjects.PATTERNS_INSTANCE.request)
        asker = endpoint.caller_instance()
        # An instance sees its own reports only; NATS permissions cannot read a payload, so this is checked here.
        if asker is not None and asker != request.instance:
            raise errors.Forbidden(f"instance {asker!r} may ask only about itself", instance=request.instance)
        return self._encoder.encode(await self._patterns().instance(request.instance, limit=request.limit))

    def table(self) -> dict[subjects.Subject, endpoint.Handler]:
        """Every subject of the table with the method named after it."""
        return {subject: getattr(self, subject.local.replace(".", "_")) for subject in subjects.REQUESTS}

    def cached_table(self) -> dict[subjects.Subject, endpoint.CachedAnswer]:
        """The subjects whose answers the read cache may hold, with `cached_<method>`."""
        return {
            subject: getattr(self, "cached_" + subject.local.replace(".", "_"))
            for subject in subjects.REQUESTS
            if hasattr(self, "cached_" + subject.local.replace(".", "_"))
        }
