"""The sources the service talks to, built from its settings: one adapter per ecosystem (from
its description in core/ecosystems.py), GitHub, OSV and the download-count APIs."""

from __future__ import annotations

import importlib
import logging

import aiohttp

from centralcloud import __version__
from centralcloud.core import ecosystems, errors
from centralcloud.jobs import downloads
from centralcloud.runtime import config
from centralcloud.sources import base, github, guard, http, npm_downloads, osv, pypistats

logger = logging.getLogger(__name__)


def http_policy(settings: config.Settings) -> http.HttpPolicy:
    agent = f"centralcloud/{__version__} (+package knowledge service"
    agent += f"; {settings.contact})" if settings.contact else ")"
    bounds = guard.GuardPolicy(
        max_connections=settings.source_connections, threshold=settings.source_failures_before_rest,
        cooldown=settings.source_rest_seconds,
    )
    return http.HttpPolicy(timeout=settings.http_timeout, user_agent=agent, guard=bounds)


def build_sources(settings: config.Settings, session: aiohttp.ClientSession) -> dict[str, base.Source]:
    """One adapter per ecosystem whose endpoint is known; a missing one is logged, not fatal."""
    policy = http_policy(settings)
    found: dict[str, base.Source] = {}
    for description in ecosystems.ALL:
        module, _, name = description.adapter.partition(":")
        adapter: type[base.Source] = getattr(importlib.import_module(f"centralcloud.sources.{module}"), name)
        try:
            found[description.key] = adapter.configured(settings=settings, session=session, policy=policy)
        except errors.ConfigError as err:
            logger.warning(
                "%s source disabled: %s", description.key, err.message,
                extra={"action": "configure", "ecosystem": description.key},
            )
    return found


def build_github(settings: config.Settings, session: aiohttp.ClientSession) -> github.GithubSource:
    token = settings.github_token.get_secret_value() if settings.github_token else None
    return github.GithubSource(
        session=session, base_url=settings.github_url or github.DEFAULT_URL, policy=http_policy(settings), token=token
    )


def build_osv(settings: config.Settings, session: aiohttp.ClientSession) -> osv.OsvSource:
    return osv.OsvSource(session=session, base_url=settings.osv_url or osv.DEFAULT_URL, policy=http_policy(settings))


def build_download_sources(settings: config.Settings, session: aiohttp.ClientSession) -> downloads.Sources:
    policy = http_policy(settings)
    return downloads.Sources(
        npm=npm_downloads.NpmDownloadsSource(
            session=session, base_url=settings.npm_downloads_url or npm_downloads.DEFAULT_URL, policy=policy
        ),
        pypi=pypistats.PypiStatsSource(
            session=session, base_url=settings.pypi_downloads_url or pypistats.DEFAULT_URL, policy=policy,
            budget=settings.pypi_downloads_budget,
        ) if settings.pypi_downloads_enabled else None,
    )

