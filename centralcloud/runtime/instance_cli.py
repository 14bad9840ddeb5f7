"""The instance's side of the CLI: publish a report, ask about patterns, read alerts."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import socket
import sys
from typing import Any

from centralcloud.core import errors
from centralcloud.edge import streams
from centralcloud.runtime import asking, auth, config
from centralcloud.runtime import nats_options as nats_connection
from centralcloud.wire import subjects


def add_commands(commands: Any) -> list[argparse.ArgumentParser]:
    """Add report, patterns and alerts; returns the parsers that ask the service."""
    report = commands.add_parser("report", help="publish a dependency report (native, CycloneDX, SPDX or GitHub snapshot)")
    report.add_argument("file", help="the report file, or - for standard input")
    report.add_argument("--instance", help="this instance's id (default: CENTRALCLOUD_INSTANCE, else the host name)")
    report.add_argument("--project", help="the project's name (sent as the Project header; wins over the document)")
    report.add_argument("--json", action="store_true", help="print the stream's acknowledgement as JSON")

    patterns = commands.add_parser("patterns", help="what the team uses: usage, pairs, popular, instance")
    patterns.add_argument("question", choices=("usage", "pairs", "popular", "instance"))
    patterns.add_argument("package", nargs="?", help="usage/pairs: a purl or ECOSYSTEM/NAME; popular: packages, pairs or patterns; instance: its id")
    patterns.add_argument("--ecosystem", help="popular: only this purl type")
    patterns.add_argument("--limit", type=int, help="how many at most")
    patterns.add_argument("--json", action="store_true", help="print the reply as JSON")

    alerts = commands.add_parser("alerts", help="read an instance's alerts")
    alerts.add_argument("--instance", help="the instance (default: CENTRALCLOUD_INSTANCE, else the host name)")
    alerts.add_argument("--follow", action="store_true", help="keep waiting for new alerts")
    alerts.add_argument("--json", action="store_true", help="one JSON alert per line")
    return [patterns, alerts, report]


def default_instance(value: str | None) -> str:
    chosen = value or os.environ.get("CENTRALCLOUD_INSTANCE") or re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname())[:64]
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", chosen):
        raise errors.BadRequest(f"{chosen!r} is not an instance id: 1-64 characters of A-Z, a-z, 0-9, _ and -")
    return chosen


def patterns_payload(args: argparse.Namespace) -> tuple[subjects.Subject, dict[str, Any]]:

    payload: dict[str, Any] = {}
    if args.limit is not None:
        payload["limit"] = args.limit
    if args.question in ("usage", "pairs"):
        if not args.package:
            raise errors.BadRequest(f"usage: centralcloud patterns {args.question} PURL (or ECOSYSTEM/NAME)")
        payload |= asking.package_payload(args.package, None)
        return (subjects.PATTERNS_USAGE if args.question == "usage" else subjects.PATTERNS_PAIRS), payload
    if args.question == "popular":
        payload["kind"] = args.package or "packages"
        if args.ecosystem:
            payload["ecosystem"] = args.ecosystem
        return subjects.PATTERNS_POPULAR, payload
    payload["instance"] = default_instance(args.package)
    return subjects.PATTERNS_INSTANCE, payload


def show(question: str, reply: dict[str, Any]) -> str:
    if question == "usage":
        trend = reply["trend"]
        lines = [
            f"{reply['purl']}: {reply['instances']} instances, {reply['projects']} projects, "
            f"{reply['direct_instances']} instances directly; +{trend['added_30d']} / -{trend['dropped_30d']} in 30 days"
        ]
        lines += [f"  {v['version']}: {v['instances']} instances" for v in reply["versions"]]
        return "\n".join(lines)
    if question == "pairs":
        lines = [f"with {reply['purl']} (over {reply['transactions']} projects):"]
        lines += [
            f"  {p['purl']}: {p['projects']} projects, {p['instances']} instances, confidence {p['confidence']:.2f}, "
            f"lift {p['lift']:.2f}, npmi {p['npmi']:.2f}"
            for p in reply["pairs"]
        ] or ["  nothing shared by enough instances yet"]
        return "\n".join(lines)
    if question == "popular":
        if reply["kind"] == "packages":
            rows = [f"{p['purl']}: {p['instances']} instances (+{p['trend']['added_30d']} / -{p['trend']['dropped_30d']})" for p in reply["packages"]]
        elif reply["kind"] == "pairs":
            rows = [f"{' + '.join(p['purls'])}: {p['projects']} projects, lift {p['lift']:.2f}" for p in reply["pairs"]]
        else:
            rows = [
                f"{p['kind']}/{p['name']}: {p['instances']} instances"
                + (f"; with {', '.join(a['purl'] for a in p['associated'])}" if p["associated"] else "")
                for p in reply["patterns"]
            ]
        return "\n".join(rows) or "nothing shared by enough instances yet"
    lines = [f"instance {reply['instance']}:"]
    lines += [
        f"  {p['project']}: {p['dependencies']} dependencies ({p['format']}), last report {p['last_reported_at']}"
        + (f", {p['rejected_entries']} entries rejected" if p["rejected_entries"] else "")
        for p in reply["projects"]
    ]
    lines += [f"  rejected {r['received_at']}: {r['reason']}: {r['detail']}" for r in reply["rejected"]]
    return "\n".join(lines)


async def publish_report(settings: config.Settings, *, path: str, instance: str, project: str | None) -> dict[str, Any]:
    """Publish the file into the reports stream; the stream's acknowledgement as a dict."""
    body = sys.stdin.buffer.read() if path == "-" else open(path, "rb").read()
    headers = {
        # The same content re-sent within the duplicate window is stored once.
        streams.MSG_ID: "report-" + hashlib.sha256(b"\0".join([instance.encode(), (project or "").encode(), body])).hexdigest()[:40],
    }
    if project:
        headers[streams.PROJECT] = project
    client = await _connect(settings)
    try:
        ack = await client.jetstream().publish(
            f"{subjects.PATTERNS_REPORT.name}.{instance}", body, headers=headers, timeout=10
        )
    finally:
        await client.close()
    return {"stream": ack.stream, "seq": ack.seq, "duplicate": bool(ack.duplicate), "message_id": headers[streams.MSG_ID]}


async def read_alerts(settings: config.Settings, *, instance: str, follow: bool, as_json: bool) -> int:
    from nats.js import api

    client = await _connect(settings)
    shown = 0
    try:
        js = client.jetstream()
        # Named after the instance: the shipped permissions let an instance create only that consumer.
        subscription = await js.pull_subscribe(
            f"{subjects.ALERTS.name}.{instance}", durable=auth.alert_consumer(instance), stream=streams.ALERTS_STREAM,
            config=api.ConsumerConfig(ack_policy=api.AckPolicy.NONE, deliver_policy=api.DeliverPolicy.ALL, inactive_threshold=60),
        )
        while True:
            try:
                batch = await subscription.fetch(batch=100, timeout=2)
            except TimeoutError:
                if follow:
                    continue
                break
            for msg in batch:
                alert = json.loads(msg.data)
                shown += 1
                print(json.dumps(alert) if as_json else _alert_line(alert), flush=True)
            if not follow and batch and batch[-1].metadata.num_pending == 0:
                break
    finally:
        await client.close()
    if not shown and not as_json:
        print(f"no alerts for {instance}", file=sys.stderr)
    return 0


def _alert_line(alert: dict[str, Any]) -> str:
    what = alert["kind"]
    advisory = alert.get("advisory")
    if advisory:
        what = f"{advisory['id']} ({', '.join(advisory['aliases'])})" if advisory["aliases"] else advisory["id"]
        what += f" {advisory['severity'] or 'severity unknown'}"
        what += f", fixed in {advisory['first_fixed']}" if advisory.get("first_fixed") else ""
    elif alert.get("reason"):
        what += f": {alert['reason']}"
    return f"{alert['detected_at']} {alert['project']}: {alert['purl']} {what}"


async def _connect(settings: config.Settings) -> Any:
    import nats

    try:
        return await nats.connect(
            settings.nats_url, connect_timeout=5, max_reconnect_attempts=0, allow_reconnect=False,
            **nats_connection.settings_connect_options(settings),
        )
    except Exception as err:
        raise errors.ConfigError(
            f"cannot reach NATS at {settings.nats_url} ({err}); set --nats-url or CENTRALCLOUD_NATS_URL"
        ) from err
