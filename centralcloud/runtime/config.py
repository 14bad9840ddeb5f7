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

    # ---- answers ----
    recommend_min_age_days: float = pydantic.Field(default=0.0, ge=0)
    """Default cooldown of `recommend`: versions published fewer days ago are skipped (a request's
    min_age_days overrides it), like Renovate's minimumReleaseAge."""
    default_python: str = "3.12"
    """Python a PyPI dependency tree is resolved for when the request names none."""
    discovery_timeout: float = pydantic.Field(default=2.0, gt=0)
    """Seconds `recommendations` waits for the registries' search endpoints."""
    framework_min_plugins: int = pydantic.Field(default=3, ge=1)
    """Stored plugins a package needs for `frameworks.detect` to call it a framework."""
    # ---- end answers ----
    # --- safety (issue 11): deadlines, bulkheads, limits, health ---
    request_deadline: float = pydantic.Field(default=4.5, gt=0)
    """Seconds any request may take before it is answered with a 504; below the `nats` CLI's 5 s."""
    database_timeout: float = pydantic.Field(default=2.0, gt=0)
    """Seconds a request waits for PostgreSQL (a free connection plus the query) before a 503 database_unavailable."""
    queue_wait: float = pydantic.Field(default=1.0, ge=0)
    """Seconds a request waits for one of the max_concurrency slots before a 503 overloaded."""
    source_connections: int = pydantic.Field(default=16, gt=0)
    """HTTP requests in flight to one source at once."""
    source_failures_before_rest: int = pydantic.Field(default=3, gt=0)
    """Failed attempts in a row (timeouts, refused connections, 5xx) after which a source rests."""
    source_rest_seconds: float = pydantic.Field(default=30.0, gt=0)
    """Seconds a source rests: its requests fail at once with a retry hint, then one trial goes."""
    background_fetches_per_source: int = pydantic.Field(default=32, gt=0)
    """On-demand fetches under way per source; a request needing one more gets a 503 overloaded."""
    request_rate_per_minute: float = pydantic.Field(default=6000.0, gt=0)
    """Packages one caller may send to packages.request per minute (after a burst), else a 429."""
    request_burst: int = pydantic.Field(default=5000, gt=0)
    """Packages one caller may send to packages.request at once before its rate applies."""
    not_found_days: float = pydantic.Field(default=7.0, ge=0)
    """Days the sync skips a requested name its registry reported as not found."""
    sync_max_unknown: int = pydantic.Field(default=1000, ge=0)
    """Requested names never stored that one sync run asks registries about, most requested first."""
    health_http: str | None = None
    """host:port for an HTTP server with /healthz and /metrics (Prometheus text); unset means none."""
    # --- end safety ---
    # Pattern knowledge (issue 8).
    pattern_min_instances: int = pydantic.Field(default=3, ge=1)
    """A pair, pattern or version count is shown only when at least this many instances share it."""
    pattern_recompute_seconds: float = pydantic.Field(default=30.0, gt=0)
    """After reports change a project's set, pairs and learned patterns are recomputed within this many seconds."""
    pattern_fetch_rate: float = pydantic.Field(default=2.0, gt=0)
    """Reported packages not stored yet are fetched in the background at most this many per second."""
    reports_replicas: int = pydantic.Field(default=1, ge=1, le=5)
    """Replicas of the reports and alerts streams: 1 for one nats-server, 3 in a cluster."""
    reports_max_age_days: float = pydantic.Field(default=30.0, gt=0)
    """Days a report stays in the reports stream."""
    reports_max_bytes: int = pydantic.Field(default=1 << 30, gt=0)
    """Bytes the reports stream holds at most."""
    reports_duplicate_window: float = pydantic.Field(default=600.0, gt=0)
    """Seconds within which a report re-sent with the same Nats-Msg-Id is dropped."""
    reports_ack_wait: float = pydantic.Field(default=30.0, gt=0)
    """Seconds before a report handed to a replica that went silent is handed out again."""
    reports_max_attempts: int = pydantic.Field(default=5, ge=1)
    """Deliveries of a report failing for an internal reason before it is parked as rejected."""
    alerts_max_age_days: float = pydantic.Field(default=90.0, gt=0)
    """Days an alert waits in the alerts stream for an offline instance."""

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
