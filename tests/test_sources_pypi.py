"""The PyPI adapter, on saved JSON API documents served by the replay server."""

from __future__ import annotations

import datetime as dt
import os

import aiohttp
import pytest

import replay
from centralcloud.core import errors, model
from centralcloud.sources import http, pypi, registries

FAST = http.HttpPolicy(timeout=2.0, max_attempts=2, backoff_base=0.01, backoff_max=0.02)
UTC = dt.timezone.utc


@pytest.fixture
async def source(server):
    async with aiohttp.ClientSession() as session:
        yield pypi.PypiSource(session=session, base_url=server.url, policy=FAST)


def version(facts: model.PackageFacts, number: str) -> model.Version:
    return next(item for item in facts.versions if item.number == number)


def project(info: dict | None = None, releases: dict | None = None, **doc: object) -> dict:
    """A small project document; `info` entries override a minimal valid info."""
    return {
        "info": {"name": "Pkg", "version": "1.0", "summary": "A package.", "requires_dist": None, **(info or {})},
        "releases": releases if releases is not None else {"1.0": [{"upload_time_iso_8601": "2024-01-01T00:00:00Z"}]},
        **doc,
    }


async def fetch_doc(server: replay.ReplayServer, source: pypi.PypiSource, doc: object) -> model.PackageFacts:
    server.add("/pypi/pkg/json", replay.Reply.json(doc))
    return (await source.fetch("pkg")).package


async def test_django(server, source):
    server.add("/pypi/django/json", replay.Reply.fixture("pypi/django.json"))
    facts = (await source.fetch("Django")).package
    assert [request.raw_path for request in server.requests] == ["/pypi/django/json"]
    assert (facts.ecosystem, facts.name, facts.display_name) == ("pypi", "django", "Django")
    assert facts.description == (
        "A high-level Python web framework that encourages rapid development and clean, pragmatic design."
    )
    assert facts.licenses == ("BSD-3-Clause",)
    assert facts.homepage == "https://www.djangoproject.com/"
    assert facts.repository_url == "https://github.com/django/django"
    assert facts.documentation_url == "https://docs.djangoproject.com/"
    assert len(facts.classifiers) == 16
    assert facts.classifiers[:2] == ("Development Status :: 5 - Production/Stable", "Environment :: Web Environment")
    assert facts.keywords == ()
    assert facts.latest_version == "6.1.3"
    assert facts.extra == {"requires_python": ">=3.12"}
    assert [item.number for item in facts.versions] == [
        "1.0.1", "1.11.29", "3.2.25", "4.2.11", "4.2.12", "5.0.4", "5.0.5", "6.0", "6.1.2", "6.1rc1", "6.1.3",
    ]  # fmt: skip

    assert version(facts, "1.0.1") == model.Version(number="1.0.1")
    assert version(facts, "1.11.29").published_at == dt.datetime(2020, 3, 4, 9, 31, 46, 566802, tzinfo=UTC)
    yanked = version(facts, "4.2.12")
    assert yanked.yanked
    assert yanked.yanked_reason == "Release files have Windows end-of-line characters and are missing executable bits."
    assert [item.number for item in facts.versions if item.yanked] == ["4.2.12", "5.0.5"]
    assert [item.number for item in facts.versions if item.prerelease] == ["6.1rc1"]

    latest = version(facts, "6.1.3")
    assert latest.published_at == dt.datetime(2026, 11, 3, 15, 21, 19, tzinfo=UTC)
    assert latest.dependencies == (
        model.Dependency(name="asgiref", ecosystem="pypi", requirement=">=3.9.1"),
        model.Dependency(name="sqlparse", ecosystem="pypi", requirement=">=0.5.0"),
        model.Dependency(name="tzdata", ecosystem="pypi", requirement="", condition='sys_platform == "win32"'),
        model.Dependency(
            name="argon2-cffi", ecosystem="pypi", requirement=">=23.1.0", kind="optional", optional=True,
            condition="extra == argon2",
        ),
        model.Dependency(
            name="bcrypt", ecosystem="pypi", requirement=">=4.1.1", kind="optional", optional=True,
            condition="extra == bcrypt",
        ),
    )  # fmt: skip
    # The JSON API only says what the release `info` describes depends on.
    assert all(item.dependencies is None for item in facts.versions if item.number != "6.1.3")


async def test_django_advisories(server, source):
    # The vulnerabilities entries were written into the saved document in the API's documented shape.
    server.add("/pypi/django/json", replay.Reply.fixture("pypi/django.json"))
    facts = (await source.fetch("django")).package
    first, second = facts.advisories
    assert first == model.SourceAdvisory(
        id="PYSEC-2024-47",
        aliases=("CVE-2024-27351", "GHSA-vm8q-m57g-pff3"),
        details=first.details,
        fixed_in=("3.2.25", "4.2.11", "5.0.3"),
        link="https://osv.dev/vulnerability/PYSEC-2024-47",
    )
    assert first.details.startswith("In Django 3.2 before 3.2.25, 4.2 before 4.2.11")
    assert second.summary == "Django denial-of-service in intcomma template filter"
    assert second.withdrawn == dt.datetime(2024, 3, 1, 12, tzinfo=UTC)


async def test_requests_extras_and_yanks(server, source):
    server.add("/pypi/requests/json", replay.Reply.fixture("pypi/requests.json"))
    facts = (await source.fetch("requests")).package
    assert facts.licenses == ("Apache-2.0",)
    assert facts.repository_url == "https://github.com/psf/requests"
    assert facts.documentation_url == "https://requests.readthedocs.io"
    assert facts.homepage is None
    assert facts.latest_version == "2.34.2"
    dependencies = {dep.name: dep for dep in version(facts, "2.34.2").dependencies}
    assert list(dependencies) == ["charset-normalizer", "idna", "urllib3", "certifi", "pysocks", "chardet"]
    assert dependencies["charset-normalizer"] == model.Dependency(
        name="charset-normalizer", ecosystem="pypi", requirement="<4,>=2"
    )
    assert dependencies["pysocks"] == model.Dependency(
        name="pysocks", ecosystem="pypi", requirement="!=1.5.7,>=1.5.6", kind="optional", optional=True,
        condition="extra == socks",
    )  # fmt: skip
    assert dependencies["chardet"].condition == "extra == use-chardet-on-py3"
    assert version(facts, "2.32.1").yanked_reason == "Yanked due to conflicts with CVE-2024-35195 mitigation"
    assert version(facts, "2.34.0.dev1").prerelease
    assert version(facts, "0.0.1") == model.Version(number="0.0.1")


async def test_latest_skips_yanked_prereleases_empty_and_unparsable(server, source):
    doc = replay.fixture_json("pypi/requests.json")
    del doc["releases"]["2.34.2"]
    doc["releases"]["dev-master"] = doc["releases"]["2.31.0"]
    doc["releases"]["9.0"] = []
    facts = await fetch_doc(server, source, doc)
    assert facts.latest_version == "2.32.3"
    unparsable = version(facts, "dev-master")
    assert not unparsable.prerelease
    assert unparsable.published_at == dt.datetime(2023, 5, 22, 15, 12, 42, 313790, tzinfo=UTC)


async def test_latest_falls_back_to_info_version(server, source):
    releases = {"2.0b1": [{"upload_time": "2024-02-01T10:00:00"}], "1.9": [{"yanked": True}]}
    facts = await fetch_doc(server, source, project({"version": "2.0b1"}, releases))
    assert facts.latest_version == "2.0b1"
    assert version(facts, "2.0b1").published_at == dt.datetime(2024, 2, 1, 10, tzinfo=UTC)
    assert version(facts, "2.0b1").dependencies == ()


@pytest.mark.parametrize(
    ("info", "licenses"),
    [
        ({"license_expression": "MIT OR Apache-2.0", "license": "MIT"}, ("MIT OR Apache-2.0",)),
        ({"license": "BSD"}, ("BSD",)),
        ({"license": "Copyright (c) 2024 Someone\n\nPermission is hereby granted, " + "x" * 100}, ("MIT License",)),
        ({"license": "UNKNOWN"}, ("MIT License",)),
        ({"license": None}, ("MIT License",)),
    ],
)
async def test_licenses(server, source, info, licenses):
    classifiers = ["License :: OSI Approved", "License :: OSI Approved :: MIT License", "Topic :: Utilities"]
    facts = await fetch_doc(server, source, project({**info, "classifiers": classifiers}))
    assert facts.licenses == licenses


async def test_project_urls_are_matched_case_and_punctuation_insensitively(server, source):
    urls = {
        "homepage": "https://pkg.test/",
        "Source Code": "git+https://gitlab.com/o/pkg.git",
        "DOCS": "https://docs.pkg.test/",
    }
    facts = await fetch_doc(server, source, project({"project_urls": urls, "keywords": "web, http client"}))
    assert (facts.homepage, facts.repository_url, facts.documentation_url) == (
        "https://pkg.test/", "https://gitlab.com/o/pkg", "https://docs.pkg.test/",
    )  # fmt: skip
    assert facts.keywords == ("web", "http client")


async def test_github_home_page_doubles_as_repository(server, source):
    info = {
        "home_page": "https://github.com/o/pkg",
        "project_urls": None,
        "keywords": "web http",
        "docs_url": "https://pkg.readthedocs.io",
    }
    facts = await fetch_doc(server, source, project(info))
    assert (facts.homepage, facts.repository_url) == ("https://github.com/o/pkg", "https://github.com/o/pkg")
    assert facts.documentation_url == "https://pkg.readthedocs.io"
    assert facts.keywords == ("web", "http")


async def test_requires_dist_variants(server, source):
    requires = [
        "good>=1",
        "broken >=>= 1",
        42,
        'backport>=2; python_version < "3.10" and extra == "Compat_Mode"',
        "wheel-pkg @ https://files.test/wheel_pkg-1.0-py3-none-any.whl",
    ]
    facts = await fetch_doc(server, source, project({"requires_dist": requires}))
    assert version(facts, "1.0").dependencies == (
        model.Dependency(name="good", ecosystem="pypi", requirement=">=1"),
        model.Dependency(
            name="backport", ecosystem="pypi", requirement=">=2", kind="optional", optional=True,
            condition='python_version < "3.10" and extra == "compat-mode"',
        ),
        model.Dependency(
            name="wheel-pkg", ecosystem="pypi", requirement="@ https://files.test/wheel_pkg-1.0-py3-none-any.whl"
        ),
    )  # fmt: skip


async def test_mistyped_requires_dist_means_unknown(server, source):
    facts = await fetch_doc(server, source, project({"requires_dist": "good>=1"}))
    assert version(facts, "1.0").dependencies is None


async def test_yank_stated_in_info(server, source):
    facts = await fetch_doc(server, source, project({"yanked": True, "yanked_reason": "broken build"}))
    assert (version(facts, "1.0").yanked, version(facts, "1.0").yanked_reason) == (True, "broken build")
    assert facts.latest_version == "1.0"


async def test_optional_fields_of_wrong_type_are_skipped(server, source):
    info = {"summary": ["no"], "classifiers": "Topic :: Utilities", "project_urls": ["x"], "name": 7, "keywords": 3}
    releases = {"1.0": {"not": "a list"}, "1.1": ["not a file", {"upload_time_iso_8601": "garbage", "yanked": "yes"}]}
    vulnerabilities = [{"aliases": ["CVE-1"]}, "junk", {"id": "PYSEC-1", "aliases": "CVE-2", "fixed_in": [1, "1.1"]}]
    facts = await fetch_doc(server, source, project(info, releases, vulnerabilities=vulnerabilities))
    assert (facts.description, facts.classifiers, facts.display_name, facts.keywords) == (None, (), "pkg", ())
    assert facts.versions == (model.Version(number="1.0", dependencies=()), model.Version(number="1.1"))
    # 1.0 has no usable files; 1.1 keeps one (a non-boolean `yanked` is not a yank).
    assert facts.latest_version == "1.1"
    assert facts.advisories == (model.SourceAdvisory(id="PYSEC-1", fixed_in=("1.1",)),)


@pytest.mark.parametrize(
    "doc",
    [
        "just a string",
        {"releases": {}},
        {"info": {"name": "Pkg"}, "releases": ["1.0"]},
        {"info": None, "releases": {}},
    ],
)
async def test_structural_faults_are_bad_responses(server, source, doc):
    with pytest.raises(errors.BadResponse) as raised:
        await fetch_doc(server, source, doc)
    assert raised.value.source == "pypi"


async def test_name_is_normalized_before_the_request(server, source):
    server.add("/pypi/zope-interface/json", replay.Reply.json(project({"name": "zope.interface"})))
    facts = (await source.fetch("Zope.Interface")).package
    assert (facts.name, facts.display_name) == ("zope-interface", "zope.interface")


async def test_missing_project_is_not_found(source):
    with pytest.raises(errors.NotFound):
        await source.fetch("no-such-project")


@pytest.mark.online
@pytest.mark.skipif(os.environ.get("CENTRALCLOUD_ONLINE_TESTS") != "1", reason="set CENTRALCLOUD_ONLINE_TESTS=1")
async def test_live_django():
    async with aiohttp.ClientSession() as session:
        source = pypi.PypiSource(session=session, base_url=registries.pypi_url())
        facts = (await source.fetch("django")).package
    assert (facts.name, facts.display_name) == ("django", "Django")
    assert facts.repository_url == "https://github.com/django/django"
    assert len(facts.versions) > 300
    latest = version(facts, facts.latest_version)
    assert not latest.prerelease and not latest.yanked
    assert any(dep.name == "asgiref" and dep.kind == "runtime" for dep in latest.dependencies)


async def test_requires_python_and_metadata_link_per_release(server, source):
    server.add("/pypi/django/json", replay.Reply.fixture("pypi/django.json"))
    facts = (await source.fetch("django")).package
    assert version(facts, "1.11.29").requires_runtime is None
    assert version(facts, "5.0.4").requires_runtime == ">=3.10"
    assert version(facts, "6.1.2").requires_runtime == ">=3.12"
    # The recorded files say core-metadata: false, so there is no metadata file to point at.
    assert {item.metadata_url for item in facts.versions} == {None}


async def test_metadata_link_is_resolved_against_the_document(server, source):
    doc = project(
        releases={
            "1.0": [
                {"packagetype": "sdist", "url": "../../files/pkg-1.0.tar.gz", "core-metadata": False},
                {"packagetype": "bdist_wheel", "url": "../../files/pkg-1.0-py3-none-any.whl",
                 "core-metadata": {"sha256": "00"}},
            ],
            "0.9": [{"packagetype": "bdist_wheel", "url": "https://files.invalid/pkg-0.9-py3-none-any.whl",
                     "data-dist-info-metadata": True}],
        }
    )  # fmt: skip
    facts = await fetch_doc(server, source, doc)
    assert version(facts, "1.0").metadata_url == f"{server.url}/files/pkg-1.0-py3-none-any.whl.metadata"
    assert version(facts, "0.9").metadata_url == "https://files.invalid/pkg-0.9-py3-none-any.whl.metadata"


async def test_requires_python_prefers_the_wheel(server, source):
    doc = project(
        releases={
            "1.0": [
                {"packagetype": "sdist", "requires_python": ">=3.7", "url": "files/pkg-1.0.tar.gz"},
                {"packagetype": "bdist_wheel", "requires_python": ">=3.8", "url": "files/pkg-1.0-py3-none-any.whl",
                 "core-metadata": False},
            ]
        }
    )  # fmt: skip
    release = version(await fetch_doc(server, source, doc), "1.0")
    assert (release.requires_runtime, release.metadata_url) == (">=3.8", None)


async def test_fetch_release_reads_the_wheel_metadata(server, source):
    metadata = (
        b"Metadata-Version: 2.1\nName: Flask\nVersion: 3.0.3\nRequires-Python: >=3.8\n"
        b"Requires-Dist: Werkzeug>=3.0.0\nRequires-Dist: importlib-metadata>=3.6.0; python_version < '3.10'\n"
        b'Requires-Dist: asgiref>=3.2 ; extra == "async"\n\nA simple framework.\n'
    )
    server.add("/files/flask-3.0.3-py3-none-any.whl.metadata", replay.Reply(body=metadata))
    release = await source.fetch_release(
        "Flask", "3.0.3", metadata_url=f"{server.url}/files/flask-3.0.3-py3-none-any.whl.metadata"
    )
    assert release.number == "3.0.3" and release.requires_runtime == ">=3.8"
    assert release.dependencies == (
        model.Dependency(name="werkzeug", ecosystem="pypi", requirement=">=3.0.0"),
        model.Dependency(
            name="importlib-metadata", ecosystem="pypi", requirement=">=3.6.0", condition='python_version < "3.10"'
        ),
        model.Dependency(
            name="asgiref", ecosystem="pypi", requirement=">=3.2", kind="optional", optional=True,
            condition="extra == async",
        ),
    )  # fmt: skip
    with pytest.raises(errors.BadResponse):
        await source.fetch_release(
            "flask", "3.0.2", metadata_url=f"{server.url}/files/flask-3.0.3-py3-none-any.whl.metadata"
        )


async def test_fetch_release_reads_the_per_version_document(server, source):
    # The shape of /pypi/<name>/<version>/json: `info` of that release and its files under `urls`.
    doc = {
        "info": {"name": "Pkg", "version": "2.0", "requires_dist": ["idna<4,>=2.5"], "requires_python": ">=3.9",
                 "yanked": False},
        "urls": [{"packagetype": "sdist", "upload_time_iso_8601": "2024-05-01T10:00:00Z", "requires_python": None,
                  "url": "files/pkg-2.0.tar.gz"}],
        "vulnerabilities": [],
    }  # fmt: skip
    server.add("/pypi/pkg/2.0/json", replay.Reply.json(doc))
    release = await source.fetch_release("PKG", "2.0")
    assert release.published_at == dt.datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert release.requires_runtime == ">=3.9"
    assert release.dependencies == (model.Dependency(name="idna", ecosystem="pypi", requirement="<4,>=2.5"),)
