"""Where the registries are.

No registry host is written into the project: endpoints come from our own
settings, else from what the ecosystems' own clients (npm, pip) are configured
to use, which also makes mirrors and private registries work unchanged.
"""

from __future__ import annotations

import configparser
import logging
import os
import pathlib
import re
import shutil
import subprocess
import sys
import urllib.parse
from collections.abc import Callable, Iterable, Mapping

from centralcloud.core import errors

log = logging.getLogger(__name__)

NPM_URL_ENV = "CENTRALCLOUD_NPM_URL"
PYPI_URL_ENV = "CENTRALCLOUD_PYPI_URL"
_CLIENT_TIMEOUT = 15.0


def npm_registry_url(env: Mapping[str, str] = os.environ) -> str:
    """The npm registry's base URL: ours, else npm's own configuration."""
    found = _first(
        (
            (NPM_URL_ENV, lambda: env.get(NPM_URL_ENV)),
            ("npm_config_registry", lambda: env.get("npm_config_registry") or env.get("NPM_CONFIG_REGISTRY")),
            ("user npmrc", lambda: _npmrc_registry(_user_npmrc(env), env)),
            ("global npmrc", lambda: _npmrc_registry(_global_npmrc(env), env)),
            ("npm config get registry", lambda: _run(env, "npm", "config", "get", "registry")),
        )
    )
    if found is None:
        raise errors.ConfigError(f"cannot tell where the npm registry is: set {NPM_URL_ENV}", setting=NPM_URL_ENV)
    origin, url = found
    return _checked(url, origin=origin, ecosystem="npm")


def pypi_url(env: Mapping[str, str] = os.environ) -> str:
    """The root of PyPI's JSON API (`<root>/pypi/<name>/json`): ours, else pip's configured index."""
    explicit = env.get(PYPI_URL_ENV)
    if explicit:
        return _checked(explicit, origin=PYPI_URL_ENV, ecosystem="pypi")
    found = _first(
        (
            ("PIP_INDEX_URL", lambda: env.get("PIP_INDEX_URL")),
            ("pip config", lambda: _run(env, sys.executable, "-m", "pip", "config", "get", "global.index-url")),
            ("PIP_CONFIG_FILE", lambda: _pip_config_file_index(env)),
            ("pip's default index", _pip_default_index),
        )
    )
    if found is None:
        raise errors.ConfigError(f"cannot tell where PyPI is: set {PYPI_URL_ENV}", setting=PYPI_URL_ENV)
    origin, index = found
    return _checked(json_api_root(index), origin=origin, ecosystem="pypi")


def _pip_config_file_index(env: Mapping[str, str]) -> str | None:
    """index-url of the file PIP_CONFIG_FILE names, read directly: some pip releases leave that
    file out of `pip config get`, though `pip install` honours it."""
    name = env.get("PIP_CONFIG_FILE")
    if not name:
        return None
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(name, encoding="utf-8")
    except (OSError, configparser.Error) as err:
        log.warning("cannot read PIP_CONFIG_FILE %s: %s", name, err)
        return None
    for section in ("install", "global"):
        value = parser.get(section, "index-url", fallback=None) or parser.get(section, "index_url", fallback=None)
        if value:
            return value
    return None


def json_api_root(index_url: str) -> str:
    """The JSON API root for a simple index URL: PyPI and its mirrors serve both from one root."""
    root = index_url.strip().rstrip("/")
    return root.removesuffix("/simple")


def _first(candidates: Iterable[tuple[str, Callable[[], str | None]]]) -> tuple[str, str] | None:
    # Candidates are asked lazily, so the npm and pip subprocesses run only when nothing nearer answers.
    for origin, get in candidates:
        value = (get() or "").strip()
        if value:
            return origin, value
    return None


def _checked(url: str, *, origin: str, ecosystem: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise errors.ConfigError(
            f"the {ecosystem} registry URL from {origin} is not an http(s) URL: {url!r}", ecosystem=ecosystem
        )
    log.debug(
        "%s registry from %s",
        ecosystem,
        origin,
        extra={"action": "registry.discover", "ecosystem": ecosystem, "origin": origin},
    )
    return url.rstrip("/")


def _user_npmrc(env: Mapping[str, str]) -> pathlib.Path:
    explicit = env.get("npm_config_userconfig") or env.get("NPM_CONFIG_USERCONFIG")
    if explicit:
        return pathlib.Path(explicit)
    home = env.get("HOME")
    return (pathlib.Path(home) if home else pathlib.Path.home()) / ".npmrc"


def _global_npmrc(env: Mapping[str, str]) -> pathlib.Path | None:
    explicit = env.get("npm_config_globalconfig") or env.get("NPM_CONFIG_GLOBALCONFIG")
    if explicit:
        return pathlib.Path(explicit)
    prefix = env.get("npm_config_prefix") or env.get("NPM_CONFIG_PREFIX")
    if not prefix:
        # npm's default prefix is the directory above the one holding node (/usr for /usr/bin/node).
        node = shutil.which("node", path=env.get("PATH", ""))
        if node is None:
            return None
        prefix = str(pathlib.Path(node).resolve().parent.parent)
    return pathlib.Path(prefix) / "etc" / "npmrc"


def _npmrc_registry(path: pathlib.Path | None, env: Mapping[str, str]) -> str | None:
    """The `registry=` setting of an npmrc file (the last one wins, as in npm), ${VAR} expanded."""
    if path is None:
        return None
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    registry = None
    for line in lines:
        key, sep, value = line.partition("=")
        if sep and key.strip() == "registry":
            registry = value.strip().strip("\"'")
    if registry is None:
        return None
    return re.sub(r"\$\{([^}]+)\}", lambda match: env.get(match[1], ""), registry)


def _run(env: Mapping[str, str], program: str, *args: str) -> str | None:
    """A client's answer to a config query, or None when it is missing, fails or says nothing."""
    executable = program if os.path.isabs(program) else shutil.which(program, path=env.get("PATH", ""))
    if executable is None:
        return None
    try:
        done = subprocess.run(
            [executable, *args],
            capture_output=True,
            text=True,
            timeout=_CLIENT_TIMEOUT,
            env=dict(env),
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as err:
        log.warning(
            "could not ask %s for its configuration: %s",
            program,
            err,
            extra={"action": "registry.discover", "ecosystem": None, "program": program},
        )
        return None
    answer = done.stdout.strip()
    # npm prints "undefined" for unset keys; pip exits non-zero.
    if done.returncode != 0 or answer in ("undefined", "null"):
        return None
    return answer


def _pip_default_index() -> str | None:
    try:
        import pip._internal.models.index as pip_index
    except ImportError:
        return None
    return pip_index.PyPI.simple_url
