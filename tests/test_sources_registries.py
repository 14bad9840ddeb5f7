"""Registry endpoint discovery, driven by environment and config files only (no network)."""

from __future__ import annotations

import os
import pathlib
import stat

import pip._internal.models.index as pip_index
import pytest

from centralcloud.core import errors
from centralcloud.sources import registries


@pytest.fixture
def home(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def env(tmp_path: pathlib.Path, home: pathlib.Path) -> dict[str, str]:
    """An environment with no npm or pip configuration and nothing on PATH."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    return {
        "HOME": str(home),
        "PATH": str(empty),
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }


def executable(path: pathlib.Path, script: str) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_npm_own_setting_wins(env, home):
    (home / ".npmrc").write_text("registry=https://npmrc.test/\n")
    env.update(CENTRALCLOUD_NPM_URL="https://ours.test/npm/", npm_config_registry="https://npmenv.test/")
    assert registries.npm_registry_url(env) == "https://ours.test/npm"


@pytest.mark.parametrize("variable", ["npm_config_registry", "NPM_CONFIG_REGISTRY"])
def test_npm_config_environment(env, home, variable):
    (home / ".npmrc").write_text("registry=https://npmrc.test/\n")
    env[variable] = "https://npmenv.test/registry/"
    assert registries.npm_registry_url(env) == "https://npmenv.test/registry"


def test_user_npmrc_in_home(env, home):
    (home / ".npmrc").write_text(
        "; registry=https://commented.test/\n"
        "@acme:registry=https://acme.test/\n"
        "registry = \"https://first.test/\"\n"
        "registry=https://mirror.test/npm/\n"
        "fund=false\n"
    )
    assert registries.npm_registry_url(env) == "https://mirror.test/npm"


def test_userconfig_variable_and_variable_expansion(env, tmp_path):
    npmrc = tmp_path / "custom-npmrc"
    npmrc.write_text("registry=https://${MIRROR_HOST}/npm/\n")
    env.update(npm_config_userconfig=str(npmrc), MIRROR_HOST="npm.corp.test")
    assert registries.npm_registry_url(env) == "https://npm.corp.test/npm"


def test_user_npmrc_wins_over_global(env, home, tmp_path):
    (home / ".npmrc").write_text("registry=https://user.test/\n")
    global_rc = tmp_path / "global-npmrc"
    global_rc.write_text("registry=https://global.test/\n")
    env["npm_config_globalconfig"] = str(global_rc)
    assert registries.npm_registry_url(env) == "https://user.test"
    (home / ".npmrc").write_text("fund=false\n")
    assert registries.npm_registry_url(env) == "https://global.test"


def test_global_npmrc_beside_node(env, tmp_path):
    prefix = tmp_path / "node-prefix"
    executable(prefix / "bin" / "node", "#!/bin/sh\nexit 0\n")
    (prefix / "etc").mkdir()
    (prefix / "etc" / "npmrc").write_text("registry=https://prefix.test/\n")
    env["PATH"] = str(prefix / "bin")
    assert registries.npm_registry_url(env) == "https://prefix.test"


def test_asks_npm_when_no_file_says(env, tmp_path):
    bin_dir = tmp_path / "bin"
    executable(bin_dir / "npm", '#!/bin/sh\n[ "$*" = "config get registry" ] && echo https://from-npm.test/\n')
    env["PATH"] = str(bin_dir)
    assert registries.npm_registry_url(env) == "https://from-npm.test"


def test_npm_saying_undefined_is_a_config_error(env, tmp_path):
    bin_dir = tmp_path / "bin"
    executable(bin_dir / "npm", "#!/bin/sh\necho undefined\n")
    env["PATH"] = str(bin_dir)
    with pytest.raises(errors.ConfigError, match="CENTRALCLOUD_NPM_URL"):
        registries.npm_registry_url(env)


def test_no_npm_configuration_is_a_config_error(env):
    with pytest.raises(errors.ConfigError, match="set CENTRALCLOUD_NPM_URL") as raised:
        registries.npm_registry_url(env)
    assert raised.value.details == {"setting": "CENTRALCLOUD_NPM_URL"}


def test_non_http_registry_is_a_config_error(env, home):
    (home / ".npmrc").write_text("registry=file:///srv/npm\n")
    with pytest.raises(errors.ConfigError, match="from user npmrc is not an http"):
        registries.npm_registry_url(env)


def test_pypi_own_setting_is_taken_as_is(env):
    env.update(CENTRALCLOUD_PYPI_URL="https://json.test/root/", PIP_INDEX_URL="https://index.test/simple")
    assert registries.pypi_url(env) == "https://json.test/root"


@pytest.mark.parametrize(
    ("index", "root"),
    [
        ("https://mirror.test/simple", "https://mirror.test"),
        ("https://mirror.test/simple/", "https://mirror.test"),
        ("https://art.test/artifactory/api/pypi/remote/simple", "https://art.test/artifactory/api/pypi/remote"),
        ("https://user:token@private.test/simple/", "https://user:token@private.test"),
    ],
)
def test_pip_index_url_environment(env, index, root):
    env["PIP_INDEX_URL"] = index
    assert registries.pypi_url(env) == root


def test_pip_config_file(env, tmp_path):
    config = tmp_path / "pip.conf"
    config.write_text("[global]\nindex-url = https://devpi.test/root/pypi/simple/\ntimeout = 30\n")
    env["PIP_CONFIG_FILE"] = str(config)
    assert registries.pypi_url(env) == "https://devpi.test/root/pypi"


def test_pip_default_index_when_nothing_is_configured(env):
    # Compared with pip's own default so no registry host is written here.
    assert registries.pypi_url(env) == pip_index.PyPI.url.rstrip("/")


@pytest.mark.parametrize(
    ("index", "root"),
    [
        ("https://a.test/simple", "https://a.test"),
        ("https://a.test/simple/", "https://a.test"),
        ("https://a.test/simplex", "https://a.test/simplex"),
        (" https://a.test/pypi/ ", "https://a.test/pypi"),
    ],
)
def test_json_api_root(index, root):
    assert registries.json_api_root(index) == root
