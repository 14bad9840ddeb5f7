"""The NATS service edge: decode, call the catalog, encode; errors become error replies.

Built on nats-py's `nats.micro`, so `$SRV.PING/INFO/STATS` (what `nats micro ls/info/stats`
use) see the service. nats-py delivers a subscription's messages one at a time; each
endpoint here instead starts a task per message, bounded by a semaphore shared by the
whole service, so a request waiting on PostgreSQL or a registry does not hold up the
requests behind it. Stats are kept per request exactly as nats.micro keeps them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.micro import service as micro

from centralcloud import __version__, catalog, downloads, errors, messages, names, sync

logger = logging.getLogger(__name__)

SERVICE_NAME = "centralcloud"
ERROR_HEADER = "Nats-Service-Error"
ERROR_CODE_HEADER = "Nats-Service-Error-Code"

Handler = Callable[[bytes], Awaitable[bytes]]


@dataclass
class Limits:
    """Bounds applied at the edge."""

    max_request_bytes: int = 65536
    """Requests larger than this are refused with a 400."""
    max_concurrency: int = 64
    """Requests handled at once by this process."""
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    """Requests in flight (kept so they are not garbage-collected and can be awaited on stop)."""


_error_encoder = msgspec.json.Encoder()


def error_reply(err: errors.CentralCloudError) -> tuple[bytes, dict[str, str]]:
    body = _error_encoder.encode(messages.ErrorReply(error=catalog.error_body(err)))
    # Header values must be one line.
    description = " ".join(err.message.split())[:512]
    return body, {ERROR_HEADER: description, ERROR_CODE_HEADER: str(err.status)}


class ConcurrentEndpoint(micro.Endpoint):
    """A nats.micro endpoint that handles each request in its own task."""

    def __init__(
        self, service: micro.Service, config: micro.EndpointConfig, *, handler: Handler, limits: Limits,
        semaphore: asyncio.Semaphore,
    ) -> None:
        super().__init__(service, config)
        self._bytes_handler = handler
        self._limits = limits
        self._semaphore = semaphore

    async def _start(self) -> None:
        self._subscription = await self._service._client.subscribe(
            subject=self._subject, queue=self._queue_group, cb=self._dispatch
        )

    async def _dispatch(self, msg: Msg) -> None:
        # Waiting here applies back-pressure: further messages stay in the subscription's queue.
        await self._semaphore.acquire()
        task = asyncio.create_task(self._handle_request(msg))
        self._limits.tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._limits.tasks.discard(task)
        self._semaphore.release()

    async def _handle_request(self, msg: Msg) -> None:
        started = time.perf_counter_ns()
        self._num_requests += 1
        try:
            if len(msg.data) > self._limits.max_request_bytes:
                raise errors.PayloadTooLarge(
                    f"request is {len(msg.data)} bytes; at most {self._limits.max_request_bytes} are accepted"
                )
            reply = await self._bytes_handler(msg.data)
            headers = None
        except errors.CentralCloudError as err:
            reply, headers = self._failed(err)
        except Exception as err:  # the last line of defence: never crash, never stay silent
            logger.exception("unhandled error on %s", self._subject, extra={"action": "handle", "subject": self._subject})
            reply, headers = self._failed(errors.CentralCloudError(f"internal error: {type(err).__name__}"))
        if msg.reply:
            try:
                await msg._client.publish(msg.reply, reply, headers=headers)
            except Exception:  # the connection may be closing; nothing more to do for this request
                logger.warning("could not send reply on %s", self._subject, exc_info=True, extra={"action": "reply"})
        elapsed = time.perf_counter_ns() - started
        self._processing_time += elapsed
        self._average_processing_time = int(self._processing_time / self._num_requests)

    def _failed(self, err: errors.CentralCloudError) -> tuple[bytes, dict[str, str]]:
        self._num_errors += 1
        self._last_error = f"{err.status}:{err.message}"
        if err.status >= 500:
            logger.warning("%s failed: %s", self._subject, err.message, extra={"action": "handle", "status": err.status})
        return error_reply(err)


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
    """One coroutine per subject: bytes in, bytes out."""

    def __init__(self, the_catalog: catalog.Catalog, job: sync.SyncJob | None = None) -> None:
        self.catalog = the_catalog
        self.job = job
        self._encoder = msgspec.json.Encoder()

    async def packages_get(self, data: bytes) -> bytes:
        request = decode(data, messages.PackageGetRequest)
        ref = names.ref(ecosystem_name=request.ecosystem, name=request.name, purl=request.purl)
        return await self.catalog.get(ref, max_versions=request.max_versions)

    async def packages_search(self, data: bytes) -> bytes:
        request = decode(data, messages.SearchRequest)
        ecosystem = names.ecosystem(request.ecosystem) if request.ecosystem is not None else None
        if not request.query.strip():
            raise errors.BadRequest("query must contain words")
        return await self.catalog.search(query=request.query, ecosystem=ecosystem, limit=request.limit)

    async def packages_request(self, data: bytes) -> bytes:
        request = decode(data, messages.RequestPackagesRequest)
        return self._encoder.encode(await self.catalog.request(request.packages))

    async def packages_advisories(self, data: bytes) -> bytes:
        request = decode(data, messages.AdvisoriesRequest)
        ref = names.ref(ecosystem_name=request.ecosystem, name=request.name, purl=request.purl, version=request.version)
        return self._encoder.encode(await self.catalog.advisories(ref, version=ref.version))

    async def sync_run(self, data: bytes) -> bytes:
        request = decode(data, messages.SyncRunRequest)
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
            message = "another replica is starting a run; ask centralcloud.sync.status"
        return self._encoder.encode(messages.SyncRunReply(run=run_id, started=started, message=message))

    async def sync_status(self, data: bytes) -> bytes:
        request = decode(data, messages.SyncStatusRequest)
        if self.job is None:
            raise errors.CentralCloudError("the sync job is not running in this process")
        runs = await self.job.status(request.run, limit=request.limit)
        reply = messages.SyncStatusReply(runs=[
            messages.SyncRunInfo(
                id=run["id"], state=run["state"], phase=run["phase"], trigger=run["trigger"], scheduled_for=run["scheduled_for"],
                started_at=run["started_at"], finished_at=run["finished_at"], total=run["total"],
                done=sum(
                    int(c.get("checked", 0)) for k, c in (run["counts"] or {}).items()
                    if k not in ("github", *downloads.SOURCES)
                ),
                counts={k: messages.SourceCountsInfo(**v) for k, v in (run["counts"] or {}).items()},
                failures=[messages.SyncFailureInfo(**f) for f in run["failures"]],
                error=run["error"],
            )
            for run in runs
        ])
        return self._encoder.encode(reply)

    def table(self) -> dict[str, tuple[Handler, str]]:
        """subject → (handler, description)."""
        return {
            "centralcloud.sync.run": (self.sync_run, "Start a sync run now (all due packages, or the given ones)"),
            "centralcloud.sync.status": (self.sync_status, "Current or last sync runs with progress and failures"),
            "centralcloud.packages.get": (self.packages_get, "Facts about one package, fetched on demand"),
            "centralcloud.packages.search": (self.packages_search, "Full-text package search blended with popularity"),
            "centralcloud.packages.request": (self.packages_request, "Ask the sync to keep packages fresh"),
            "centralcloud.packages.advisories": (
                self.packages_advisories, "Security advisories affecting a package version, most severe first"
            ),
        }


async def start(
    client: Client, *, handlers: dict[str, tuple[Handler, str]], limits: Limits, queue_group: str
) -> micro.Service:
    """Start the service and its endpoints on `client`."""
    service = micro.Service(
        client,
        micro.ServiceConfig(
            name=SERVICE_NAME,
            version=__version__,
            description="CentralCloud package knowledge: facts about open-source packages and community patterns",
            metadata={"schemas": "schemas/ in the source distribution"},
            queue_group=queue_group,
        ),
    )
    await service.start()
    semaphore = asyncio.Semaphore(limits.max_concurrency)
    for subject, (handler, description) in handlers.items():
        endpoint = ConcurrentEndpoint(
            service,
            micro.EndpointConfig(
                name=subject.removeprefix("centralcloud.").replace(".", "-"),
                subject=subject,
                handler=_never_called,
                queue_group=queue_group,
                metadata={"description": description},
            ),
            handler=handler,
            limits=limits,
            semaphore=semaphore,
        )
        await endpoint._start()
        service._endpoints.append(endpoint)
    await client.flush()
    return service


async def _never_called(request: object) -> None:  # pragma: no cover - ConcurrentEndpoint bypasses it
    raise AssertionError("ConcurrentEndpoint handles requests itself")


async def stop(service: micro.Service, limits: Limits, *, grace: float = 10.0) -> None:
    """Stop taking requests, then let those in flight finish (up to `grace` seconds)."""
    await service.stop()
    if limits.tasks:
        await asyncio.wait(set(limits.tasks), timeout=grace)
