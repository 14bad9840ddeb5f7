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

from centralcloud.core import errors

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
    npm_downloads_url: str | None = None
    """npm downloads API base URL; unset means the public API."""
    pypi_downloads_url: str | None = None
    """pypistats API base URL; unset means the public pypistats.org."""
    pypi_downloads_enabled: bool = True
    """Fetch PyPI download counts from pypistats during the sync."""
    pypi_downloads_budget: int = pydantic.Field(default=400, ge=0)
    """Requests a sync run may send to pypistats at most (its operators ask for light use)."""
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
    workers: int = pydantic.Field(default=1, ge=1, le=256)
    """Service processes `serve` runs on this machine, in one queue group (CLI: --workers)."""
    queue_group: str = "centralcloud"
    """Queue group shared by replicas so each request goes to one of them."""
    cache_ttl: float = pydantic.Field(default=300.0, ge=0)
    """Seconds a read stays in the in-memory cache."""
    cache_size: int = pydantic.Field(default=10000, gt=0)
    """Entries the in-memory cache holds at most."""

    advisories_freshness_hours: float = pydantic.Field(default=48.0, gt=0)
    """Hours an advisory source's answer about a package counts. Past it, with no source
    answering now, a version with no known advisory is "affected: null", never "not affected"."""
    advisories_from_imports: bool = False
    """This deployment relies on imported OSV exports (`centralcloud advisories import`), e.g.
    air-gapped: for the ecosystems an export covers, answers rest on it and say as of when."""
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
