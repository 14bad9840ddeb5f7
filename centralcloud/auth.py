"""Who may do what on the NATS server: roles, credentials, and how each role connects.

NATS itself enforces everything here. Each user is an nkey (an Ed25519 key pair;
the server keeps only the public key) with publish and subscribe permissions. The
four roles:

- service: answers every `centralcloud.>` request in its queue group, replies
  through `allow_responses`, publishes alerts and cache invalidations, and manages
  its JetStream streams;
- instance (one user per instance id): asks `centralcloud.packages.*` and
  `centralcloud.patterns.*`, reports only as itself, and reads only its own alerts
  through its own consumer;
- ops: `centralcloud.sync.*`, `$SRV.>`, and read-only JetStream information;
- monitoring: the service API's ping/info/stats and read-only JetStream information
  (the HTTP monitoring port is bound to localhost in the shipped configuration).

Every user reads replies only under its own inbox prefix `_INBOX_<user>`, so no user
can read another's answers.

An auth directory holds one sub-directory per user (its seed file and a
`connection.json` with what a client needs to connect) and the generated
`nats-users.conf` that the server configuration includes. The users file is always
rebuilt from the user directories, so adding or removing an instance is one command
and nobody edits subjects by hand.

Pure functions and file I/O only: this module must stay importable by instances'
tooling without the service's dependencies.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import ipaddress
import json
import os
import pathlib
import re
import secrets
import shutil
import signal
import ssl
import tempfile
from collections.abc import Mapping
from typing import Any

import nkeys
import psutil

from centralcloud import errors

SERVICE = "service"
OPS = "ops"
MONITORING = "monitoring"
INSTANCE = "instance"
ROLES = (SERVICE, OPS, MONITORING, INSTANCE)

REPORT_STREAM = "CENTRALCLOUD_REPORTS"
"""JetStream stream (created by the service) capturing `centralcloud.patterns.report.>`."""
ALERT_STREAM = "CENTRALCLOUD_ALERTS"
"""JetStream stream (created by the service) capturing `centralcloud.alerts.>`."""
REPORT_PREFIX = "centralcloud.patterns.report"
ALERT_PREFIX = "centralcloud.alerts"
INVALIDATE_SUBJECT = "centralcloud.cache.invalidate"

USERS_FILE = "nats-users.conf"
"""The generated file the server configuration includes (never committed: it lists the deployment's keys)."""
EMBEDDED_PID_FILE = "nats-server.pid"
"""Written by the embedded nats-server that uses an auth directory."""
CONNECTION_FILE = "connection.json"
SEED_FILE = "user.nk"
INSTANCES_DIR = "instances"

# Instance ids become one subject token, one inbox prefix and one JetStream consumer
# name: ASCII letters, digits, '_' and '-' are safe in all three. Full match on the
# exact input, so "alpha\n" is refused rather than trimmed.
_INSTANCE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

# Read-only JetStream API requests: account, stream and consumer information and
# listings. Nothing here creates, changes, purges or deletes.
_JS_READ_ONLY = [
    "$JS.API.INFO",
    "$JS.API.STREAM.INFO.*",
    "$JS.API.STREAM.NAMES",
    "$JS.API.STREAM.LIST",
    "$JS.API.CONSUMER.INFO.*.*",
    "$JS.API.CONSUMER.NAMES.*",
    "$JS.API.CONSUMER.LIST.*",
]


def validate_instance_id(instance_id: str) -> str:
    """`instance_id` unchanged if it full-matches [A-Za-z0-9_-]{1,64}; otherwise a BadRequest."""
    if not isinstance(instance_id, str) or _INSTANCE_ID.fullmatch(instance_id) is None:
        raise errors.BadRequest(
            f"invalid instance id {instance_id!r}: use 1 to 64 ASCII letters, digits, '_' or '-'",
            instance_id=str(instance_id),
        )
    return instance_id


def user_name(*, role: str, instance_id: str | None = None) -> str:
    """The user's name: the role, or `instance-<id>` for an instance."""
    if role == INSTANCE:
        return f"instance-{validate_instance_id(instance_id)}"
    if role not in ROLES:
        raise errors.ConfigError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    return role


def inbox_prefix(name: str) -> str:
    """The only inbox a user may subscribe to; nats-py's `inbox_prefix`."""
    return f"_INBOX_{name}"


def report_subject(instance_id: str) -> str:
    return f"{REPORT_PREFIX}.{validate_instance_id(instance_id)}"


def alert_subject(instance_id: str) -> str:
    return f"{ALERT_PREFIX}.{validate_instance_id(instance_id)}"


def alert_consumer(instance_id: str) -> str:
    """The name of the instance's own consumer on the alert stream (its id)."""
    return validate_instance_id(instance_id)


def permissions(*, role: str, instance_id: str | None = None) -> dict[str, Any]:
    """The NATS permissions block of a role (of one instance, for the instance role)."""
    name = user_name(role=role, instance_id=instance_id)
    inbox = [f"{inbox_prefix(name)}.>"]
    if role == SERVICE:
        return {
            "publish": {
                "allow": [
                    f"{ALERT_PREFIX}.>",
                    INVALIDATE_SUBJECT,
                    # Its own streams: create and update them, consume the report stream.
                    "$JS.API.>",
                    f"$JS.ACK.{REPORT_STREAM}.>",
                ],
            },
            "subscribe": {
                # Request subjects (queue group), the invalidation broadcast, the
                # service API's discovery subjects, and its own replies.
                "allow": ["centralcloud.>", "$SRV.>", *inbox],
            },
            # Replies to whoever asked, whatever their inbox: the server allows one
            # publish to each reply subject the service has received a request with.
            "allow_responses": True,
        }
    if role == OPS:
        return {
            "publish": {"allow": ["centralcloud.sync.*", "$SRV.>", *_JS_READ_ONLY]},
            "subscribe": {"allow": inbox},
        }
    if role == MONITORING:
        return {
            "publish": {
                "allow": [
                    "$SRV.PING", "$SRV.PING.>", "$SRV.INFO", "$SRV.INFO.>", "$SRV.STATS", "$SRV.STATS.>",
                    *_JS_READ_ONLY,
                ],
            },
            "subscribe": {"allow": inbox},
        }
    consumer = alert_consumer(instance_id)
    return {
        "publish": {
            "allow": [
                "centralcloud.packages.*",
                # Pattern questions are one token; those about an instance carry its
                # id as the last token, and only its own id is allowed.
                "centralcloud.patterns.*",
                f"centralcloud.patterns.*.{instance_id}",
                # Its consumer on the alert stream, filtered to its own subject. The
                # filter is part of the create subject (nats-server 2.10+), and the
                # server refuses a config whose filter differs from it, so no other
                # instance's alerts can be read by widening the filter.
                f"$JS.API.CONSUMER.CREATE.{ALERT_STREAM}.{consumer}.{alert_subject(instance_id)}",
                f"$JS.API.CONSUMER.INFO.{ALERT_STREAM}.{consumer}",
                f"$JS.API.CONSUMER.MSG.NEXT.{ALERT_STREAM}.{consumer}",
                f"$JS.API.CONSUMER.DELETE.{ALERT_STREAM}.{consumer}",
                f"$JS.ACK.{ALERT_STREAM}.{consumer}.>",
            ],
        },
        # Only its inbox: replies, JetStream publish acknowledgements and pulled alerts.
        "subscribe": {"allow": inbox},
    }


@dataclasses.dataclass(frozen=True)
class User:
    """One user of the auth directory, as read from its `connection.json`."""

    name: str
    """`service`, `ops`, `monitoring` or `instance-<id>`."""
    role: str
    """One of ROLES."""
    public_key: str
    """The nkey the server authenticates (starts with U)."""
    directory: pathlib.Path
    """Where its seed and connection settings are."""
    instance_id: str | None = None
    """The instance's id, for the instance role."""


def render_users_conf(users: list[User]) -> str:
    """The server configuration fragment listing `users` with their roles' permissions."""
    lines = [
        "# Generated by `centralcloud auth init` and `centralcloud instance add`: do not edit, do not commit.",
        "# Regenerated from the user directories beside this file; reload nats-server after a change.",
        "",
    ]
    for role in (SERVICE, OPS, MONITORING):
        # Role permissions as variables, so each user line stays short and the roles read once.
        lines.append(f"{role.upper()}_PERMISSIONS = {json.dumps(permissions(role=role), indent=2)}")
        lines.append("")
    lines.append("authorization {")
    lines.append("  users = [")
    for user in sorted(users, key=_user_order):
        if user.role == INSTANCE:
            block = json.dumps(permissions(role=INSTANCE, instance_id=user.instance_id))
        else:
            block = f"${user.role.upper()}_PERMISSIONS"
        lines.append(f"    # {user.name}")
        lines.append(f'    {{ nkey: "{user.public_key}", permissions: {block} }}')
    lines.append("  ]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _user_order(user: User) -> tuple[int, str]:
    return (ROLES.index(user.role), user.name)


def new_seed() -> bytes:
    """A fresh nkey user seed (`SU…`)."""
    return nkeys.encode_seed(secrets.token_bytes(32), nkeys.PREFIX_BYTE_USER)


def public_key(seed: bytes) -> str:
    return nkeys.from_seed(bytearray(seed)).public_key.decode()


def user_directory(auth_dir: pathlib.Path, *, role: str, instance_id: str | None = None) -> pathlib.Path:
    if role == INSTANCE:
        return pathlib.Path(auth_dir) / INSTANCES_DIR / validate_instance_id(instance_id)
    return pathlib.Path(auth_dir) / user_name(role=role)


def read_users(auth_dir: pathlib.Path) -> list[User]:
    """Every user with a directory under `auth_dir`."""
    auth_dir = pathlib.Path(auth_dir)
    found = []
    candidates = [auth_dir / role for role in (SERVICE, OPS, MONITORING)]
    instances = auth_dir / INSTANCES_DIR
    if instances.is_dir():
        candidates += sorted(path for path in instances.iterdir() if path.is_dir())
    for directory in candidates:
        settings = _read_connection(directory)
        if settings is None:
            continue
        found.append(
            User(
                name=settings["user"],
                role=settings["role"],
                public_key=settings["public_key"],
                directory=directory,
                instance_id=settings.get("instance_id"),
            )
        )
    return found


def _read_connection(directory: pathlib.Path) -> dict[str, Any] | None:
    try:
        return json.loads((directory / CONNECTION_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise errors.ConfigError(f"unreadable credentials in {directory}: {err}") from err


def write_users_conf(auth_dir: pathlib.Path) -> pathlib.Path:
    """Rebuild `nats-users.conf` from the user directories; returns its path."""
    path = pathlib.Path(auth_dir) / USERS_FILE
    _write_atomic(path, render_users_conf(read_users(auth_dir)), mode=0o644)
    return path


def create_user(
    auth_dir: pathlib.Path,
    *,
    role: str,
    instance_id: str | None = None,
    url: str | None = None,
    tls_ca: pathlib.Path | None = None,
    replace: bool = False,
) -> User:
    """Write a user's seed and connection settings (its own directory, readable by its owner only).

    An existing user is kept unless `replace`, which issues a new key (the old one
    stops working at the server's next reload).
    """
    name = user_name(role=role, instance_id=instance_id)
    directory = user_directory(auth_dir, role=role, instance_id=instance_id)
    existing = _read_connection(directory)
    if existing is not None and not replace:
        raise errors.ConfigError(
            f"{name} already has credentials in {directory}; remove them first to issue new ones",
            directory=str(directory),
        )
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    seed = new_seed()
    _write_atomic(directory / SEED_FILE, seed.decode() + "\n", mode=0o600)
    settings: dict[str, Any] = {
        "user": name,
        "role": role,
        "public_key": public_key(seed),
        "nkey_seed_file": SEED_FILE,
        "inbox_prefix": inbox_prefix(name),
    }
    if url:
        # A comma-separated list names several cluster nodes; nats-py takes the list as `servers`.
        settings["servers"] = [part.strip() for part in url.split(",") if part.strip()]
    if tls_ca:
        settings["tls_ca"] = str(pathlib.Path(tls_ca).resolve())
    if role == INSTANCE:
        settings |= {
            "instance_id": instance_id,
            "report_subject": report_subject(instance_id),
            "alert_subject": alert_subject(instance_id),
            "alert_stream": ALERT_STREAM,
            "alert_consumer": alert_consumer(instance_id),
        }
    _write_atomic(directory / CONNECTION_FILE, json.dumps(settings, indent=2) + "\n", mode=0o600)
    return User(
        name=name, role=role, public_key=settings["public_key"], directory=directory, instance_id=instance_id
    )


def init(auth_dir: pathlib.Path, *, url: str | None = None, tls_ca: pathlib.Path | None = None) -> list[User]:
    """Create the service, ops and monitoring users that do not exist yet, then rebuild the users file.

    Returns the users created (none on a second call: existing keys are kept)."""
    auth_dir = pathlib.Path(auth_dir)
    auth_dir.mkdir(parents=True, exist_ok=True)
    created = []
    for role in (SERVICE, OPS, MONITORING):
        if _read_connection(user_directory(auth_dir, role=role)) is None:
            created.append(create_user(auth_dir, role=role, url=url, tls_ca=tls_ca))
    write_users_conf(auth_dir)
    return created


def add_instance(
    auth_dir: pathlib.Path, instance_id: str, *, url: str | None = None, tls_ca: pathlib.Path | None = None
) -> User:
    """Credentials for one instance, written to `auth_dir/instances/<id>/`; the users file is rebuilt.

    The service, ops and monitoring users are created too when missing, so a new
    deployment needs this command only."""
    validate_instance_id(instance_id)
    init(auth_dir, url=url, tls_ca=tls_ca)
    user = create_user(auth_dir, role=INSTANCE, instance_id=instance_id, url=url, tls_ca=tls_ca)
    write_users_conf(auth_dir)
    return user


def remove_instance(auth_dir: pathlib.Path, instance_id: str) -> bool:
    """Delete an instance's credentials and rebuild the users file; False if it had none."""
    directory = user_directory(auth_dir, role=INSTANCE, instance_id=instance_id)
    if not directory.is_dir():
        return False
    shutil.rmtree(directory)
    write_users_conf(auth_dir)
    return True


def _write_atomic(path: pathlib.Path, text: str, *, mode: int) -> None:
    # The server may reload while we write, and a seed must never be readable by
    # others even for a moment: write a private temporary file, then rename it.
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        pathlib.Path(temporary).unlink(missing_ok=True)
        raise


def is_loopback(host: str) -> bool:
    """True when `host` names this machine only (so no one else can connect)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def embedded_config(*, auth_dir: pathlib.Path, store_dir: pathlib.Path, server_name: str) -> pathlib.Path:
    """A nats-server configuration for the embedded server with the roles; returns its path.

    Creates the service, ops and monitoring users on first use. The listen address
    is not in it: EmbeddedNats passes it on the command line."""
    auth_dir = pathlib.Path(auth_dir).resolve()
    init(auth_dir)
    text = "\n".join(
        [
            "# Written by `centralcloud serve` for its embedded nats-server with authentication.",
            f"server_name: {json.dumps(server_name)}",
            f"jetstream {{ store_dir: {json.dumps(str(pathlib.Path(store_dir).resolve()))} }}",
            # `instance add` finds the running server here and tells it to reload the users.
            f"pid_file: {json.dumps(str(auth_dir / EMBEDDED_PID_FILE))}",
            f'include "{USERS_FILE}"',
            "",
        ]
    )
    path = auth_dir / "embedded-nats.conf"
    _write_atomic(path, text, mode=0o600)
    return path


def reload_embedded(auth_dir: pathlib.Path) -> int | None:
    """Make a running embedded nats-server re-read the users file (SIGHUP); its pid, or None if none runs."""
    try:
        pid = int((pathlib.Path(auth_dir) / EMBEDDED_PID_FILE).read_text().strip())
        process = psutil.Process(pid)
        # A stale pid file may name an unrelated process by now.
        if "nats-server" not in process.name():
            return None
        process.send_signal(signal.SIGHUP)
    except (OSError, ValueError, psutil.Error):
        return None
    return pid


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
        if directory.name == CONNECTION_FILE:
            directory = directory.parent
        settings = _read_connection(directory)
        if settings is None:
            raise errors.ConfigError(f"no {CONNECTION_FILE} in {directory}: create it with `centralcloud instance add`")
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
    settings = _read_connection(pathlib.Path(directory))
    if settings is None:
        raise errors.ConfigError(f"no {CONNECTION_FILE} in {directory}")
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


def add_subcommands(commands: Any) -> None:
    """`centralcloud auth init` and `centralcloud instance add|remove|list` on the CLI's subparsers."""
    auth = commands.add_parser("auth", help="credentials for the service, ops and monitoring users")
    auth.add_argument("action", choices=("init",))
    _common_arguments(auth)

    instance = commands.add_parser("instance", help="add or remove an instance's NATS credentials")
    instance.add_argument("action", choices=("add", "remove", "list"))
    instance.add_argument("id", nargs="?", help="instance id: 1-64 ASCII letters, digits, '_' or '-'")
    instance.add_argument("--replace", action="store_true", help="issue new credentials for an existing instance")
    _common_arguments(instance)


def _common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--auth-dir", help="where credentials and nats-users.conf go (also CENTRALCLOUD_AUTH_DIR)")
    parser.add_argument("--url", help="NATS URL(s) written into the connection settings, comma-separated for a cluster")
    parser.add_argument("--tls-ca", help="CA certificate clients should trust, written into the connection settings")


def run_command(args: argparse.Namespace, *, auth_dir: pathlib.Path) -> int:
    """Carry out `auth ...` or `instance ...`; prints what was done and what to do next."""
    auth_dir = pathlib.Path(args.auth_dir or auth_dir).expanduser()
    tls_ca = pathlib.Path(args.tls_ca) if getattr(args, "tls_ca", None) else None
    if args.command == "auth":
        created = init(auth_dir, url=args.url, tls_ca=tls_ca)
        for user in created:
            print(f"created {user.name}: {user.directory}")
        if not created:
            print(f"service, ops and monitoring users already exist in {auth_dir}")
        _print_reload_hint(auth_dir)
        return 0
    if args.action == "list":
        for user in read_users(auth_dir):
            print(f"{user.name}\t{user.role}\t{user.public_key}\t{user.directory}")
        return 0
    if not args.id:
        raise errors.BadRequest(f"usage: centralcloud instance {args.action} ID")
    if args.action == "remove":
        if not remove_instance(auth_dir, args.id):
            raise errors.NotFound(f"instance {args.id!r} has no credentials in {auth_dir}")
        print(f"removed instance {args.id}")
        _print_reload_hint(auth_dir)
        return 0
    if args.replace:
        init(auth_dir, url=args.url, tls_ca=tls_ca)
        user = create_user(auth_dir, role=INSTANCE, instance_id=args.id, url=args.url, tls_ca=tls_ca, replace=True)
        write_users_conf(auth_dir)
    else:
        user = add_instance(auth_dir, args.id, url=args.url, tls_ca=tls_ca)
    print(f"created {user.name}: give {user.directory} to the instance (its {SEED_FILE} is a secret)")
    print(f"  it connects with: CENTRALCLOUD_NATS_CREDENTIALS={user.directory}")
    _print_reload_hint(auth_dir)
    return 0


def _print_reload_hint(auth_dir: pathlib.Path) -> None:
    pid = reload_embedded(auth_dir)
    if pid is not None:
        print(f"the embedded nats-server (pid {pid}) reloaded {auth_dir / USERS_FILE}")
        return
    print(
        f"{auth_dir / USERS_FILE} updated; make running servers read it: "
        "`nats-server --signal reload` (or `docker compose kill -s SIGHUP nats-1 nats-2 nats-3`)"
    )
