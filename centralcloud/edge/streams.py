"""JetStream at the edge: the reports stream and its shared consumer, the alerts stream.

Reports are events: an instance publishes on `centralcloud.patterns.report.<instance>` and
the CENTRALCLOUD_REPORTS stream keeps them whether or not a replica runs. All replicas pull
from one durable consumer, so each report is processed by one of them; a report is
acknowledged only after its snapshot is committed, so a replica killed mid-report leaves it
to be redelivered, and the stored stream sequence makes the redelivery change nothing.

A report that keeps failing for an internal reason is retried with a growing delay, then
parked as rejected; the server's own redelivery limit is off, so no message is ever
dropped silently and none can wedge the consumer.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from nats import errors as nats_errors
from nats.js import api
from nats.js import errors as js_errors

from centralcloud.facts import knowledge
from centralcloud.wire import subjects

logger = logging.getLogger(__name__)
T = TypeVar("T")

REPORTS_STREAM = subjects.REPORTS_STREAM
ALERTS_STREAM = subjects.ALERTS_STREAM
REPORTS_CONSUMER = "centralcloud-reports"
MSG_ID = "Nats-Msg-Id"
PROJECT = "Project"
INTERNAL = "internal"
"""Rejected-report reason of a message parked after too many failed attempts."""


@dataclasses.dataclass(frozen=True)
class Settings:
    replicas: int = 1
    """Stream replicas: 1 embedded, 3 in a cluster."""
    max_age: float = 30 * 86400
    """Seconds a report stays in the stream (it is processed long before)."""
    max_bytes: int = 1 << 30
    """Bytes the reports stream holds at most."""
    duplicate_window: float = 600
    """Seconds within which a re-sent Nats-Msg-Id is dropped by the stream."""
    alerts_max_age: float = 90 * 86400
    """Seconds an alert waits in its stream for an offline instance."""
    alerts_duplicate_window: float = 86400
    """Seconds within which a second publish of an alert is dropped (the record covers the rest)."""
    ack_wait: float = 30
    """Seconds before a report delivered to a replica that went silent is delivered again."""
    max_attempts: int = 5
    """Deliveries of one report before it is parked as rejected."""
    concurrency: int = 4
    """Transactions (groups of a pulled batch, by instance) run at once per replica."""
    batch: int = 200
    """Reports pulled from the stream at once, at most."""
    lanes: int = 3
    """Pull loops per replica, each with its own batch in flight."""
    batch_bytes: int = 64 << 20
    """Bytes a pull should hold at most: with large reports, fewer are pulled at once (going by
    the sizes of those seen lately)."""


def _stream_config(*, name: str, subject: str, settings: Settings, max_age: float, window: float, max_bytes: int) -> api.StreamConfig:
    return api.StreamConfig(
        name=name, subjects=[subject], storage=api.StorageType.FILE, num_replicas=settings.replicas,
        max_age=max_age, max_bytes=max_bytes, duplicate_window=min(window, max_age),
        retention=api.RetentionPolicy.LIMITS, discard=api.DiscardPolicy.OLD,
    )


NOT_READY = (nats_errors.TimeoutError, nats_errors.NoRespondersError, js_errors.ServiceUnavailableError)
"""What JetStream answers while it cannot act yet: a cluster still electing its leaders, a
stream leader moving after a node went away, or replicas creating the same stream at once."""


async def patiently(what: str, action: Callable[[], Awaitable[T]], *, patience: float) -> T:
    """`action()`, tried again while JetStream is not ready, for up to `patience` seconds."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + patience
    delay = 0.5
    while True:
        try:
            return await action()
        except NOT_READY as err:
            if loop.time() + delay > give_up:
                raise
            logger.warning(
                "JetStream not ready to %s (%s); trying again in %.1f s", what, type(err).__name__, delay,
                extra={"action": "jetstream_wait"},
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def ensure_streams(js: Any, settings: Settings, *, patience: float = 120.0) -> None:
    """Create both streams, or bring an existing one to this configuration (idempotent).

    Replicas of a cluster start together and find JetStream busy: they wait for it (up to
    `patience` seconds) rather than fail to start."""
    wanted = [
        _stream_config(
            name=REPORTS_STREAM, subject=f"{subjects.PATTERNS_REPORT.name}.>", settings=settings,
            max_age=settings.max_age, window=settings.duplicate_window, max_bytes=settings.max_bytes,
        ),
        _stream_config(
            name=ALERTS_STREAM, subject=f"{subjects.ALERTS.name}.>", settings=settings,
            max_age=settings.alerts_max_age, window=settings.alerts_duplicate_window, max_bytes=-1,
        ),
    ]
    for config in wanted:
        await patiently(f"set up {config.name}", lambda config=config: _ensure_stream(js, config), patience=patience)


async def _ensure_stream(js: Any, config: api.StreamConfig) -> None:
    try:
        await js.stream_info(config.name)
    except js_errors.NotFoundError:
        with contextlib.suppress(js_errors.BadRequestError):  # another replica created it just now
            await js.add_stream(config)
            return
    await js.update_stream(config)


class ReportConsumer:
    """Pulls reports from the shared durable consumer and hands them to `knowledge.ingest_batch`."""

    def __init__(self, *, js: Any, the_knowledge: knowledge.Knowledge, settings: Settings) -> None:
        self.js = js
        self.knowledge = the_knowledge
        self.settings = settings
        self.prefix = f"{subjects.PATTERNS_REPORT.name}."

    async def subscribe(self) -> Any:
        await self.js.add_consumer(REPORTS_STREAM, api.ConsumerConfig(
            durable_name=REPORTS_CONSUMER, ack_policy=api.AckPolicy.EXPLICIT, ack_wait=self.settings.ack_wait,
            max_deliver=-1, filter_subject=f"{self.prefix}>", max_ack_pending=1000,
            deliver_policy=api.DeliverPolicy.ALL,
        ))
        return await self.js.pull_subscribe_bind(durable=REPORTS_CONSUMER, stream=REPORTS_STREAM)

    async def run(self, stop: asyncio.Event) -> None:
        """Pull and ingest until `stop`, in `lanes` loops: while one lane waits for PostgreSQL, another
        decodes, as two replicas would (their transactions take instances in one order, so they
        never deadlock)."""
        await asyncio.gather(*(self._lane(stop) for _ in range(self.settings.lanes)))

    async def _lane(self, stop: asyncio.Event) -> None:
        # A replica that cannot bind now (its node gone, the consumer's leader moving) keeps trying.
        subscription = await patiently("bind the report consumer", self.subscribe, patience=float("inf"))
        recent = 16 << 10  # bytes per report as seen lately: a decaying maximum (a starting guess)
        try:
            while not stop.is_set():
                size = max(1, min(self.settings.batch, self.settings.batch_bytes // max(recent, 1)))
                try:
                    batch = await subscription.fetch(batch=size, timeout=1)
                except TimeoutError:
                    continue
                except Exception as err:  # the connection reconnects; keep pulling
                    logger.warning("report fetch failed: %s", err, extra={"action": "report_fetch"})
                    await asyncio.sleep(1)
                    continue
                if batch:
                    # One large report shrinks the next pulls at once; small ones grow them slowly.
                    sizes = [len(msg.data) for msg in batch]
                    recent = max(max(sizes), (3 * recent + sum(sizes) // len(sizes)) // 4)
                # One transaction per group; an instance's reports stay in one group, so two
                # groups never wait on each other's rows.
                groups: dict[int, list[Any]] = {}
                for msg in batch:
                    groups.setdefault(hash(self._token(msg)) % self.settings.concurrency, []).append(msg)
                await asyncio.gather(*(self.handle_batch(group) for group in groups.values()))
        finally:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    def _token(self, msg: Any) -> str:
        return msg.subject[len(self.prefix):] if msg.subject.startswith(self.prefix) else msg.subject

    async def handle(self, msg: Any) -> None:
        await self.handle_batch([msg])

    async def handle_batch(self, msgs: list[Any]) -> None:
        """Ingest a batch; acknowledge each report after its snapshot committed, deliver a failed one again."""
        ready = []
        for msg in msgs:
            meta, headers = msg.metadata, msg.headers or {}
            if meta.num_delivered <= self.settings.max_attempts:
                ready.append(msg)
                continue
            # It was handed out that often without an answer: it may be what kills replicas.
            try:
                await self.knowledge.reject(
                    stream_seq=meta.sequence.stream, message_id=headers.get(MSG_ID), instance=self._token(msg),
                    project=headers.get(PROJECT), reason=INTERNAL,
                    detail=f"not processed after {self.settings.max_attempts} deliveries",
                )
            except Exception as err:
                await self._failed(msg, err)
                continue
            await msg.ack()
        if not ready:
            return
        incoming = [
            knowledge.Incoming(
                token=self._token(msg), body=msg.data, project=(msg.headers or {}).get(PROJECT),
                stream_seq=msg.metadata.sequence.stream, message_id=(msg.headers or {}).get(MSG_ID),
            )
            for msg in ready
        ]
        try:
            outcomes: list[Any] = await self.knowledge.ingest_batch(incoming)
        except Exception as err:
            outcomes = [err] * len(ready)
        for msg, outcome in zip(ready, outcomes):
            if isinstance(outcome, BaseException):
                await self._failed(msg, outcome)
            else:
                await msg.ack()

    async def _failed(self, msg: Any, err: BaseException) -> None:
        meta, headers = msg.metadata, msg.headers or {}
        seq = meta.sequence.stream
        logger.warning(
            "report %s failed (delivery %s): %s", seq, meta.num_delivered, err,
            extra={"action": "report_failed", "seq": seq},
        )
        if meta.num_delivered >= self.settings.max_attempts:
            with contextlib.suppress(Exception):
                await self.knowledge.reject(
                    stream_seq=seq, message_id=headers.get(MSG_ID), instance=self._token(msg),
                    project=headers.get(PROJECT), reason=INTERNAL,
                    detail=f"failed {meta.num_delivered} times; last: {type(err).__name__}: {err}",
                )
                await msg.term()
                return
        with contextlib.suppress(Exception):
            await msg.nak(delay=min(2.0 ** meta.num_delivered, 30.0))


class AlertPublisher:
    """Publishes an alert into its stream with the alert's own Nats-Msg-Id."""

    def __init__(self, js: Any) -> None:
        self.js = js

    async def __call__(self, subject: str, payload: bytes, message_id: str) -> None:
        await self.js.publish(subject, payload, stream=ALERTS_STREAM, headers={MSG_ID: message_id}, timeout=5)
