"""Roles, credentials and connect options, without a server."""

from __future__ import annotations

import json
import pathlib
import stat

import nkeys
import pytest

from centralcloud.core import errors
from centralcloud.runtime import auth, cli, config
from centralcloud.runtime import credentials as credential_files
from centralcloud.runtime import nats_options as nats_connection
from centralcloud.wire import subjects as wire_subjects


@pytest.mark.parametrize("instance_id", ["alpha", "A_1-b", "x" * 64, "-", "0"])
def test_instance_ids_that_fit_one_subject_token(instance_id: str) -> None:
    assert auth.validate_instance_id(instance_id) == instance_id


@pytest.mark.parametrize(
    "instance_id",
    ["", "x" * 65, "alpha\n", "al.pha", "al*", ">", "al pha", "ſix", "ａlpha", "alpha/beta", "$SYS"],
)
def test_instance_ids_refused(instance_id: str) -> None:
    with pytest.raises(errors.BadRequest):
        auth.validate_instance_id(instance_id)


def _allowed(perms: dict, kind: str) -> list[str]:
    return perms[kind]["allow"]


def test_instance_permissions_name_only_its_own_id() -> None:
    perms = auth.permissions(role=auth.INSTANCE, instance_id="alpha")
    published = _allowed(perms, "publish")
    assert "centralcloud.patterns.*.alpha" in published
    assert f"$JS.API.CONSUMER.CREATE.{auth.ALERT_STREAM}.alpha.centralcloud.alerts.alpha" in published
    assert _allowed(perms, "subscribe") == ["_INBOX_instance-alpha.>"]
    # Every subject with an instance-specific part ends in, or is scoped by, its own id.
    for subject in published:
        assert not subject.startswith(("centralcloud.sync", "centralcloud.cache", "centralcloud.alerts", "_INBOX"))
        if subject.startswith("$JS."):
            assert ".alpha" in subject
    assert "allow_responses" not in perms


def test_service_replies_through_allow_responses_and_ops_reads_jetstream_only() -> None:
    service = auth.permissions(role=auth.SERVICE)
    assert service["allow_responses"] is True
    assert auth.INVALIDATE_SUBJECT in _allowed(service, "publish")
    ops = _allowed(auth.permissions(role=auth.OPS), "publish")
    assert "centralcloud.sync.*" in ops
    assert not [subject for subject in ops if subject.startswith("$JS.API.") and
                any(word in subject for word in ("CREATE", "DELETE", "UPDATE", "PURGE", "MSG"))]


def test_add_instance_writes_private_credentials_and_the_users_file(tmp_path: pathlib.Path) -> None:
    user = credential_files.add_instance(tmp_path, "alpha", url="nats://example.invalid:4222, nats://example.invalid:4223")
    assert user.directory == tmp_path / "instances" / "alpha"
    seed = (user.directory / credential_files.SEED_FILE).read_text().strip()
    assert nkeys.from_seed(bytearray(seed.encode())).public_key.decode() == user.public_key
    for path in (user.directory / credential_files.SEED_FILE, user.directory / credential_files.CONNECTION_FILE):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    settings = json.loads((user.directory / credential_files.CONNECTION_FILE).read_text())
    assert settings["inbox_prefix"] == "_INBOX_instance-alpha"
    assert settings["report_subject"] == "centralcloud.patterns.report.alpha"
    assert settings["alert_consumer"] == "alpha"
    assert settings["servers"] == ["nats://example.invalid:4222", "nats://example.invalid:4223"]
    users = (tmp_path / credential_files.USERS_FILE).read_text()
    assert seed not in users  # the server gets public keys only
    names = {u.name for u in credential_files.read_users(tmp_path)}
    assert names == {"service", "ops", "monitoring", "instance-alpha"}
    for u in credential_files.read_users(tmp_path):
        assert u.public_key in users


def test_existing_credentials_are_kept_unless_replaced(tmp_path: pathlib.Path) -> None:
    first = credential_files.add_instance(tmp_path, "alpha")
    service_key = credential_files.read_users(tmp_path)[0].public_key
    with pytest.raises(errors.ConfigError):
        credential_files.add_instance(tmp_path, "alpha")
    assert credential_files.init(tmp_path) == []
    assert credential_files.read_users(tmp_path)[0].public_key == service_key
    second = credential_files.create_user(tmp_path, role=auth.INSTANCE, instance_id="alpha", replace=True)
    credential_files.write_users_conf(tmp_path)
    users = (tmp_path / credential_files.USERS_FILE).read_text()
    assert second.public_key in users and first.public_key not in users


def test_remove_instance_drops_it_from_the_users_file(tmp_path: pathlib.Path) -> None:
    alpha = credential_files.add_instance(tmp_path, "alpha")
    beta = credential_files.add_instance(tmp_path, "beta")
    assert credential_files.remove_instance(tmp_path, "alpha") is True
    assert credential_files.remove_instance(tmp_path, "alpha") is False
    users = (tmp_path / credential_files.USERS_FILE).read_text()
    assert alpha.public_key not in users and beta.public_key in users


def test_connect_options_from_a_credentials_directory(tmp_path: pathlib.Path) -> None:
    user = credential_files.add_instance(tmp_path, "alpha")
    options = nats_connection.connect_options(credentials=user.directory)
    assert options == {
        "nkeys_seed": str(user.directory / credential_files.SEED_FILE),
        "inbox_prefix": "_INBOX_instance-alpha",
    }
    assert nats_connection.connect_options(credentials=user.directory / credential_files.CONNECTION_FILE) == options
    assert nats_connection.connect_options() == {}
    with pytest.raises(errors.ConfigError):
        nats_connection.connect_options(credentials=tmp_path / "nobody")


def test_settings_give_the_service_its_connect_options(tmp_path: pathlib.Path) -> None:
    credential_files.init(tmp_path)
    settings = config.load(env={
        "CENTRALCLOUD_NATS_CREDENTIALS": str(tmp_path / "service"),
        "CENTRALCLOUD_NATS_INBOX_PREFIX": "_INBOX_custom",
    })
    options = nats_connection.settings_connect_options(settings)
    assert options["nkeys_seed"] == str(tmp_path / "service" / credential_files.SEED_FILE)
    assert options["inbox_prefix"] == "_INBOX_custom"
    password = nats_connection.settings_connect_options(config.load(env={
        "CENTRALCLOUD_NATS_USER": "svc", "CENTRALCLOUD_NATS_PASSWORD": "s3cret",
    }))
    assert password == {"user": "svc", "password": "s3cret"}
    assert config.load(env={}).credentials_dir == config.load(env={}).data_dir / "auth"


def test_tls_context_refuses_missing_files(tmp_path: pathlib.Path) -> None:
    assert nats_connection.tls_context(ca_file=None) is None
    with pytest.raises(errors.ConfigError):
        nats_connection.tls_context(ca_file=tmp_path / "missing.pem")
    assert "tls" not in nats_connection.connect_options(tls_ca=None, tls_cert=None)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("localhost", True), ("::1", True), ("[::1]", True), ("127.0.0.2", True),
     ("0.0.0.0", False), ("", False), ("::", False), ("10.0.0.5", False), ("nats.example", False)],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert credential_files.is_loopback(host) is loopback


def test_cli_instance_add_and_list(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["instance", "add", "alpha", "--auth-dir", str(tmp_path)]) == 0
    assert "CENTRALCLOUD_NATS_CREDENTIALS=" in capsys.readouterr().out
    assert cli.main(["instance", "add", "alpha", "--auth-dir", str(tmp_path)]) == 2
    assert "already has credentials" in capsys.readouterr().err
    assert cli.main(["instance", "add", "bad.id", "--auth-dir", str(tmp_path)]) == 2
    assert cli.main(["instance", "list", "--auth-dir", str(tmp_path)]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in listed] == ["service", "ops", "monitoring", "instance-alpha"]
    assert cli.main(["instance", "remove", "alpha", "--auth-dir", str(tmp_path)]) == 0
    assert not (tmp_path / "instances" / "alpha").exists()


def test_serve_secure_flag_reaches_the_settings() -> None:
    assert cli.parser().parse_args(["serve", "--secure"]).nats_secure is True
    assert cli.parser().parse_args(["serve"]).nats_secure is None
    assert config.load(env={"CENTRALCLOUD_NATS_SECURE": "true"}).nats_secure is True
    assert config.load(env={}).nats_secure is False


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` is one token, a final `>` one or more."""
    wanted, tokens = pattern.split("."), subject.split(".")
    for index, token in enumerate(wanted):
        if token == ">":
            return len(tokens) > index
        if index >= len(tokens) or token not in ("*", tokens[index]):
            return False
    return len(tokens) == len(wanted)


def may_publish(role: str, subject: str, instance_id: str | None = None) -> bool:
    allowed = auth.permissions(role=role, instance_id=instance_id)["publish"]["allow"]
    return any(subject_matches(pattern, subject) for pattern in allowed)


def test_every_service_endpoint_has_its_askers() -> None:
    # A new endpoint must be placed in a role on purpose: this fails until it is.
    for subject in (request.name for request in wire_subjects.REQUESTS):
        if subject.startswith("centralcloud.sync.") or subject == wire_subjects.HEALTH.name:
            assert may_publish(auth.OPS, subject) and not may_publish(auth.INSTANCE, subject, "alpha")
        else:
            assert may_publish(auth.INSTANCE, subject, "alpha") and not may_publish(auth.OPS, subject), subject
        listens = auth.permissions(role=auth.SERVICE)["subscribe"]["allow"]
        assert any(subject_matches(pattern, subject) for pattern in listens)


def test_the_invalidation_subject_is_the_one_the_sync_publishes() -> None:
    assert auth.INVALIDATE_SUBJECT == wire_subjects.CACHE_INVALIDATE.name
    assert may_publish(auth.SERVICE, wire_subjects.CACHE_INVALIDATE.name)
    assert not may_publish(auth.INSTANCE, wire_subjects.CACHE_INVALIDATE.name, "alpha")


@pytest.mark.parametrize(
    ("pattern", "subject", "matches"),
    [("a.*", "a.b", True), ("a.*", "a.b.c", False), ("a.>", "a.b.c", True), ("a.>", "a", False), ("a.b", "a.b", True)],
)
def test_subject_matching_helper(pattern: str, subject: str, matches: bool) -> None:
    assert subject_matches(pattern, subject) is matches
