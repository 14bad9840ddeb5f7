"""The NATS service: nats.micro endpoints that handle each request in its own task.

Built on nats-py's `nats.micro`, so `$SRV.PING/INFO/STATS` (what `nats micro ls/info/stats`
use) see the service. nats-py delivers a subscription's messages one at a time; each
endpoint here instead starts a task per message, bounded by a semaphore shared by the
whole service, so a request waiting on PostgreSQL or a registry does not hold up the
requests behind it. Stats are kept per request exactly as nats.micro keeps them.

Bulkheads: an answer the read cache holds is sent before a slot is taken, so cached answers
never wait behind requests stuck on PostgreSQL or a registry; when every slot is taken, a
request is refused at once with a 503 `overloaded` and a retry hint rather than queued
silently; and every request runs under a deadline (below the `nats` CLI's 5 s), which the
store reads to bound its queries.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.micro import request as micro_request
from nats.micro import service as micro

from centralcloud import __version__
from centralcloud.core import deadlines, errors
from centralcloud.wire import errors as wire_errors
from centralcloud.wire import subjects

logger = logging.getLogger(__name__)

Handler = Callable[[bytes], Awaitable[bytes]]
CachedAnswer = Callable[[bytes], Awaitable[bytes | None]]
"""Answers a request from memory without waiting on anything, or None when it cannot."""

INBOX_PREFIX = "_INBOX_"
"""Replies to `_INBOX_<user>.…` name the user: with the shipped NATS permissions each user may
read only its own inbox, so a caller cannot pose as another and still get its answers."""
CALLER_HEADER = "CentralCloud-Client"
"""A header a client may set to name itself (its instance id) when its inbox does not."""

_CALLER: contextvars.ContextVar[str] = contextvars.ContextVar("centralcloud_caller", default="anonymous")


def caller() -> str:
    """Who sent the request being handled (see `identify`)."""
    return _CALLER.get()


def caller_instance() -> str | None:
    """The instance id of the caller when its inbox names an instance user, else None."""
    user = caller().removeprefix("user:") if caller().startswith("user:") else ""
    prefix = subjects.INSTANCE_USER.partition("{")[0]
    return user.removeprefix(prefix) if user.startswith(prefix) else None


def identify(msg: Msg) -> str:
    """The caller: the user its inbox prefix names, else its declared client id, else "anonymous"."""
    reply = msg.reply or ""
    if reply.startswith(INBOX_PREFIX):
        return "user:" + reply[len(INBOX_PREFIX):].partition(".")[0]
    declared = (msg.headers or {}).get(CALLER_HEADER, "").strip()
    if declared:
        return "client:" + declared[:128]
    return "anonymous"

# nats.micro has no public way to add an endpoint of our own class (`Service.add_endpoint`
# and `Group.add_endpoint` always build a plain `Endpoint`, which handles one message at a
# time), so ConcurrentEndpoint relies on these private names. nats-py is pinned to the minor
# version they were checked against, `start` refuses to run without them, and
# tests/test_service.py fails naming any that an upgrade removed.
MICRO_INTERNALS: tuple[tuple[str, str], ...] = (
    ("Service", "_client"),  # the connection to subscribe on
    ("Service", "_endpoints"),  # what $SRV.INFO/STATS report and `stop` unsubscribes
    ("Endpoint", "_start"),  # overridden: subscribe with our dispatcher
    ("Endpoint", "_stop"),  # called by Service.stop; unsubscribes `_subscription`
    ("Endpoint", "_service"),
    ("Endpoint", "_subject"),
    ("Endpoint", "_queue_group"),
    ("Endpoint", "_subscription"),
    # The counters $SRV.STATS reads, kept per request as nats.micro keeps them.
    ("Endpoint", "_num_requests"),
    ("Endpoint", "_num_errors"),
    ("Endpoint", "_last_error"),
    ("Endpoint", "_processing_time"),
    ("Endpoint", "_average_processing_time"),
)


def missing_internals(service: micro.Service, endpoint: micro.Endpoint) -> list[str]:
    """The names of MICRO_INTERNALS that `service` or `endpoint` lack, as nats.micro.Owner.name."""
    owners = {"Service": service, "Endpoint": endpoint}
    return [f"nats.micro.{owner}.{name}" for owner, name in MICRO_INTERNALS if not hasattr(owners[owner], name)]


@dataclass
class Limits:
    """Bounds applied at the edge."""

    max_request_bytes: int = 65536
    """Requests larger than this are refused with a 400."""
    max_concurrency: int = 64
    """Requests handled at once by this process; one more is refused with a 503 at once."""
    deadline: float = 4.5
    """Seconds a request may take before it is answered with a 504 (below the `nats` CLI's 5 s)."""
    retry_after: float = 1.0
    """Seconds an overloaded process asks callers to wait before trying again."""
    queue_wait: float = 1.0
    """Seconds a request may wait for a free slot before it is refused with a 503."""
    max_waiting: int = 1024
    """Requests waiting for a slot at once; more are refused at once."""
    waiting: int = 0
    """Requests waiting for a slot now."""
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    """Requests in flight (kept so they are not garbage-collected and can be awaited on stop)."""


class ConcurrentEndpoint(micro.Endpoint):
    """A nats.micro endpoint that handles each request in its own task."""

    def __init__(
        self, service: micro.Service, config: micro.EndpointConfig, *, handler: Handler, limits: Limits,
        semaphore: asyncio.Semaphore, cached: CachedAnswer | None = None,
    ) -> None:
        super().__init__(service, config)
        self._bytes_handler = handler
        self._cached = cached
        self._limits = limits
        self._semaphore = semaphore

    async def _start(self) -> None:
        self._subscription = await self._service._client.subscribe(
            subject=self._subject, queue=self._queue_group, cb=self._dispatch
        )

    async def _dispatch(self, msg: Msg) -> None:
        if self._cached is not None and len(msg.data) <= self._limits.max_request_bytes:
            started = time.perf_counter_ns()
            try:
                hit = await self._cached(msg.data)
            except Exception:  # the full path will answer, with the right error if any
                hit = None
            if hit is not None:
                self._num_requests += 1
                await self._reply(msg, reply=hit, failure=None)
                self._account(started)
                return
        if self._limits.waiting >= self._limits.max_waiting:
            await self._refuse(msg)
            return
        task = asyncio.create_task(self._queued(msg))
        self._limits.tasks.add(task)
        task.add_done_callback(self._limits.tasks.discard)

    async def _queued(self, msg: Msg) -> None:
        """Wait a bounded time for a slot, then handle the request or refuse it."""
        self._limits.waiting += 1
        try:
            async with asyncio.timeout(self._limits.queue_wait):
                await self._semaphore.acquire()
        except TimeoutError:
            await self._refuse(msg)
            return
        finally:
            self._limits.waiting -= 1
        try:
            await self._handle(msg)
        finally:
            self._semaphore.release()

    async def _refuse(self, msg: Msg) -> None:
        started = time.perf_counter_ns()
        self._num_requests += 1
        busy = errors.Overloaded(
            f"this replica is handling {self._limits.max_concurrency} requests; try again shortly",
            retry_after=self._limits.retry_after,
        )
        self._count_failure(busy)
        await self._reply(msg, reply=None, failure=busy)
        self._account(started)

    async def _handle(self, msg: Msg) -> None:
        started = time.perf_counter_ns()
        self._num_requests += 1
        failure: errors.CentralCloudError | None = None
        try:
            if len(msg.data) > self._limits.max_request_bytes:
                raise errors.PayloadTooLarge(
                    f"request is {len(msg.data)} bytes; at most {self._limits.max_request_bytes} are accepted"
                )
            _CALLER.set(identify(msg))
            with deadlines.within(self._limits.deadline):
                try:
                    async with asyncio.timeout(self._limits.deadline):
                        reply = await self._bytes_handler(msg.data)
                except TimeoutError:
                    raise errors.DeadlineExceeded(
                        f"the request took longer than its {self._limits.deadline:g}s deadline; try again shortly"
                    ) from None
        except errors.CentralCloudError as err:
            failure = err
        except Exception as err:  # the last line of defence: never crash, never stay silent
            logger.exception("unhandled error on %s", self._subject, extra={"action": "handle", "subject": self._subject})
            failure = errors.CentralCloudError(f"internal error: {type(err).__name__}")
        if failure is not None:
            self._count_failure(failure)
            reply = None
        await self._reply(msg, reply=reply, failure=failure)
        self._account(started)

    async def _reply(self, msg: Msg, *, reply: bytes | None, failure: errors.CentralCloudError | None) -> None:
        if not msg.reply:
            return
        request = micro_request.Request(msg)
        try:
            if failure is None:
                await request.respond(reply or b"")
            else:
                await request.respond_error(
                    wire_errors.code(failure), wire_errors.description(failure), data=wire_errors.encode(failure)
                )
        except Exception:  # the connection may be closing; nothing more to do for this request
            logger.warning("could not send reply on %s", self._subject, exc_info=True, extra={"action": "reply"})

    def _account(self, started: int) -> None:
        self._processing_time += time.perf_counter_ns() - started
        self._average_processing_time = int(self._processing_time / self._num_requests)

    def _count_failure(self, err: errors.CentralCloudError) -> None:
        self._num_errors += 1
        self._last_error = f"{err.status}:{err.message}"
        if err.status >= 500 and not isinstance(err, errors.Overloaded):  # refusals are counted, not logged one by one
            logger.warning("%s failed: %s", self._subject, err.message, extra={"action": "handle", "status": err.status})


async def start(
    client: Client, *, handlers: dict[subjects.Subject, Handler], limits: Limits, queue_group: str,
    cached: dict[subjects.Subject, CachedAnswer] | None = None,
) -> micro.Service:
    """Start the service and an endpoint per subject on `client`."""
    service = micro.Service(
        client,
        micro.ServiceConfig(
            name=subjects.PREFIX,
            version=__version__,
            description="CentralCloud package knowledge: facts about open-source packages and community patterns",
            metadata={"schemas": "schemas/ in the source distribution"},
            queue_group=queue_group,
        ),
    )
    semaphore = asyncio.Semaphore(limits.max_concurrency)
    endpoints = [
        ConcurrentEndpoint(
            service,
            micro.EndpointConfig(
                name=subject.local.replace(".", "-"),
                subject=subject.name,
                handler=_never_called,
                queue_group=queue_group,
                metadata={"description": subject.description},
            ),
            handler=handler,
            limits=limits,
            semaphore=semaphore,
            cached=(cached or {}).get(subject),
        )
        for subject, handler in handlers.items()
    ]
    missing = [name for endpoint in endpoints for name in missing_internals(service, endpoint)]
    if missing:
        raise RuntimeError(f"this nats-py lacks what the service needs: {', '.join(sorted(set(missing)))}")
    await service.start()
    for endpoint in endpoints:
        await endpoint._start()
        service._endpoints.append(endpoint)
    await client.flush()
    return service


async def _never_called(request: object) -> None:  # pragma: no cover - ConcurrentEndpoint bypasses it
    raise AssertionError("ConcurrentEndpoint handles requests itself")


def stats(service: micro.Service) -> list[tuple[str, int, int, float]]:
    """(subject, requests, errors, seconds spent) per endpoint, as $SRV.STATS counts them."""
    return [
        (e._subject, e._num_requests, e._num_errors, e._processing_time / 1e9)
        for e in service._endpoints
        if isinstance(e, ConcurrentEndpoint)
    ]


async def stop(service: micro.Service, limits: Limits, *, grace: float = 10.0) -> None:
    """Stop taking requests, then let those in flight finish (up to `grace` seconds)."""
    await service.stop()
    if limits.tasks:
        await asyncio.wait(set(limits.tasks), timeout=grace)
