"""The shipped NATS configuration, run for real, enforces the roles.

Each test starts nats-server from a copy of deploy/ with credentials created by the
documented commands (`centralcloud instance add ID --auth-dir deploy/auth`). Only the
JetStream store path (/data/jetstream inside the container) is pointed at a
temporary directory, and the listen and monitoring ports at free ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import ipaddress
import json
import pathlib
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable
from typing import Any

import nats
import nats.js.errors
import pytest
import yaml
from nats import errors as nats_errors
from nats import micro
from nats.js import api as js_api

from centralcloud.runtime import app, auth, cli, config, embedded_nats, processes
from centralcloud.runtime import credentials as credential_files
from centralcloud.runtime import nats_options as nats_connection

# These tests make the server refuse connections and requests. Now and then a client socket of one
# of them is still closing when its event loop ends and is collected during a later test, whose
# failure would then name a test that did not leak it; the warning is not made a failure here.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
NODE_CONFIGS = ["nats.conf", "cluster/node-1.conf", "cluster/node-2.conf", "cluster/node-3.conf"]


def make_deploy_copy(target: pathlib.Path, *instances: str) -> pathlib.Path:
    """deploy/ copied to `target` (beside the top-level nats.conf), with credentials for `instances` made by the CLI."""
    shutil.copytree(DEPLOY, target, ignore=shutil.ignore_patterns("auth"))
    shutil.copy(ROOT / "nats.conf", target.parent / "nats.conf")
    for instance_id in instances:
        assert cli.main(["instance", "add", instance_id, "--auth-dir", str(target / "auth")]) == 0
    if not instances:
        assert cli.main(["auth", "init", "--auth-dir", str(target / "auth")]) == 0
    return target


class Server:
    def __init__(self, process: subprocess.Popen, url: str, deploy: pathlib.Path) -> None:
        self.process = process
        self.url = url
        self.deploy = deploy

    def credentials(self, name: str) -> pathlib.Path:
        if name in (auth.SERVICE, auth.OPS, auth.MONITORING):
            return self.deploy / "auth" / name
        return self.deploy / "auth" / credential_files.INSTANCES_DIR / name


async def start_server(deploy: pathlib.Path, *, config: str = "nats.conf", rewrite: bool = True) -> Server:
    conf = deploy / config
    if rewrite:
        conf.write_text(conf.read_text().replace("/data/jetstream", str(deploy / "jetstream")))
    port = processes.free_port()
    log_file = deploy / f"{conf.stem}.log"
    log = log_file.open("ab")
    process = subprocess.Popen(
        [embedded_nats.nats_server_binary(), "-c", str(conf), "-a", "127.0.0.1", "-p", str(port),
         "-m", str(processes.free_port())],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    log.close()
    for _ in range(200):
        assert process.poll() is None, log_file.read_text()
        with contextlib.suppress(OSError):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
            return Server(process, f"nats://127.0.0.1:{port}", deploy)
        await asyncio.sleep(0.05)
    process.kill()
    raise AssertionError("nats-server did not start")


async def refused_connection(url: str, **options: object) -> Exception:
    """The error connecting to `url` raises; the half-open client is closed so no socket leaks."""
    client = nats.aio.client.Client()
    try:
        await client.connect(url, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=2, **options)
    except Exception as err:
        return err
    finally:
        await client.close()
    raise AssertionError(f"connected to {url} with {sorted(options)}")


def refused_for_credentials(err: Exception) -> bool:
    # The server answers -ERR 'Authorization Violation' and closes; when the close wins
    # the race, the client only sees the connection go.
    return "authorization violation" in str(err).lower() or isinstance(err, ConnectionError)


def stop_server(server: Any) -> None:
    """SIGTERM, then SIGKILL after 10 s: anything with a `process` (a Popen)."""
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture
async def secure_server(tmp_path: pathlib.Path) -> AsyncIterator[Server]:
    running = await start_server(make_deploy_copy(tmp_path / "deploy", "alpha", "beta"))
    try:
        yield running
    finally:
        stop_server(running)


class Client:
    """A connection as one user, recording the permission violations the server reports."""

    def __init__(self, nc: nats.aio.client.Client, violations: list[str]) -> None:
        self.nc = nc
        self.violations = violations

    async def violated(self, kind: str, subject: str) -> bool:
        """Whether the server reported a violation for `kind` ("publish"/"subscription") to `subject`."""
        wanted = f'permissions violation for {kind} to "{subject}"'.lower()
        await self.nc.flush()
        for _ in range(100):
            if any(wanted in text for text in self.violations):
                return True
            await asyncio.sleep(0.02)
        return False


@pytest.fixture
async def connect(secure_server: Server) -> AsyncIterator[Callable]:
    clients: list[nats.aio.client.Client] = []

    async def open_as(name: str, **extra: object) -> Client:
        violations: list[str] = []

        async def on_error(err: Exception) -> None:
            violations.append(str(err).lower())

        options = nats_connection.connect_options(credentials=secure_server.credentials(name)) | extra
        nc = await nats.connect(secure_server.url, error_cb=on_error, allow_reconnect=False, **options)
        clients.append(nc)
        return Client(nc, violations)

    yield open_as
    for nc in clients:
        with contextlib.suppress(Exception):
            await nc.close()


async def start_responder(client: Client, seen: list[str]) -> micro.Service:
    """A stand-in for the service under the service credentials: answers in the queue group."""

    async def handle(request: micro.Request) -> None:
        seen.append(request.subject)
        await request.respond(json.dumps({"answered": request.subject}).encode())

    service = await micro.add_service(client.nc, name="centralcloud", version="0.0.0", queue_group="centralcloud")
    for subject in ("centralcloud.packages.get", "centralcloud.sync.run", "centralcloud.patterns.recommend"):
        await service.add_endpoint(name=subject.replace(".", "-"), subject=subject, handler=handle)
    await client.nc.flush()
    return service


@dataclasses.dataclass
class Parties:
    """The stand-in service answering, and two instances."""

    service: Client
    seen: list[str]
    """Subjects the service was asked on, in order."""
    alpha: Client
    beta: Client


@pytest.fixture
async def parties(connect: Callable) -> Parties:
    service = await connect(auth.SERVICE)
    seen: list[str] = []
    await start_responder(service, seen)
    return Parties(service=service, seen=seen, alpha=await connect("alpha"), beta=await connect("beta"))


async def create_streams(client: Client) -> None:
    js = client.nc.jetstream()
    await js.add_stream(name=auth.REPORT_STREAM, subjects=[f"{auth.REPORT_PREFIX}.>"])
    await js.add_stream(name=auth.ALERT_STREAM, subjects=[f"{auth.ALERT_PREFIX}.>"])


def test_every_shipped_node_configuration_passes_nats_server_check(tmp_path: pathlib.Path) -> None:
    deploy = make_deploy_copy(tmp_path / "deploy", "alpha")
    # The top-level nats.conf is kept for existing users and includes deploy/nats.conf.
    for path in [deploy.parent / "nats.conf", *(deploy / name for name in NODE_CONFIGS)]:
        result = subprocess.run(
            [embedded_nats.nats_server_binary(), "-t", "-c", str(path)], capture_output=True, text=True, timeout=10
        )
        assert result.returncode == 0, (path, result.stdout, result.stderr)


def test_shipped_configuration_does_not_start_without_generated_users(tmp_path: pathlib.Path) -> None:
    shutil.copytree(DEPLOY, tmp_path / "deploy", ignore=shutil.ignore_patterns("auth"))
    result = subprocess.run(
        [embedded_nats.nats_server_binary(), "-t", "-c", str(tmp_path / "deploy" / "nats.conf")],
        capture_output=True, text=True,
    )
    assert result.returncode != 0
    assert "nats-users.conf" in result.stderr + result.stdout


def test_compose_runs_three_secure_nodes_without_publishing_monitoring() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    nodes = [name for name in services if name.startswith("nats-")]
    assert nodes == ["nats-1", "nats-2", "nats-3"]
    for index, name in enumerate(nodes, start=1):
        mounts = services[name]["volumes"]
        assert f"./cluster/node-{index}.conf:/etc/nats/cluster/node.conf:ro" in mounts
        assert "./auth/nats-users.conf:/etc/nats/auth/nats-users.conf:ro" in mounts
        assert not any("8222" in str(port) for port in services[name].get("ports", []))
    replicas = [name for name in services if name.startswith("centralcloud-")]
    assert len(replicas) == 3
    for name in replicas:
        assert services[name]["environment"]["CENTRALCLOUD_NATS_CREDENTIALS"] == "/run/centralcloud/service"
    assert "postgres" in services
    top = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert top["include"] == ["deploy/compose.yaml"]


async def test_no_credentials_no_connection(secure_server: Server) -> None:
    assert refused_for_credentials(await refused_connection(secure_server.url))


async def test_instance_cannot_start_a_sync_or_invalidate_caches(parties: Parties) -> None:
    service, seen, alpha = parties.service, parties.seen, parties.alpha
    invalidations: list[bytes] = []

    async def on_invalidate(msg: nats.aio.msg.Msg) -> None:
        invalidations.append(msg.data)

    await service.nc.subscribe(auth.INVALIDATE_SUBJECT, cb=on_invalidate)
    await service.nc.flush()

    with pytest.raises((nats_errors.TimeoutError, nats_errors.NoRespondersError)):
        await alpha.nc.request("centralcloud.sync.run", b"{}", timeout=0.5)
    assert await alpha.violated("publish", "centralcloud.sync.run")
    await alpha.nc.publish(auth.INVALIDATE_SUBJECT, b'{"all": true}')
    assert await alpha.violated("publish", auth.INVALIDATE_SUBJECT)
    # What an instance may ask still reaches the service.
    reply = await alpha.nc.request("centralcloud.packages.get", b"{}", timeout=2)
    assert json.loads(reply.data) == {"answered": "centralcloud.packages.get"}
    await service.nc.flush()
    assert seen == ["centralcloud.packages.get"]
    assert invalidations == []


async def test_instance_reports_only_as_itself(connect: Callable) -> None:
    service = await connect(auth.SERVICE)
    await create_streams(service)
    alpha = await connect("alpha")
    js = alpha.nc.jetstream()
    ack = await js.publish(auth.report_subject("alpha"), b'{"packages": []}')
    assert ack.stream == auth.REPORT_STREAM
    with pytest.raises((nats_errors.TimeoutError, nats_errors.NoRespondersError)):
        await js.publish(auth.report_subject("beta"), b'{"packages": []}', timeout=0.5)
    assert await alpha.violated("publish", auth.report_subject("beta"))
    # The service consumes the report stream and sees alpha's report only.
    consumer = await service.nc.jetstream().pull_subscribe(
        f"{auth.REPORT_PREFIX}.>", durable="reports", stream=auth.REPORT_STREAM
    )
    messages = await consumer.fetch(batch=10, timeout=1)
    assert [message.subject for message in messages] == [auth.report_subject("alpha")]
    for message in messages:
        await message.ack()


async def test_instance_cannot_read_another_instances_replies(parties: Parties) -> None:
    alpha, beta = parties.alpha, parties.beta
    stolen: list[str] = []

    async def steal(msg: nats.aio.msg.Msg) -> None:
        stolen.append(msg.subject)

    for subject in ("_INBOX_instance-beta.>", "_INBOX.>", "_INBOX_service.>", ">"):
        await alpha.nc.subscribe(subject, cb=steal)
        assert await alpha.violated("subscription", subject)
    reply = await beta.nc.request("centralcloud.patterns.recommend", b"{}", timeout=2)
    assert reply.subject.startswith("_INBOX_instance-beta.")
    await alpha.nc.flush()
    assert stolen == []
    # Nor can it answer in someone's inbox.
    await alpha.nc.publish(reply.subject, b"forged")
    assert await alpha.violated("publish", reply.subject)


async def test_instance_cannot_listen_on_requests_or_answer_as_the_service(parties: Parties) -> None:
    alpha, beta = parties.alpha, parties.beta
    hijacked: list[str] = []

    async def answer(msg: nats.aio.msg.Msg) -> None:
        hijacked.append(msg.subject)
        await msg.respond(b'{"fake": true}')

    await alpha.nc.subscribe("centralcloud.>", cb=answer)
    assert await alpha.violated("subscription", "centralcloud.>")
    await alpha.nc.subscribe("centralcloud.packages.get", queue="centralcloud", cb=answer)
    assert await alpha.violated("subscription", "centralcloud.packages.get")
    await alpha.nc.subscribe("$SRV.>", cb=answer)
    assert await alpha.violated("subscription", "$SRV.>")
    for _ in range(20):
        reply = await beta.nc.request("centralcloud.packages.get", b"{}", timeout=2)
        assert json.loads(reply.data) == {"answered": "centralcloud.packages.get"}
    assert hijacked == []
    assert len(parties.seen) == 20


async def test_instance_reads_only_its_own_alerts_through_its_own_consumer(connect: Callable, secure_server: Server) -> None:
    service = await connect(auth.SERVICE)
    await create_streams(service)
    service_js = service.nc.jetstream()
    await service_js.publish(auth.alert_subject("alpha"), b'{"for": "alpha"}')
    await service_js.publish(auth.alert_subject("beta"), b'{"for": "beta"}')
    alpha = await connect("alpha")
    js = alpha.nc.jetstream(timeout=0.5)

    refused = [
        # Another instance's consumer name and subject.
        ("beta", auth.alert_subject("beta")),
        # Its own name with another filter: the filter is part of the permitted subject.
        ("alpha", auth.alert_subject("beta")),
        ("alpha", f"{auth.ALERT_PREFIX}.>"),
        ("alpha", f"{auth.ALERT_PREFIX}.*"),
    ]
    for name, filter_subject in refused:
        with pytest.raises((nats_errors.TimeoutError, nats_errors.NoRespondersError)):
            await js.add_consumer(auth.ALERT_STREAM, name=name, durable_name=name, filter_subject=filter_subject)
        subject = f"$JS.API.CONSUMER.CREATE.{auth.ALERT_STREAM}.{name}.{filter_subject}"
        assert await alpha.violated("publish", subject)
    # Neither an unfiltered or legacy durable consumer, nor reading another instance's.
    with pytest.raises((nats_errors.TimeoutError, nats_errors.NoRespondersError)):
        await js.add_consumer(auth.ALERT_STREAM, durable_name="alpha", filter_subject=auth.alert_subject("alpha"))
    assert await alpha.violated("publish", f"$JS.API.CONSUMER.DURABLE.CREATE.{auth.ALERT_STREAM}.alpha")
    await service_js.add_consumer(
        auth.ALERT_STREAM, name="beta", durable_name="beta", filter_subject=auth.alert_subject("beta")
    )
    with pytest.raises((nats_errors.TimeoutError, nats_errors.NoRespondersError)):
        await js.consumer_info(auth.ALERT_STREAM, "beta")
    assert await alpha.violated("publish", f"$JS.API.CONSUMER.INFO.{auth.ALERT_STREAM}.beta")

    # Its own consumer, the way connection.json describes it.
    settings = nats_connection.connection_settings(secure_server.credentials("alpha"))
    await js.add_consumer(
        settings["alert_stream"],
        config=js_api.ConsumerConfig(
            name=settings["alert_consumer"], durable_name=settings["alert_consumer"],
            filter_subject=settings["alert_subject"], ack_policy=js_api.AckPolicy.EXPLICIT,
        ),
    )
    subscription = await js.pull_subscribe_bind(durable=settings["alert_consumer"], stream=settings["alert_stream"])
    messages = await subscription.fetch(batch=10, timeout=1)
    assert [json.loads(message.data) for message in messages] == [{"for": "alpha"}]
    for message in messages:
        await message.ack_sync()
    assert (await js.consumer_info(auth.ALERT_STREAM, "alpha")).num_ack_pending == 0


async def test_service_and_ops_do_what_they_need(connect: Callable) -> None:
    service = await connect(auth.SERVICE)
    await create_streams(service)
    seen: list[str] = []
    await start_responder(service, seen)
    await service.nc.publish(auth.INVALIDATE_SUBJECT, b'{"all": true}')
    ack = await service.nc.jetstream().publish(auth.alert_subject("alpha"), b"{}")
    assert ack.stream == auth.ALERT_STREAM
    await service.nc.flush()
    assert service.violations == []

    ops = await connect(auth.OPS)
    reply = await ops.nc.request("centralcloud.sync.run", b"{}", timeout=2)
    assert json.loads(reply.data) == {"answered": "centralcloud.sync.run"}
    ping = await ops.nc.request("$SRV.PING.centralcloud", b"", timeout=2)
    assert json.loads(ping.data)["name"] == "centralcloud"
    stats = await ops.nc.request("$SRV.STATS.centralcloud", b"", timeout=2)
    assert {endpoint["subject"] for endpoint in json.loads(stats.data)["endpoints"]} >= {"centralcloud.sync.run"}
    ops_js = ops.nc.jetstream(timeout=1)
    info = await ops_js.stream_info(auth.REPORT_STREAM)
    assert info.config.name == auth.REPORT_STREAM
    assert {stream.config.name for stream in await ops_js.streams_info()} == {auth.REPORT_STREAM, auth.ALERT_STREAM}
    assert ops.violations == []
    # Read-only: no deleting streams, no invalidating caches.
    with pytest.raises((nats_errors.TimeoutError, nats_errors.NoRespondersError)):
        await ops_js.delete_stream(auth.REPORT_STREAM)
    assert await ops.violated("publish", f"$JS.API.STREAM.DELETE.{auth.REPORT_STREAM}")
    await ops.nc.publish(auth.INVALIDATE_SUBJECT, b"{}")
    assert await ops.violated("publish", auth.INVALIDATE_SUBJECT)

    monitoring = await connect(auth.MONITORING)
    stats = await monitoring.nc.request("$SRV.STATS.centralcloud", b"", timeout=2)
    assert json.loads(stats.data)["name"] == "centralcloud"
    with pytest.raises((nats_errors.TimeoutError, nats_errors.NoRespondersError)):
        await monitoring.nc.request("centralcloud.packages.get", b"{}", timeout=0.5)
    assert await monitoring.violated("publish", "centralcloud.packages.get")
    assert seen == ["centralcloud.sync.run"]


# --- TLS -----------------------------------------------------------------------------------------


def write_certificates(directory: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path, pathlib.Path]:
    """A CA and a server certificate for 127.0.0.1 and localhost signed by it: (ca, cert, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "centralcloud test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
            decipher_only=False,
        ), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "ca.pem", directory / "server-cert.pem", directory / "server-key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ))
    return paths


async def tls_handshake(url: str, context: ssl.SSLContext) -> None:
    host, port = url.removeprefix("nats://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        info = json.loads((await reader.readline()).removeprefix(b"INFO "))
        assert info["tls_required"] is True
        await writer.start_tls(context, server_hostname=host)
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


async def test_tls_with_a_certificate_made_at_test_time(tmp_path: pathlib.Path) -> None:
    deploy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, deploy, ignore=shutil.ignore_patterns("auth"))
    ca, cert, key = write_certificates(tmp_path)
    # `instance add --tls-ca` puts the CA into the instance's connection settings.
    assert cli.main(["instance", "add", "alpha", "--auth-dir", str(deploy / "auth"), "--tls-ca", str(ca)]) == 0
    conf = deploy / "nats.conf"
    # The block docs/security.md tells operators to uncomment, with this test's files.
    text = conf.read_text()
    commented = '# tls {\n#   cert_file: "/etc/nats/tls/server-cert.pem"\n#   key_file: "/etc/nats/tls/server-key.pem"\n# }'
    assert commented in text
    conf.write_text(text.replace(commented, f'tls {{\n  cert_file: "{cert}"\n  key_file: "{key}"\n}}'))
    server = await start_server(deploy)
    try:
        # The server speaks TLS, and only the test CA makes its certificate trusted.
        # (Checked on a raw socket: nats-py keeps retrying a failed handshake.)
        with pytest.raises(ssl.SSLCertVerificationError):
            await tls_handshake(server.url, ssl.create_default_context())
        await tls_handshake(server.url, nats_connection.tls_context(ca_file=ca))
        options = nats_connection.connect_options(credentials=server.credentials("alpha"))
        assert "tls" in options
        violations: list[str] = []

        async def on_error(err: Exception) -> None:
            violations.append(str(err).lower())

        nc = await nats.connect(server.url, allow_reconnect=False, connect_timeout=5, error_cb=on_error, **options)
        try:
            assert nc._server_info.get("tls_required") is True
            # Authentication and permissions still apply over TLS.
            await nc.publish("centralcloud.sync.run", b"{}")
            client = Client(nc, violations)
            assert await client.violated("publish", "centralcloud.sync.run")
        finally:
            await nc.close()
    finally:
        stop_server(server)


# --- embedded --------------------------------------------------------------------------------------


async def test_embedded_server_with_roles(tmp_path: pathlib.Path) -> None:
    auth_dir = tmp_path / "auth"
    config_file = credential_files.embedded_config(auth_dir=auth_dir, store_dir=tmp_path / "nats", server_name="test")
    assert cli.main(["instance", "add", "alpha", "--auth-dir", str(auth_dir)]) == 0
    server = embedded_nats.EmbeddedNats(host="127.0.0.1", port=0, data_dir=tmp_path, config_file=config_file)
    url = await server.start()
    try:
        assert refused_for_credentials(await refused_connection(url))
        nc = await nats.connect(
            url, allow_reconnect=False, **nats_connection.connect_options(credentials=auth_dir / "service")
        )
        try:
            info = await nc.jetstream().account_info()
            assert info.limits is not None
        finally:
            await nc.close()
    finally:
        await server.stop()


async def test_serve_secure_embedded_nats_uses_the_roles(
    database_url: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = processes.free_port()
    settings = config.load(
        env={}, database_url=database_url, data_dir=tmp_path / "data", embedded_nats=True, nats_secure=True,
        nats_url=f"nats://127.0.0.1:{port}", sync_enabled=False,
        # No registry is asked in this test; local endpoints keep discovery from looking for npm or pip.
        npm_url="http://127.0.0.1:9/", pypi_url="http://127.0.0.1:9/",
    )
    stop, ready = asyncio.Event(), asyncio.Event()
    serving = asyncio.create_task(app.run(settings, stop=stop, ready=ready))
    try:
        await asyncio.wait_for(asyncio.wait({serving, asyncio.ensure_future(ready.wait())},
                                            return_when=asyncio.FIRST_COMPLETED), 60)
        assert ready.is_set(), serving.exception() if serving.done() else "not ready"
        url = f"nats://127.0.0.1:{port}"
        assert refused_for_credentials(await refused_connection(url))

        # The documented step for a new instance; the running embedded server reloads its users.
        auth_dir = tmp_path / "data" / "auth"
        assert cli.main(["instance", "add", "laptop", "--auth-dir", str(auth_dir)]) == 0
        assert "reloaded" in capsys.readouterr().out
        credentials = auth_dir / "instances" / "laptop"
        for _ in range(100):
            with contextlib.suppress(Exception):
                nc = await nats.connect(url, allow_reconnect=False, **nats_connection.connect_options(credentials=credentials))
                break
            await asyncio.sleep(0.05)
        try:
            reply = await nc.request("centralcloud.packages.search", b'{"query": "left-pad"}', timeout=5)
            assert not reply.headers, reply.headers  # no error header: the service answered the instance
            assert json.loads(reply.data) == {"query": "left-pad", "hits": []}
        finally:
            await nc.close()

        # The CLI connects with the same credentials from the environment; ops may not search.
        monkeypatch.setenv("CENTRALCLOUD_NATS_URL", url)
        monkeypatch.setenv("CENTRALCLOUD_NATS_CREDENTIALS", str(credentials))
        code = await asyncio.to_thread(cli.main, ["sync", "status", "--json", "--timeout", "5"])
        assert code != 0  # an instance may not ask sync.*
        monkeypatch.setenv("CENTRALCLOUD_NATS_CREDENTIALS", str(auth_dir / "ops"))
        code = await asyncio.to_thread(cli.main, ["sync", "status", "--json", "--timeout", "5"])
        assert code == 0
        assert "runs" in json.loads(capsys.readouterr().out)

        # Removing the instance revokes its key once the server has reloaded; others keep theirs.
        kept_seed = tmp_path / "laptop.nk"
        shutil.copy(credentials / credential_files.SEED_FILE, kept_seed)
        assert cli.main(["instance", "remove", "laptop", "--auth-dir", str(auth_dir)]) == 0
        assert "reloaded" in capsys.readouterr().out
        refusal = None
        for _ in range(100):
            with contextlib.suppress(AssertionError):  # connected: the reload has not happened yet
                refusal = await refused_connection(url, nkeys_seed=str(kept_seed))
                break
            await asyncio.sleep(0.05)
        assert refusal is not None and refused_for_credentials(refusal)
        ops = await nats.connect(url, allow_reconnect=False, **nats_connection.connect_options(credentials=auth_dir / "ops"))
        await ops.close()
    finally:
        stop.set()
        await asyncio.wait_for(serving, 30)


async def test_cli_says_promptly_when_credentials_do_not_allow_a_request(
    secure_server: Server, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CENTRALCLOUD_NATS_URL", secure_server.url)
    monkeypatch.setenv("CENTRALCLOUD_NATS_CREDENTIALS", str(secure_server.credentials("alpha")))
    loop = asyncio.get_running_loop()
    started = loop.time()
    code = await asyncio.to_thread(cli.main, ["sync", "status", "--timeout", "20"])
    assert code == 2
    assert loop.time() - started < 10  # the violation ends the wait, not the 20 s timeout
    assert "may not ask centralcloud.sync.status" in capsys.readouterr().err

    monkeypatch.delenv("CENTRALCLOUD_NATS_CREDENTIALS")
    assert await asyncio.to_thread(cli.main, ["sync", "status", "--timeout", "5"]) == 2
    message = capsys.readouterr().err
    # The hint needs the server's -ERR, which a client loses when the close wins the race.
    assert "set CENTRALCLOUD_NATS_CREDENTIALS" in message or "connection lost" in message.lower(), message


async def test_shipped_cluster_nodes_form_a_cluster_with_the_roles(tmp_path: pathlib.Path) -> None:
    deploy = make_deploy_copy(tmp_path / "deploy", "alpha")
    # The node files as shipped, with the compose host names and ports moved to loopback.
    route_ports = {f"nats-{n}": processes.free_port() for n in (1, 2, 3)}
    servers = []
    try:
        for n in (1, 2, 3):
            conf = deploy / "cluster" / f"node-{n}.conf"
            text = conf.read_text().replace("/data/jetstream", str(deploy / f"jetstream-{n}"))
            text = text.replace("listen: 0.0.0.0:6222", f"listen: 127.0.0.1:{route_ports[f'nats-{n}']}")
            for host, port in route_ports.items():
                text = text.replace(f"nats-route://{host}:6222", f"nats-route://127.0.0.1:{port}")
            assert "6222" not in text
            conf.write_text(text)
            servers.append(await start_server(deploy, config=f"cluster/node-{n}.conf", rewrite=False))

        async def as_user(name: str, node: int) -> nats.aio.client.Client:
            server = servers[node]
            return await nats.connect(server.url, allow_reconnect=False, **nats_connection.connect_options(
                credentials=server.credentials(name)))

        service = await as_user(auth.SERVICE, 0)
        alpha = await as_user("alpha", 2)
        try:
            js = service.jetstream(timeout=2)
            for _ in range(100):  # until the nodes have elected a JetStream meta leader
                try:
                    await js.add_stream(name=auth.REPORT_STREAM, subjects=[f"{auth.REPORT_PREFIX}.>"], num_replicas=3)
                    break
                except (nats_errors.TimeoutError, nats_errors.NoRespondersError, nats.js.errors.APIError):
                    await asyncio.sleep(0.2)
            info = await js.stream_info(auth.REPORT_STREAM)
            assert info.config.num_replicas == 3
            assert info.cluster is not None and len(info.cluster.replicas or []) == 2
            ack = await alpha.jetstream(timeout=5).publish(auth.report_subject("alpha"), b"{}")
            assert ack.stream == auth.REPORT_STREAM
        finally:
            await alpha.close()
            await service.close()
    finally:
        for server in servers:
            stop_server(server)
