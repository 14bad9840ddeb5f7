"""How the CLI asks the service: one request over NATS (with the configured credentials),
asked again after a 504 while the fetch goes on, and the reply printed for a person or as JSON."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from typing import Any

from nats.micro import request as micro_request

from centralcloud.core import errors
from centralcloud.runtime import config, display
from centralcloud.runtime import nats_options as nats_connection
from centralcloud.wire import subjects


class RemoteError(Exception):
    def __init__(self, status: str, body: dict[str, Any]) -> None:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        super().__init__(error.get("message") or status)
        self.status = status
        self.body = body


async def ask(
    settings: config.Settings, subject: subjects.Subject, payload: dict[str, Any], *, timeout: float
) -> dict[str, Any]:
    import nats.aio.client
    from nats import errors as nats_errors

    watch = nats_connection.PermissionWatch()
    client = nats.aio.client.Client()
    try:
        await client.connect(
            settings.nats_url, connect_timeout=5, max_reconnect_attempts=0, allow_reconnect=False,
            error_cb=watch.on_error, **nats_connection.settings_connect_options(settings),
        )
    except Exception as err:
        # A refused client (bad credentials) still holds its socket until closed.
        await client.close()
        raise errors.ConfigError(
            f"cannot reach NATS at {settings.nats_url} ({err}); is `centralcloud serve` running? "
            "Set --nats-url or CENTRALCLOUD_NATS_URL to point elsewhere." + nats_connection.connect_hint(err)
        ) from err
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while True:
            try:
                reply = await watch.request(
                    client, subject.name, json.dumps(payload).encode(), timeout=max(deadline - loop.time(), 0.1)
                )
            except nats_errors.NoRespondersError:
                raise errors.ConfigError(
                    f"no CentralCloud service answers on {settings.nats_url}; start `centralcloud serve`"
                ) from None
            except nats_errors.TimeoutError:
                raise errors.DeadlineExceeded(f"no reply on {subject.name} within {timeout:g}s") from None
            body = json.loads(reply.data) if reply.data else {}
            status = (reply.headers or {}).get(micro_request.ERROR_CODE_HEADER)
            # A 504 means the fetch goes on in the service: a person would simply ask again.
            if status == "504" and loop.time() + 1 < deadline:
                await asyncio.sleep(1)
                continue
            if status:
                raise RemoteError(status, body)
            return body
    finally:
        await client.close()


def package_payload(ecosystem: str, name: str | None) -> dict[str, Any]:
    if name is None:
        if ecosystem.startswith("pkg:"):
            return {"purl": ecosystem}
        if "/" in ecosystem and not ecosystem.startswith("@"):
            eco, _, rest = ecosystem.partition("/")
            return {"ecosystem": eco, "name": rest}
        raise errors.BadRequest("name a package as ECOSYSTEM NAME, ECOSYSTEM/NAME or a purl")
    return {"ecosystem": ecosystem, "name": name}


async def follow(settings: config.Settings, run_id: int, *, timeout: float) -> dict[str, Any]:
    """Redraw one progress line on a terminal; elsewhere print a line whenever it changes."""
    live = sys.stderr.isatty()
    shown = ""
    while True:
        reply = await ask(settings, subjects.SYNC_STATUS, {"run": run_id}, timeout=timeout)
        run = reply["runs"][0]
        line = display.progress_bar(run)
        if live:
            print("\r" + line.ljust(len(shown)), end="", file=sys.stderr, flush=True)
        elif line != shown:
            print(line, file=sys.stderr, flush=True)
        shown = line
        if run["state"] != "running":
            if live:
                print(file=sys.stderr)
            return reply
        await asyncio.sleep(0.5)


def answer(
    settings: config.Settings, args: argparse.Namespace, subject: subjects.Subject, payload: dict[str, Any],
    *, render: Callable[[dict[str, Any]], str],
) -> int:
    """Ask the service and print its reply, as JSON with --json."""
    reply = asyncio.run(ask(settings, subject, payload, timeout=args.timeout))
    print(json.dumps(reply, indent=2) if args.json else render(reply))
    return 0

