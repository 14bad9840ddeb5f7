"""Configuration: defaults, then an optional TOML file, then CENTRALCLOUD_* environment variables.

Every field can be set as `CENTRALCLOUD_<FIELD>` (upper case) or as `<field> = …` in the
TOML file named by `--config` or `CENTRALCLOUD_CONFIG`.
"""

from __future__ import annotations

import os
import pathlib
import tomllib
from collections.abc import Mapping
from typing import Any

import pydantic

from centralcloud import errors

PREFIX = "CENTRALCLOUD_"


def default_data_dir() -> pathlib.Path:
    base = os.environ.get("XDG_DATA_HOME") or str(pathlib.Path.home() / ".local" / "share")
    return pathlib.Path(base) / "centralcloud"


class Settings(pydantic.BaseModel):
    """Everything the service can be told."""

    model_config = pydantic.ConfigDict(use_attribute_docstrings=True, extra="forbid", frozen=True)

    nats_url: str = "nats://127.0.0.1:4222"
    """NATS server to serve on. In embedded mode the embedded nats-server listens on its host and port."""
    database_url: str | None = None
    """PostgreSQL DSN. Unset means embedded mode: PostgreSQL runs from the data directory."""
    data_dir: pathlib.Path = pydantic.Field(default_factory=default_data_dir)
    """Where embedded PostgreSQL and JetStream keep their data."""
    embedded: bool = False
    """Start embedded PostgreSQL and nats-server even when URLs are configured (CLI: --embedded)."""
    embedded_nats: bool | None = None
    """Start the embedded nats-server: None follows embedded mode, True/False forces it."""
    nats_secure: bool = False
    """Run the embedded nats-server with the roles of `centralcloud.auth` even on localhost (serve --secure).

    It always does when it listens beyond localhost."""
    auth_dir: pathlib.Path | None = None
    """Where `centralcloud instance add` writes credentials and nats-users.conf; unset: `<data_dir>/auth`."""
    nats_credentials: pathlib.Path | None = None
    """A credentials directory from `centralcloud auth init` / `instance add` (seed, inbox prefix, CA)."""
    nats_nkey_seed: pathlib.Path | None = None
    """A file holding an nkey user seed to connect with."""
    nats_user: str | None = None
    """User name to connect with (with nats_password)."""
    nats_password: pydantic.SecretStr | None = None
    """Password to connect with."""
    nats_inbox_prefix: str | None = None
    """Inbox prefix for replies (`_INBOX_<user>` under the shipped permissions)."""
    nats_tls_ca: pathlib.Path | None = None
    """CA certificate that signed the NATS server's certificate; set to connect with TLS."""
    nats_tls_cert: pathlib.Path | None = None
    """Client certificate, for servers that verify clients."""
    nats_tls_key: pathlib.Path | None = None
    """Key of the client certificate."""

    npm_url: str | None = None
    """npm registry base URL; unset means npm's own configured registry."""
    pypi_url: str | None = None
    """PyPI base URL (the JSON API root); unset means pip's configured index."""
    crates_url: str | None = None
    """crates.io API base URL."""
    crates_index_url: str | None = None
    """crates.io sparse index base URL."""
    hex_url: str | None = None
    """hex.pm API base URL."""
    github_url: str | None = None
    """GitHub REST API base URL."""
    osv_url: str | None = None
    """OSV API base URL."""
    github_token: pydantic.SecretStr | None = None
    """GitHub token; without one the 60 requests/hour unauthenticated budget applies."""
    hex_api_key: pydantic.SecretStr | None = None
    """hex.pm API key, raising its rate limit."""
    contact: str | None = None
    """Contact (URL or e-mail) added to the User-Agent, as crates.io's crawler policy asks."""

    request_timeout: float = pydantic.Field(default=4.0, gt=0)
    """Seconds an on-demand fetch may take before the request gets a 504 (the fetch goes on).

    Below the `nats` CLI's default 5 s request timeout, so no asker is ever left without an answer."""
    http_timeout: float = pydantic.Field(default=20.0, gt=0)
    """Seconds one HTTP request to a registry may take."""
    max_request_bytes: int = pydantic.Field(default=65536, gt=0)
    """Largest accepted request body."""
    max_concurrency: int = pydantic.Field(default=64, gt=0)
    """Requests handled at once per process; more wait in NATS's pending queue."""
    queue_group: str = "centralcloud"
    """Queue group shared by replicas so each request goes to one of them."""
    cache_ttl: float = pydantic.Field(default=300.0, ge=0)
    """Seconds a read stays in the in-memory cache."""
    cache_size: int = pydantic.Field(default=10000, gt=0)
    """Entries the in-memory cache holds at most."""

    sync_cron: str = "0 2 * * *"
    """When the scheduled sync runs (cron syntax)."""
    sync_timezone: str = "UTC"
    """Time zone the cron expression is read in."""
    sync_enabled: bool = True
    """Run the scheduled sync in this process (centralcloud.sync.run works either way)."""
    retention_days: int = pydantic.Field(default=90, gt=0)
    """Packages nobody requested or reported for this long are removed."""
    dependency_depth: int = pydantic.Field(default=2, ge=0)
    """How deep declared runtime dependencies of used packages are synced too."""

    log_level: str = "INFO"
    """Python logging level."""

    @property
    def use_embedded_postgres(self) -> bool:
        return self.embedded or self.database_url is None

    @property
    def credentials_dir(self) -> pathlib.Path:
        return self.auth_dir or self.data_dir / "auth"

    @property
    def use_embedded_nats(self) -> bool:
        if self.embedded_nats is not None:
            return self.embedded_nats
        return self.use_embedded_postgres


def load(
    *, config_file: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None, **overrides: Any
) -> Settings:
    """Build settings from the TOML file, the environment and explicit overrides (highest first: overrides)."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    config_file = config_file or env.get(PREFIX + "CONFIG")
    if config_file:
        path = pathlib.Path(config_file)
        try:
            values.update(tomllib.loads(path.read_text(encoding="utf-8")))
        except (OSError, tomllib.TOMLDecodeError) as err:
            raise errors.ConfigError(f"cannot read configuration file {path}: {err}") from err
    for field in Settings.model_fields:
        raw = env.get(PREFIX + field.upper())
        if raw is not None and raw != "":
            values[field] = raw
    values.update({key: value for key, value in overrides.items() if value is not None})
    try:
        return Settings.model_validate(values)
    except pydantic.ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc'])}: {issue['msg']}" for issue in err.errors()
        )
        raise errors.ConfigError(f"invalid configuration: {problems}") from err
