"""Optional HTTP for orchestrators: `/healthz` (the health answer as JSON) and `/metrics`
(Prometheus text, written by the maintained `prometheus_client` library).

Off unless `health_http` names a host and port. Figures are gathered when scraped, from the
health checks and from the counters `$SRV.STATS` reports, so nothing is counted twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import msgspec
import prometheus_client
from aiohttp import web
from prometheus_client import core as prometheus_core

from centralcloud.facts import health
from centralcloud.wire import messages

logger = logging.getLogger(__name__)

_STATES = ("up", "degraded", "down")

EndpointStats = Callable[[], Iterable[tuple[str, int, int, float]]]
"""(subject, requests, errors, seconds spent) per endpoint."""


def parse_address(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host or "127.0.0.1", int(port)


class Figures:
    """A prometheus_client collector over the newest health answer and the endpoints' counters."""

    def __init__(self, *, endpoint_stats: EndpointStats) -> None:
        self.endpoint_stats = endpoint_stats
        self.latest: messages.HealthReply | None = None

    def collect(self) -> Iterable[prometheus_core.Metric]:
        requests = prometheus_core.CounterMetricFamily(
            "centralcloud_requests", "Requests answered, per subject", labels=["subject"]
        )
        failures = prometheus_core.CounterMetricFamily(
            "centralcloud_request_errors", "Requests answered with an error, per subject", labels=["subject"]
        )
        seconds = prometheus_core.CounterMetricFamily(
            "centralcloud_request_seconds", "Seconds spent answering, per subject", labels=["subject"]
        )
        for subject, count, errors_count, spent in self.endpoint_stats():
            requests.add_metric([subject], count)
            failures.add_metric([subject], errors_count)
            seconds.add_metric([subject], spent)
        yield from (requests, failures, seconds)
        if self.latest is None:
            return
        state = prometheus_core.GaugeMetricFamily(
            "centralcloud_dependency_state", "1 for the state each dependency is in", labels=["name", "kind", "state"]
        )
        latency = prometheus_core.GaugeMetricFamily(
            "centralcloud_dependency_latency_seconds", "Newest check or request time", labels=["name", "kind"]
        )
        for component in self.latest.components:
            for name in _STATES:
                state.add_metric([component.name, component.kind, name], 1.0 if component.state == name else 0.0)
            if component.latency_ms is not None:
                latency.add_metric([component.name, component.kind], component.latency_ms / 1000)
        yield from (state, latency)


async def serve(address: str, *, checks: health.Health, endpoint_stats: EndpointStats) -> web.AppRunner:
    """Start the HTTP server; the caller cleans the returned runner up."""
    registry = prometheus_client.CollectorRegistry()
    figures = Figures(endpoint_stats=endpoint_stats)
    registry.register(figures)

    async def healthz(request: web.Request) -> web.Response:
        answer = await checks.check()
        figures.latest = answer
        return web.Response(
            body=msgspec.json.encode(answer), content_type="application/json",
            status=503 if answer.state == "down" else 200,
        )

    async def metrics(request: web.Request) -> web.Response:
        figures.latest = await checks.check()
        return web.Response(
            body=prometheus_client.generate_latest(registry),
            headers={"Content-Type": prometheus_client.CONTENT_TYPE_LATEST},
        )

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    host, port = parse_address(address)
    site = web.TCPSite(runner, host=host, port=port)
    await site.start()
    logger.info("health and metrics on http://%s:%s", host, port, extra={"action": "serve_http"})
    return runner
