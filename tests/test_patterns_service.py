"""Reports through a real nats-server (JetStream) into real PostgreSQL, and the answers about them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import AsyncIterator, Callable
from typing import Any

import nats
import pytest

from centralcloud.edge import streams
from centralcloud.runtime import app, config

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


@contextlib.asynccontextmanager
async def service(database_url: str, nats_url: str, **overrides: Any) -> AsyncIterator[None]:
    settings = config.load(env={}, **{
        "database_url": database_url, "nats_url": nats_url, "sync_enabled": False,
        "npm_url": "http://127.0.0.1:9", "pypi_url": "http://127.0.0.1:9", "osv_url": "http://127.0.0.1:9",
        "github_url": "http://127.0.0.1:9", "crates_url": "http://127.0.0.1:9", "hex_url": "http://127.0.0.1:9",
        "pattern_recompute_seconds": 0.2, "reports_ack_wait": 2, "queue_group": "test",
    } | overrides)
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(app.run(settings, stop=stop, ready=ready))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED, timeout=60)
    if task.done():
        task.result()
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)


def native(project: str | None, purls: list[str], **extra: Any) -> bytes:
    body: dict[str, Any] = {"dependencies": [{"purl": purl} for purl in purls]} | extra
    if project is not None:
        body["project"] = project
    return json.dumps(body).encode()


async def publish(client: Any, instance: str, body: bytes, *, msg_id: str | None = None, project: str | None = None) -> Any:
    headers = {}
    if msg_id:
        headers[streams.MSG_ID] = msg_id
    if project:
        headers[streams.PROJECT] = project
    return await client.jetstream().publish(f"centralcloud.patterns.report.{instance}", body, headers=headers or None)


async def eventually(check: Callable[[], Any], *, timeout: float = 60) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not reached within {timeout}s: {value!r}")
        await asyncio.sleep(0.2)


async def ask(client: Any, subject: str, payload: dict[str, Any]) -> dict[str, Any]:
    reply = await client.request(subject, json.dumps(payload).encode(), timeout=10)
    return json.loads(reply.data)


async def test_reports_published_while_no_service_runs_are_processed_once(database: Any, database_url: str, nats_url: str) -> None:
    async with service(database_url, nats_url):
        pass  # the first start creates the streams; from then on they keep reports whoever runs
    client = await nats.connect(nats_url)
    try:
        for i in range(1000):
            ack = await publish(client, f"inst-{i % 50}", native(f"proj-{i // 50}", [f"pkg:npm/lib-{i % 7}@1.0.{i % 3}", "pkg:pypi/django@5.1"]))
            assert not ack.duplicate
        assert await database.pool.fetchval("SELECT count(*) FROM reported_projects") == 0
        async with service(database_url, nats_url):
            await eventually(lambda: database.pool.fetchval("SELECT count(*) = 1000 FROM reported_projects"))
            # Each project holds its two packages once: nothing was processed twice.
            assert await database.pool.fetchval("SELECT count(*) FROM reported_dependencies") == 2000

            async def recomputed() -> Any:
                reply = await ask(client, "centralcloud.patterns.usage", {"purl": "pkg:pypi/django"})
                return reply if reply["projects"] == 1000 else None

            usage = await eventually(recomputed)  # the answers read the aggregates of the last recompute
            assert (usage["instances"], usage["projects"], usage["direct_instances"]) == (50, 1000, 50)
            assert usage["versions"] == [{"version": "5.1", "instances": 50}]
            assert usage["trend"] == {"added_30d": 50, "dropped_30d": 0}
            # The recompute noted one "added" per package and instance.
            added = {(i % 50, f"lib-{i % 7}") for i in range(1000)} | {(i % 50, "django") for i in range(1000)}
            assert await database.pool.fetchval("SELECT count(*) FROM usage_events WHERE change = 'added'") == len(added)
    finally:
        await client.close()


async def test_duplicate_message_id_is_counted_once_and_unchanged_reports_write_nothing(
    database: Any, database_url: str, nats_url: str
) -> None:
    async with service(database_url, nats_url):
        client = await nats.connect(nats_url)
        try:
            first = await publish(client, "dev-1", native("api", ["pkg:npm/express@4.21.2"]), msg_id="r-1")
            again = await publish(client, "dev-1", native("api", ["pkg:npm/koa@2.0.0"]), msg_id="r-1")
            assert not first.duplicate and again.duplicate
            await eventually(lambda: database.pool.fetchval("SELECT count(*) = 1 FROM reported_projects"))
            stored = await database.pool.fetchrow("SELECT id, changed_at, last_reported_at, stream_seq FROM reported_projects")
            await publish(client, "dev-1", native("api", ["pkg:npm/express@4.21.2"]), msg_id="r-2")
            await eventually(lambda: database.pool.fetchval(
                "SELECT stream_seq > $1 FROM reported_projects", stored["stream_seq"]))
            after = await database.pool.fetchrow("SELECT id, changed_at, last_reported_at FROM reported_projects")
            assert after["changed_at"] == stored["changed_at"] and after["last_reported_at"] > stored["last_reported_at"]
            names = await database.pool.fetch("SELECT k.name FROM reported_dependencies d JOIN reported_packages k ON k.id = d.package_id")
            assert [row["name"] for row in names] == ["express"]
            assert await database.pool.fetchval("SELECT count(*) FROM usage_events") == 1
        finally:
            await client.close()


async def test_every_malformed_report_is_recorded_and_the_consumer_keeps_flowing(
    database: Any, database_url: str, nats_url: str
) -> None:
    async with service(database_url, nats_url):
        client = await nats.connect(nats_url)
        try:
            await publish(client, "dev-1", b"this is not json", msg_id="bad-json")
            await publish(client, "dev-1", json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.2"}).encode(), msg_id="bad-format")
            await publish(client, "dev-1", json.dumps({"project": "x", "dependencies": "express"}).encode(), msg_id="bad-types")
            await publish(client, "dev-1", native(None, ["pkg:npm/express@4.21.2"]), msg_id="no-project")
            await publish(client, "dev-1.sub", native("x", ["pkg:npm/express@4.21.2"]), msg_id="bad-instance")
            # Entries that cannot be read are rejected one by one; the rest is kept.
            await publish(client, "dev-1", native("mixed", ["pkg:npm/express@4.21.2", "not a purl", "pkg:npm/..%2Fadmin"]), msg_id="mixed")
            await publish(client, "dev-1", native("good", ["pkg:npm/react@19.0.0"]), msg_id="good")
            await eventually(lambda: database.pool.fetchval("SELECT count(*) = 2 FROM reported_projects"))
            rows = await database.pool.fetch("SELECT message_id, reason, instance_id FROM rejected_reports ORDER BY stream_seq")
            assert [(r["message_id"], r["reason"]) for r in rows] == [
                ("bad-json", "not_json"), ("bad-format", "unknown_format"), ("bad-types", "wrong_types"),
("no-project", "bad_project"), ("bad-instance", "bad_instance"),
            ]
            assert rows[-1]["instance_id"] == "dev-1.sub"
            mine = await ask(client, "centralcloud.patterns.instance", {"instance": "dev-1"})
            assert {p["project"] for p in mine["projects"]} == {"mixed", "good"}
            mixed = next(p for p in mine["projects"] if p["project"] == "mixed")
            assert mixed["dependencies"] == 1 and mixed["rejected_entries"] == 2
            assert [r["reason"] for r in mixed["rejects"]] == ["malformed_purl", "invalid_name"]
            assert sorted(r["reason"] for r in mine["rejected"]) == ["bad_project", "not_json", "unknown_format", "wrong_types"]
            bad = await client.request("centralcloud.patterns.instance", b'{"instance": "a.b"}', timeout=5)
            assert json.loads(bad.data)["error"]["status"] == 400
        finally:
            await client.close()


async def test_oversized_reports_are_rejected_not_stuck(database: Any, database_url: str, tmp_path: Any) -> None:
    from centralcloud.runtime import embedded_nats

    conf = tmp_path / "nats.conf"
    conf.write_text(f'jetstream {{ store_dir: "{tmp_path / "js"}" }}\nmax_payload: 8MB\n')
    server = embedded_nats.EmbeddedNats(host="127.0.0.1", port=0, data_dir=None, config_file=conf)
    url = await server.start()
    try:
        async with service(database_url, url):
            client = await nats.connect(url)
            try:
                await publish(client, "dev-1", b'{"project": "big", "dependencies": [], "pad": "' + b"x" * (5 << 20) + b'"}')
                await publish(client, "dev-1", native("x", [f"pkg:npm/p{i}" for i in range(100_000)]))
                await publish(client, "dev-1", native("after", ["pkg:npm/react@19.0.0"]))
                await eventually(lambda: database.pool.fetchval("SELECT count(*) = 1 FROM reported_projects"))
                reasons = await database.pool.fetch("SELECT reason FROM rejected_reports ORDER BY stream_seq")
                assert [row["reason"] for row in reasons] == ["too_large", "too_many_dependencies"]
            finally:
                await client.close()
    finally:
        await server.stop()


WORKED = {  # docs/patterns.md's worked example
    ("i1", "p1"): ["react", "vite", "express"],
    ("i1", "p2"): ["react", "vite"],
    ("i2", "p1"): ["react", "express"],
    ("i3", "p1"): ["django", "react", "vite"],
    ("i4", "p9"): ["django"],
}


async def test_pairs_and_usage_match_hand_computed_values(database: Any, database_url: str, nats_url: str) -> None:
    async with service(database_url, nats_url, pattern_min_instances=2):
        client = await nats.connect(nats_url)
        try:
            for (instance, project), items in WORKED.items():
                purls = [f"pkg:pypi/{n}@1.0" if n == "django" else f"pkg:npm/{n}@1.0.0" for n in items]
                await publish(client, instance, native(project, purls, patterns=[{"kind": "framework", "name": "spa"}] if "vite" in items else []))

            async def computed() -> Any:
                reply = await ask(client, "centralcloud.patterns.pairs", {"purl": "pkg:npm/react"})
                return reply if reply["transactions"] == 5 else None

            pairs = await eventually(computed)
            by_purl = {p["purl"]: p for p in pairs["pairs"]}
            # react-vite: N 5, a 4, b 3, ab 3, shared by i1 and i3; react-express: ab 2 (i1, i2).
            vite = by_purl["pkg:npm/vite"]
            assert (vite["projects"], vite["instances"]) == (3, 2)
            assert vite["support"] == 0.6 and vite["confidence"] == 0.75 and vite["confidence_reverse"] == 1.0
            assert math.isclose(vite["lift"], 1.25) and math.isclose(vite["npmi"], 0.223144 / 0.510826, abs_tol=1e-5)
            express = by_purl["pkg:npm/express"]
            assert (express["projects"], express["instances"]) == (2, 2) and math.isclose(express["lift"], 1.25)
            # react-django is one instance's: below the threshold of 2, not shown.
            assert "pkg:pypi/django" not in by_purl
            assert [p["purl"] for p in pairs["pairs"]] == ["pkg:npm/vite", "pkg:npm/express"]  # by NPMI
            usage = await ask(client, "centralcloud.patterns.usage", {"ecosystem": "npm", "name": "react"})
            assert (usage["instances"], usage["projects"], usage["direct_instances"]) == (3, 4, 3)
            assert usage["versions"] == [{"version": "1.0.0", "instances": 3}]
            popular = await ask(client, "centralcloud.patterns.popular", {"kind": "packages", "ecosystem": "npm"})
            assert [(p["purl"], p["instances"]) for p in popular["packages"]] == [
                ("pkg:npm/react", 3), ("pkg:npm/vite", 2), ("pkg:npm/express", 2)]  # vite: 3 projects, express 2
            patterns = await ask(client, "centralcloud.patterns.popular", {"kind": "patterns"})
            [spa] = patterns["patterns"]
            assert (spa["kind"], spa["name"], spa["instances"], spa["projects"]) == ("framework", "spa", 2, 3)
            assert spa["associated"][0] == {"purl": "pkg:npm/vite", "projects": 3, "lift": pytest.approx(5 / 3)}
        finally:
            await client.close()


async def test_below_the_threshold_nothing_is_shown(database: Any, database_url: str, nats_url: str) -> None:
    async with service(database_url, nats_url):  # the default: 3 instances
        client = await nats.connect(nats_url)
        try:
            for (instance, project), items in WORKED.items():
                shown_by = [{"kind": "framework", "name": "spa"}] if instance in ("i1", "i2") else []
                await publish(client, instance, native(project, [f"pkg:npm/{n}@1.0.0" for n in items], patterns=shown_by))
            await eventually(lambda: database.pool.fetchval("SELECT transactions = 5 FROM pattern_state"))
            assert (await ask(client, "centralcloud.patterns.pairs", {"purl": "pkg:npm/react"}))["pairs"] == []
            assert (await ask(client, "centralcloud.patterns.popular", {"kind": "pairs"}))["pairs"] == []
            vite = await ask(client, "centralcloud.patterns.usage", {"purl": "pkg:npm/vite"})
            assert vite["instances"] == 2 and vite["versions"] == []
            popular = await ask(client, "centralcloud.patterns.popular", {"kind": "packages"})
            assert [p["purl"] for p in popular["packages"]] == ["pkg:npm/react"]  # 3 instances; vite has 2
            assert (await ask(client, "centralcloud.patterns.popular", {"kind": "patterns"}))["patterns"] == []
            # An instance still sees its own reports.
            mine = await ask(client, "centralcloud.patterns.instance", {"instance": "i4"})
            assert [p["project"] for p in mine["projects"]] == ["p9"]
        finally:
            await client.close()


async def seed_vulnerable(database: Any) -> None:
    pool = database.pool
    package = await pool.fetchval(
        "INSERT INTO packages (ecosystem, name, display_name, latest_version, synced_at, advisories_synced_at) "
        "VALUES ('npm', 'vulnlib', 'vulnlib', '1.2.0', now(), now()) RETURNING id"
    )
    await pool.execute(
        "INSERT INTO versions (package_id, number, yanked) VALUES ($1, '1.0.0', false), ($1, '1.1.0', true), ($1, '1.2.0', false)",
        package,
    )
    await add_advisory(database, "GHSA-test-0001", fixed="1.0.5")


async def add_advisory(database: Any, advisory_id: str, *, fixed: str) -> None:
    pool = database.pool
    await pool.execute(
        "INSERT INTO advisories (id, summary, severity, published_at, sources) VALUES ($1, 'bad thing', 'HIGH', now(), '{osv}')",
        advisory_id,
    )
    await pool.execute("INSERT INTO advisory_aliases (advisory_id, alias) VALUES ($1, $2)", advisory_id, "CVE-" + advisory_id[-4:])
    await pool.execute(
        "INSERT INTO advisory_affected (advisory_id, ecosystem, name, ranges) VALUES ($1, 'npm', 'vulnlib', $2)",
        advisory_id, [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": fixed}]}],
    )
    await pool.execute("UPDATE packages SET advisories_synced_at = now() WHERE name = 'vulnlib'")


async def alerts_in_stream(client: Any, instance: str) -> list[dict[str, Any]]:
    js = client.jetstream()
    subscription = await js.subscribe(f"centralcloud.alerts.{instance}", stream=streams.ALERTS_STREAM, ordered_consumer=True)
    found = []
    try:
        while True:
            try:
                msg = await subscription.next_msg(timeout=1)
            except (TimeoutError, nats.errors.TimeoutError):
                return found
            found.append(json.loads(msg.data))
    finally:
        await subscription.unsubscribe()


async def test_alerts_arrive_once_at_ingest_and_after_a_sync_and_never_twice_across_restarts(
    database: Any, database_url: str, nats_url: str
) -> None:
    await seed_vulnerable(database)
    client = await nats.connect(nats_url)
    try:
        async with service(database_url, nats_url):
            await publish(client, "dev-1", native("api", ["pkg:npm/vulnlib@1.0.0", "pkg:npm/other@1.0.0"]))
            await publish(client, "dev-2", native("web", ["pkg:npm/vulnlib@1.1.0"]))
            await eventually(lambda: database.pool.fetchval("SELECT count(*) = 2 FROM sent_alerts"))
            [alert] = await alerts_in_stream(client, "dev-1")
            assert (alert["project"], alert["purl"], alert["kind"]) == ("api", "pkg:npm/vulnlib@1.0.0", "advisory")
            assert alert["advisory"]["id"] == "GHSA-test-0001" and alert["advisory"]["aliases"] == ["CVE-0001"]
            assert alert["advisory"]["first_fixed"] == "1.0.5" and alert["advisory"]["severity"] == "HIGH"
            [yanked] = await alerts_in_stream(client, "dev-2")  # 1.1.0 is past the fix but yanked
            assert (yanked["kind"], yanked["purl"]) == ("yanked", "pkg:npm/vulnlib@1.1.0")
        await add_advisory(database, "GHSA-test-0002", fixed="1.2.0")
        async with service(database_url, nats_url):
            reply = await ask(client, "centralcloud.sync.run", {})
            await eventually(lambda: database.pool.fetchval("SELECT count(*) = 4 FROM sent_alerts"))
            while (await ask(client, "centralcloud.sync.status", {"run": reply["run"]}))["runs"][0]["state"] == "running":
                await asyncio.sleep(0.2)
            # A replica that crashed between publishing and recording: the stream drops the re-send.
            await database.pool.execute("DELETE FROM sent_alerts WHERE key = 'GHSA-test-0002' AND instance_id = 'dev-1'")
            await ask(client, "centralcloud.sync.run", {})
            await eventually(lambda: database.pool.fetchval("SELECT count(*) = 4 FROM sent_alerts"))
        async with service(database_url, nats_url):
            await publish(client, "dev-1", native("api", ["pkg:npm/vulnlib@1.0.0", "pkg:npm/more@2.0.0"]))
            await eventually(lambda: database.pool.fetchval("SELECT dependencies = 2 AND stream_seq > 2 FROM reported_projects WHERE project = 'api'"))
            await asyncio.sleep(1)
        first = await alerts_in_stream(client, "dev-1")
        assert sorted(a["advisory"]["id"] for a in first) == ["GHSA-test-0001", "GHSA-test-0002"]
        second = await alerts_in_stream(client, "dev-2")
        assert sorted((a["kind"], (a["advisory"] or {}).get("id")) for a in second) == [
            ("advisory", "GHSA-test-0002"), ("yanked", None)]
    finally:
        await client.close()


FORMATS = {
    "native": ({"project": "billing-api", "dependencies": [
        {"purl": "pkg:npm/express@4.21.2"}, {"purl": "pkg:npm/accepts@1.3.8", "direct": False},
        {"purl": "pkg:pypi/pytest@8.3.4", "kind": "dev"}]}, None),
    "cyclonedx": ({"bomFormat": "CycloneDX", "specVersion": "1.6",
                   "metadata": {"component": {"bom-ref": "billing-api", "name": "billing-api"}},
                   "components": [
                       {"bom-ref": "express", "name": "express", "purl": "pkg:npm/express@4.21.2"},
                       {"bom-ref": "accepts", "name": "accepts", "purl": "pkg:npm/accepts@1.3.8"},
                       {"bom-ref": "pytest", "name": "pytest", "purl": "pkg:pypi/pytest@8.3.4", "scope": "excluded"}],
                   "dependencies": [{"ref": "billing-api", "dependsOn": ["express", "pytest"]},
                                    {"ref": "express", "dependsOn": ["accepts"]}]}, None),
    "spdx": ({"spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT", "name": "billing-api-sbom",
              "documentDescribes": ["SPDXRef-app"],
              "packages": [
                  {"SPDXID": "SPDXRef-app", "name": "billing-api"},
                  {"SPDXID": "SPDXRef-express", "name": "express", "externalRefs": [
                      {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": "pkg:npm/express@4.21.2"}]},
                  {"SPDXID": "SPDXRef-accepts", "name": "accepts", "externalRefs": [
                      {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": "pkg:npm/accepts@1.3.8"}]},
                  {"SPDXID": "SPDXRef-pytest", "name": "pytest", "externalRefs": [
                      {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": "pkg:pypi/pytest@8.3.4"}]}],
              "relationships": [
                  {"spdxElementId": "SPDXRef-app", "relationshipType": "DEPENDS_ON", "relatedSpdxElement": "SPDXRef-express"},
                  {"spdxElementId": "SPDXRef-express", "relationshipType": "DEPENDS_ON", "relatedSpdxElement": "SPDXRef-accepts"},
                  {"spdxElementId": "SPDXRef-pytest", "relationshipType": "DEV_DEPENDENCY_OF", "relatedSpdxElement": "SPDXRef-app"}]}, None),
    "github": ({"version": 0, "sha": "ce58", "ref": "refs/heads/main", "job": {"correlator": "build", "id": "1"},
                "detector": {"name": "d", "version": "1", "url": "https://example.invalid"}, "scanned": "2025-01-15T10:00:00Z",
                "manifests": {"package-lock.json": {"resolved": {
                    "express": {"package_url": "pkg:npm/express@4.21.2", "relationship": "direct", "scope": "runtime"},
                    "accepts": {"package_url": "pkg:npm/accepts@1.3.8", "relationship": "indirect"}}},
                    "requirements.txt": {"resolved": {
                        "pytest": {"package_url": "pkg:pypi/pytest@8.3.4", "relationship": "direct", "scope": "development"}}}}},
               "billing-api"),
}


async def test_all_four_formats_store_the_same_dependency_set(database: Any, database_url: str, nats_url: str) -> None:
    async with service(database_url, nats_url):
        client = await nats.connect(nats_url)
        try:
            for name, (document, project) in FORMATS.items():
                await publish(client, name, json.dumps(document).encode(), project=project)
            await eventually(lambda: database.pool.fetchval("SELECT count(*) = 4 FROM reported_projects"))
            rows = await database.pool.fetch(
                "SELECT rp.instance_id, rp.project, rp.format, k.ecosystem, k.name, d.version, d.kind, d.direct "
                "FROM reported_dependencies d JOIN reported_projects rp ON rp.id = d.project_id "
                "JOIN reported_packages k ON k.id = d.package_id ORDER BY k.ecosystem, k.name"
            )
            sets: dict[str, list[tuple[Any, ...]]] = {}
            for row in rows:
                assert (row["project"], row["format"]) == ("billing-api", row["instance_id"])
                sets.setdefault(row["instance_id"], []).append((row["ecosystem"], row["name"], row["version"], row["kind"], row["direct"]))
            assert sets["native"] == [
                ("npm", "accepts", "1.3.8", "runtime", False), ("npm", "express", "4.21.2", "runtime", True),
                ("pypi", "pytest", "8.3.4", "dev", True),
            ]
            assert sets["native"] == sets["cyclonedx"] == sets["spdx"] == sets["github"]
        finally:
            await client.close()


async def test_aggregates_follow_reports_over_several_recomputes(database: Any, database_url: str, nats_url: str) -> None:
    async with service(database_url, nats_url, pattern_min_instances=1):
        client = await nats.connect(nats_url)
        try:
            for step, names in enumerate((["react", "vite"], ["react", "vite", "express"], ["react", "express"])):
                await publish(client, "dev-1", native("web", [f"pkg:npm/{n}@1.0.0" for n in names]))

                async def settled() -> Any:
                    reply = await ask(client, "centralcloud.patterns.pairs", {"purl": "pkg:npm/react"})
                    return reply if len(reply["pairs"]) == len(names) - 1 else None

                reply = await eventually(settled)
                assert sorted(p["purl"] for p in reply["pairs"]) == sorted(f"pkg:npm/{n}" for n in names[1:]), step
            usage = await ask(client, "centralcloud.patterns.usage", {"purl": "pkg:npm/vite"})
            assert usage["instances"] == 0 and usage["trend"] == {"added_30d": 1, "dropped_30d": 1}
        finally:
            await client.close()
