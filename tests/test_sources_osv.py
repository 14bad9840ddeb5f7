"""OSV: record mapping, the query API with paging, and bulk export import."""

from __future__ import annotations

import datetime as dt
import json

import pytest

import replay
from centralcloud.core import ecosystems, errors, model
from centralcloud.sources import http, osv

FAST = http.HttpPolicy(timeout=2.0, max_attempts=2, backoff_base=0.01, backoff_max=0.02, max_retry_wait=1.0)
RECORDS = (
    "GHSA-rv95-896h-c2vc",
    "PYSEC-2023-225",
    "RUSTSEC-2021-0124",
    "EEF-CVE-2099-0001",
    "GHSA-g4rg-993r-mgx7",
    "GHSA-9wx4-h78v-vm56",
)


def source(session, server, **kwargs) -> osv.OsvSource:
    return osv.OsvSource(session=session, base_url=server.url, policy=FAST, **kwargs)


def record(advisory_id: str) -> dict:
    return replay.fixture_json(f"osv/{advisory_id}.json")


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc)


def test_ghsa_npm_record():
    advisory = osv.parse_record(record("GHSA-rv95-896h-c2vc"))
    assert advisory == model.Advisory(
        id="GHSA-rv95-896h-c2vc",
        aliases=("CVE-2024-29041",),
        summary="Express.js Open Redirect in malformed URLs",
        details="Versions of Express.js prior to 4.19.2 and pre-release alpha and beta versions before "
        "5.0.0-beta.3 are affected by an open redirect vulnerability using malformed URLs.",
        severity_vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:L/I:L/A:N",
        severity_score=5.4,
        severity="medium",
        published=at("2024-03-25T19:40:26"),
        modified=at("2024-11-18T16:26:36"),
        withdrawn=None,
        references=(
            "https://github.com/expressjs/express/security/advisories/GHSA-rv95-896h-c2vc",
            "https://nvd.nist.gov/vuln/detail/CVE-2024-29041",
            "https://github.com/expressjs/express",
        ),
        affected=(
            model.AffectedPackage(
                ecosystem="npm",
                name="express",
                ranges=(
                    model.AffectedRange(type="SEMVER", events=({"introduced": "0"}, {"fixed": "4.19.2"})),
                    model.AffectedRange(
                        type="SEMVER", events=({"introduced": "5.0.0-alpha.1"}, {"fixed": "5.0.0-beta.3"})
                    ),
                ),
            ),
        ),
        source="osv",
    )


def test_pysec_record_normalizes_the_name_and_keeps_versions():
    advisory = osv.parse_record(record("PYSEC-2023-225"), source="import")
    assert advisory.source == "import"
    assert advisory.aliases == ("CVE-2023-46695", "GHSA-qmf9-6jqf-j8fq")
    assert advisory.summary is None
    assert advisory.details.startswith("An issue was discovered in Django 3.2 before 3.2.23")
    assert advisory.severity_vector is None and advisory.severity_score is None and advisory.severity is None
    assert advisory.published == at("2023-11-02T06:15:08")
    assert advisory.modified == at("2023-11-14T20:22:46.384931")
    assert advisory.references == (
        "https://docs.djangoproject.com/en/4.2/releases/security/",
        "https://www.djangoproject.com/weblog/2023/nov/01/security-releases/",
    )
    (django,) = advisory.affected
    assert django == model.AffectedPackage(
        ecosystem="pypi",
        name="django",
        ranges=(
            model.AffectedRange(
                type="ECOSYSTEM",
                events=(
                    {"introduced": "3.2"},
                    {"fixed": "3.2.23"},
                    {"introduced": "4.1"},
                    {"fixed": "4.1.13"},
                    {"introduced": "4.2"},
                    {"fixed": "4.2.7"},
                ),
            ),
        ),
        versions=("3.2", "3.2.1", "3.2.22", "4.1", "4.1.12", "4.2", "4.2.6"),
    )


def test_rustsec_record():
    advisory = osv.parse_record(record("RUSTSEC-2021-0124"))
    assert advisory.id == "RUSTSEC-2021-0124"
    assert advisory.aliases == ("CVE-2021-45710", "GHSA-fg7r-2g4j-5cgr")
    assert advisory.summary == "Data race when sending and receiving after closing a `oneshot` channel"
    assert advisory.severity is None and advisory.severity_score is None
    assert advisory.published == at("2021-11-16T12:00:00")
    assert advisory.references[0] == "https://crates.io/crates/tokio"
    assert advisory.affected == (
        model.AffectedPackage(
            ecosystem="cargo",
            name="tokio",
            ranges=(
                model.AffectedRange(
                    type="SEMVER",
                    events=({"introduced": "0.1.14"}, {"fixed": "1.8.4"}, {"introduced": "1.9.0"}, {"fixed": "1.13.1"}),
                ),
            ),
        ),
    )


def test_hex_record_with_git_range_and_foreign_ecosystems():
    advisory = osv.parse_record(record("EEF-CVE-2099-0001"))
    assert advisory.aliases == ("CVE-2099-0001",)
    assert advisory.severity_vector == "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:N"
    assert advisory.severity_score == 8.7
    assert advisory.severity == "high"
    # The Maven entry and the package-less GIT entry are not ours to keep.
    (plug_crypto,) = advisory.affected
    assert plug_crypto.ecosystem == "hex"
    assert plug_crypto.name == "plug_crypto"
    assert plug_crypto.flags == ("unknown_range_type:GIT",)
    assert [item.type for item in plug_crypto.ranges] == ["SEMVER", "GIT"]
    assert plug_crypto.ranges[1].events == (
        {"introduced": "0b3aa9b1f4d8b0ce5a0c9e1c1d5b6c5c0ad3f7a1"},
        {"fixed": "7f1e9c4d2a6b8e0f3c5d7a9b1c3e5f7a9b1d3f5a"},
    )


def test_critical_cvss_v3_is_preferred_over_v4():
    advisory = osv.parse_record(record("GHSA-g4rg-993r-mgx7"))
    assert advisory.severity_vector == "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
    assert advisory.severity_score == 9.8
    assert advisory.severity == "critical"
    assert advisory.affected[0].name == "shell-quote"


def test_withdrawn_record_is_kept_with_its_date():
    advisory = osv.parse_record(record("GHSA-9wx4-h78v-vm56"))
    assert advisory.withdrawn == at("2023-06-27T20:20:46")
    assert advisory.aliases == ()
    assert advisory.severity_score == 5.9 and advisory.severity == "medium"
    assert advisory.affected[0].name == "requests"


def test_malformed_vector_keeps_the_record_without_a_score():
    doc = record("GHSA-rv95-896h-c2vc")
    doc["severity"] = [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:Q"}]
    advisory = osv.parse_record(doc)
    assert advisory.severity_vector == "CVSS:3.1/AV:N/AC:Q"
    assert advisory.severity_score is None
    # GitHub's own MODERATE label stands in.
    assert advisory.severity == "medium"
    assert advisory.affected[0].name == "express"


def test_cvss_v2_and_per_package_severity():
    doc = record("RUSTSEC-2021-0124")
    doc["affected"][0]["severity"] = [{"type": "CVSS_V2", "score": "AV:N/AC:M/Au:N/C:P/I:P/A:P"}]
    advisory = osv.parse_record(doc)
    assert advisory.severity_score == 6.8 and advisory.severity == "medium"


@pytest.mark.parametrize(
    ("score", "label"),
    [(0.0, "none"), (0.1, "low"), (3.9, "low"), (4.0, "medium"), (6.9, "medium"), (7.0, "high"), (8.9, "high"),
     (9.0, "critical"), (10.0, "critical")],
)
def test_severity_bands(score, label):
    assert osv.severity_label(score) == label


def test_flags_for_unreadable_parts():
    doc = record("GHSA-rv95-896h-c2vc")
    doc["affected"].append({"package": {"ecosystem": "npm", "name": "../evil"}, "versions": ["1.0.0"]})
    doc["affected"].append(
        {
            "package": {"ecosystem": "crates.io", "name": "tokio"},
            "ranges": [
                {"type": "SEMVER", "events": [{"introduced": 0}, {"fixed": "1.0.0"}]},
                "SEMVER >=0",
                {"type": "SEMVER", "events": []},
            ],
            "versions": "1.0.0",
        }
    )
    doc["affected"].append({"package": {"ecosystem": "Hex"}})
    _, evil, tokio, nameless = osv.parse_record(doc).affected
    assert evil.name == "../evil" and evil.flags == ("invalid_name",) and evil.versions == ("1.0.0",)
    assert tokio.flags == ("malformed_event", "malformed_range", "malformed_versions")
    assert tokio.ranges == (
        model.AffectedRange(type="SEMVER", events=({"fixed": "1.0.0"},)),
        model.AffectedRange(type="SEMVER", events=()),
    )
    assert nameless.flags == ("missing_name",)


@pytest.mark.parametrize("doc", [[], {"summary": "no id"}, {"id": 7}, "GHSA-x"])
def test_record_without_id_is_bad_response(doc):
    with pytest.raises(errors.BadResponse):
        osv.parse_record(doc)


def test_mistyped_optional_fields_are_left_out():
    doc = record("GHSA-rv95-896h-c2vc")
    doc.update(aliases="CVE-2024-29041", references={"url": "x"}, severity="HIGH", published=2024, affected={})
    advisory = osv.parse_record(doc)
    assert advisory.aliases == () and advisory.references == () and advisory.published is None
    assert advisory.affected == ()
    assert advisory.severity == "medium" and advisory.severity_score is None


async def test_query_follows_pages(session, server):
    first, second = record("GHSA-rv95-896h-c2vc"), record("GHSA-g4rg-993r-mgx7")
    server.add(
        "/v1/query",
        replay.Reply.json({"vulns": [first], "next_page_token": "page-2"}),
        replay.Reply.json({"vulns": [second, first]}),
        method="POST",
    )
    advisories = await source(session, server).query("npm", "express")
    assert [advisory.id for advisory in advisories] == ["GHSA-rv95-896h-c2vc", "GHSA-g4rg-993r-mgx7"]
    assert advisories[0].severity_score == 5.4
    bodies = [json.loads(request.body) for request in server.received("/v1/query")]
    assert bodies == [
        {"package": {"name": "express", "ecosystem": "npm"}},
        {"package": {"name": "express", "ecosystem": "npm"}, "page_token": "page-2"},
    ]


@pytest.mark.parametrize(
    ("ecosystem", "name", "package"),
    [
        ("cargo", "tokio", {"name": "tokio", "ecosystem": "crates.io"}),
        ("hex", "plug_crypto", {"name": "plug_crypto", "ecosystem": "Hex"}),
        ("pypi", "Django", {"name": "django", "ecosystem": "PyPI"}),
        ("npm", "@types/node", {"name": "@types/node", "ecosystem": "npm"}),
    ],
)
async def test_query_names_the_ecosystem_as_osv_does(session, server, ecosystem, name, package):
    server.add("/v1/query", replay.Reply.json({}), method="POST")
    assert await source(session, server).query(ecosystem, name) == []
    assert json.loads(server.received("/v1/query")[0].body) == {"package": package}


async def test_query_rejects_unknown_ecosystems_without_sending(session, server):
    with pytest.raises(errors.UnknownEcosystem):
        await source(session, server).query("maven", "junit")
    assert server.requests == []


async def test_query_that_never_stops_paging_is_bad_response(session, server):
    server.add("/v1/query", replay.Reply.json({"vulns": [], "next_page_token": "again"}), method="POST")
    with pytest.raises(errors.BadResponse, match="3 pages"):
        await source(session, server, max_pages=3).query("npm", "express")
    assert len(server.received("/v1/query")) == 3


async def test_query_batch_pages_per_query(session, server):
    server.add(
        "/v1/querybatch",
        replay.Reply.json(
            {
                "results": [
                    {
                        "vulns": [{"id": "GHSA-rv95-896h-c2vc", "modified": "2024-11-18T16:26:36Z"}],
                        "next_page_token": "express-2",
                    },
                    {},
                    {"vulns": [{"id": "RUSTSEC-2021-0124", "modified": "2023-06-13T13:10:24Z"}]},
                ]
            }
        ),
        replay.Reply.json(
            {"results": [{"vulns": [{"id": "GHSA-qw6h-vgh9-j6wx", "modified": "2024-09-10T19:41:04.123Z"}]}]}
        ),
        method="POST",
    )
    results = await source(session, server).query_batch([("npm", "express"), ("pypi", "Left_Pad"), ("cargo", "tokio")])
    assert results == [
        [
            ("GHSA-rv95-896h-c2vc", at("2024-11-18T16:26:36")),
            ("GHSA-qw6h-vgh9-j6wx", at("2024-09-10T19:41:04.123")),
        ],
        [],
        [("RUSTSEC-2021-0124", at("2023-06-13T13:10:24"))],
    ]
    bodies = [json.loads(request.body) for request in server.received("/v1/querybatch")]
    assert bodies == [
        {
            "queries": [
                {"package": {"name": "express", "ecosystem": "npm"}},
                {"package": {"name": "left-pad", "ecosystem": "PyPI"}},
                {"package": {"name": "tokio", "ecosystem": "crates.io"}},
            ]
        },
        {"queries": [{"package": {"name": "express", "ecosystem": "npm"}, "page_token": "express-2"}]},
    ]


async def test_query_batch_with_nothing_sends_nothing(session, server):
    assert await source(session, server).query_batch([]) == []
    assert server.requests == []


async def test_query_batch_result_count_must_match(session, server):
    server.add("/v1/querybatch", replay.Reply.json({"results": [{}]}), method="POST")
    with pytest.raises(errors.BadResponse, match="2 queries with 1 results"):
        await source(session, server).query_batch([("npm", "express"), ("npm", "lodash")])


@pytest.mark.parametrize(
    "answer",
    [
        {"results": {"0": {}}},
        {"results": ["GHSA-rv95-896h-c2vc"]},
        {"results": [{"vulns": {"id": "GHSA-rv95-896h-c2vc"}}]},
        {"results": [{"vulns": [{"id": 5}]}]},
        {"results": [{"next_page_token": 5}]},
        [],
    ],
)
async def test_query_batch_mistyped_answers_are_bad_response(session, server, answer):
    server.add("/v1/querybatch", replay.Reply.json(answer), method="POST")
    with pytest.raises(errors.BadResponse):
        await source(session, server).query_batch([("npm", "express")])


@pytest.mark.parametrize("answer", [{"vulns": {"id": "x"}}, {"vulns": [{"summary": "no id"}]}, ["x"]])
async def test_query_mistyped_answers_are_bad_response(session, server, answer):
    server.add("/v1/query", replay.Reply.json(answer), method="POST")
    with pytest.raises(errors.BadResponse):
        await source(session, server).query("npm", "express")


async def test_html_is_bad_response(session, server):
    server.add("/v1/query", replay.Reply(body=b"<html>502 Bad Gateway</html>", headers={"Content-Type": "text/html"}),
               method="POST")
    with pytest.raises(errors.BadResponse, match="text/html"):
        await source(session, server).query("npm", "express")


async def test_get_by_id(session, server):
    server.add("/v1/vulns/RUSTSEC-2021-0124", replay.Reply.fixture("osv/RUSTSEC-2021-0124.json"))
    advisory = await source(session, server).get("RUSTSEC-2021-0124")
    assert advisory.id == "RUSTSEC-2021-0124" and advisory.source == "osv"
    assert advisory.affected[0].ecosystem == "cargo"


async def test_get_unknown_id_is_not_found(session, server):
    with pytest.raises(errors.NotFound):
        await source(session, server).get("GHSA-0000-0000-0000")


@pytest.mark.parametrize("advisory_id", ["../admin", "GHSA x", "", "a/b"])
async def test_get_rejects_odd_ids_without_sending(session, server, advisory_id):
    with pytest.raises(errors.BadRequest):
        await source(session, server).get(advisory_id)
    assert server.requests == []


def test_ecosystem_names():
    assert {e.key: e.osv_name for e in ecosystems.ALL} == {
        "npm": "npm", "cargo": "crates.io", "hex": "Hex", "pypi": "PyPI"
    }
    assert ecosystems.find("crates.io").osv_name == "crates.io"
    assert osv.DEFAULT_URL == "https://api.osv.dev"
