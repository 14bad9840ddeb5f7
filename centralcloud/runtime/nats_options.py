"""How a client connects to NATS with credentials: nkey seed, inbox prefix, TLS; and what
to say when the server refuses."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pathlib
import ssl
import urllib.parse
from collections.abc import Mapping
from typing import Any

import nats

from centralcloud.core import errors
from centralcloud.runtime import credentials as credential_files

logger = logging.getLogger(__name__)

def tls_context(
    *, ca_file: str | os.PathLike[str] | None, cert_file: str | os.PathLike[str] | None = None,
    key_file: str | os.PathLike[str] | None = None,
) -> ssl.SSLContext | None:
    """A client TLS context trusting `ca_file` (and presenting a client certificate if given); None without a CA."""
    if ca_file is None and cert_file is None:
        return None
    try:
        context = ssl.create_default_context(cafile=None if ca_file is None else str(ca_file))
        if cert_file is not None:
            context.load_cert_chain(certfile=str(cert_file), keyfile=None if key_file is None else str(key_file))
    except (OSError, ssl.SSLError) as err:
        raise errors.ConfigError(f"cannot load the TLS files for NATS: {err}") from err
    return context


def connect_options(
    *,
    credentials: str | os.PathLike[str] | None = None,
    nkey_seed: str | os.PathLike[str] | None = None,
    user: str | None = None,
    password: str | None = None,
    inbox: str | None = None,
    tls_ca: str | os.PathLike[str] | None = None,
    tls_cert: str | os.PathLike[str] | None = None,
    tls_key: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Keyword arguments for `nats.connect` (besides the URL).

    `credentials` is a user directory written by this module (or its
    `connection.json`); it supplies the seed, the inbox prefix and the CA, and the
    other arguments override what it says. Nothing given: no options, as for an
    open localhost server."""
    options: dict[str, Any] = {}
    if credentials is not None:
        directory = pathlib.Path(credentials)
        if directory.name == credential_files.CONNECTION_FILE:
            directory = directory.parent
        settings = credential_files.read_connection(directory)
        if settings is None:
            raise errors.ConfigError(f"no {credential_files.CONNECTION_FILE} in {directory}: create it with `centralcloud instance add`")
        options["nkeys_seed"] = str(directory / settings["nkey_seed_file"])
        options["inbox_prefix"] = settings["inbox_prefix"]
        if tls_ca is None and settings.get("tls_ca"):
            tls_ca = settings["tls_ca"]
    if nkey_seed is not None:
        options["nkeys_seed"] = str(nkey_seed)
    if user is not None:
        options["user"] = user
        options["password"] = password or ""
    if inbox is not None:
        options["inbox_prefix"] = inbox
    context = tls_context(ca_file=tls_ca, cert_file=tls_cert, key_file=tls_key)
    if context is not None:
        options["tls"] = context
    return options


def settings_connect_options(settings: Any, *, credentials: pathlib.Path | None = None) -> dict[str, Any]:
    """`connect_options` from the service's settings (the `nats_*` fields); `credentials` is a fallback directory."""
    password = getattr(settings, "nats_password", None)
    return connect_options(
        credentials=getattr(settings, "nats_credentials", None) or credentials,
        nkey_seed=getattr(settings, "nats_nkey_seed", None),
        user=getattr(settings, "nats_user", None),
        password=None if password is None else password.get_secret_value(),
        inbox=getattr(settings, "nats_inbox_prefix", None),
        tls_ca=getattr(settings, "nats_tls_ca", None),
        tls_cert=getattr(settings, "nats_tls_cert", None),
        tls_key=getattr(settings, "nats_tls_key", None),
    )


def connection_settings(directory: pathlib.Path) -> Mapping[str, Any]:
    """What `instance add` wrote for a user (subjects, stream and consumer names, URL)."""
    settings = credential_files.read_connection(pathlib.Path(directory))
    if settings is None:
        raise errors.ConfigError(f"no {credential_files.CONNECTION_FILE} in {directory}")
    return settings


class PermissionDenied(errors.ConfigError):
    """The server refused a publish or subscription for these credentials."""

    kind = "permission_denied"


class PermissionWatch:
    """Turns the server's asynchronous permission errors into a prompt failure of the request that caused them.

    NATS reports a refused publish with an error on the connection, not on the
    request, which would otherwise just wait out its timeout. Pass `on_error` as
    nats-py's `error_cb` and ask through `request`."""

    def __init__(self) -> None:
        self._denied: asyncio.Future[str] | None = None

    async def on_error(self, err: Exception) -> None:
        if "permissions violation" in str(err).lower():
            denied = self._future()
            if not denied.done():
                denied.set_result(str(err).removeprefix("nats: "))

    async def request(self, client: Any, subject: str, payload: bytes, *, timeout: float) -> Any:
        denied = self._future()
        asking = asyncio.ensure_future(client.request(subject, payload, timeout=timeout))
        await asyncio.wait({asking, denied}, return_when=asyncio.FIRST_COMPLETED)
        if not asking.done():
            asking.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asking
            raise PermissionDenied(
                f"these NATS credentials may not ask {subject} ({denied.result()}): instances ask "
                "centralcloud.packages.*, ops run centralcloud.sync.* (docs/security.md)",
                subject=subject,
            )
        return asking.result()

    def _future(self) -> asyncio.Future[str]:
        if self._denied is None:
            self._denied = asyncio.get_running_loop().create_future()
        return self._denied


def connect_hint(err: BaseException) -> str:
    """A hint for a refused connection: what to set when the server wants credentials."""
    if "authorization violation" in str(err).lower():
        return " The server wants credentials: set CENTRALCLOUD_NATS_CREDENTIALS (docs/security.md)."
    return ""


# --- command line -------------------------------------------------------------------------------


def server_list(url: str) -> list[str]:
    """The servers a `CENTRALCLOUD_NATS_URL` names: one URL, or several separated by commas
    (the nodes of a cluster). nats-py takes a list, but reads a comma-joined string as one host."""
    servers = [part.strip() for part in url.split(",") if part.strip()]
    if not servers:
        raise errors.ConfigError(f"no NATS server in {url!r}")
    return servers


def nats_host_port(url: str) -> tuple[str, int]:
    """Host and port the embedded nats-server listens on: those of the first URL."""
    parsed = urllib.parse.urlsplit(server_list(url)[0])
    return parsed.hostname or "127.0.0.1", parsed.port or 4222


class ConnectionEvents:
    """Logs each loss and each return of the NATS connection once, however often nats-py
    reports it; also what health reports about NATS (a `health.NatsProbe`)."""

    def __init__(self) -> None:
        self.client: nats.aio.client.Client | None = None
        self.up = True
        self.last_error: str | None = None

    def connected(self) -> bool:
        return self.client is not None and self.client.is_connected

    async def round_trip(self, timeout: float) -> None:
        assert self.client is not None
        await self.client.flush(timeout=timeout)

    async def disconnected(self) -> None:
        # Our own drain and close disconnect too: that is a shutdown, not a lost connection.
        if self.client is not None and (self.client.is_closed or self.client.is_draining):
            self.up = False
            return
        if self.up:
            self.up = False
            self.last_error = "disconnected"
            logger.warning("NATS connection lost; reconnecting", extra={"action": "nats_disconnect"})

    async def reconnected(self) -> None:
        if not self.up:
            self.up = True
            logger.info("NATS connection back", extra={"action": "nats_reconnect"})

    async def error(self, err: Exception) -> None:
        self.last_error = f"{type(err).__name__}: {err}"
        logger.warning("NATS: %s", err, extra={"action": "nats"})


async def connect_nats(
    url: str, *, events: ConnectionEvents | None = None, options: dict[str, Any] | None = None
) -> nats.aio.client.Client:
    """The service's connection: reconnects for ever, and logs each loss and return once.
    `url` may name several servers (comma-separated); the first is preferred, so replicas can be
    spread over a cluster's nodes, and the others (and those the cluster announces) take over
    when it goes. `options` are `connect_options` (credentials, inbox prefix, TLS)."""
    events = events or ConnectionEvents()
    try:
        events.client = await nats.connect(
            servers=server_list(url), dont_randomize=True, name="centralcloud", error_cb=events.error, disconnected_cb=events.disconnected,
            reconnected_cb=events.reconnected, max_reconnect_attempts=-1, connect_timeout=5,
            allow_reconnect=True, **(options or {}),
        )
        return events.client
    except Exception as err:
        raise errors.ConfigError(
            f"cannot connect to NATS at {url}: {err}; start a nats-server there or set CENTRALCLOUD_NATS_URL"
        ) from err


async def close_nats(client: nats.aio.client.Client) -> None:
    with contextlib.suppress(Exception):
        await client.drain()
    with contextlib.suppress(Exception):
        await client.close()

