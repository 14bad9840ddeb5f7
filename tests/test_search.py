"""Search relevance on PostgreSQL: made-up packages, real registry documents, both ways of
finding candidates, stars kept in the searched row, and typos without pg_trgm."""

from __future__ import annotations

import datetime as dt

import aiohttp
import msgspec
import pytest

import replay
from centralcloud.facts import name_index
from centralcloud.store import search
from centralcloud.core import ecosystems, model
from centralcloud.facts import cache, catalog
from centralcloud.store import db, repositories
from centralcloud.store import packages as store
from centralcloud.sources import cargo, http, hex as hexpm, limits, npm, pypi

T0 = dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
FAST = http.HttpPolicy(timeout=2.0, max_attempts=2, backoff_base=0.01, backoff_max=0.02)


def package(name: str, description: str, *, ecosystem: str = "npm", keywords: tuple[str, ...] = (),
            downloads: int | None = None, deprecated: bool = False) -> model.PackageFacts:
    return model.PackageFacts(
        ecosystem=ecosystem, name=name, display_name=name, description=description, keywords=keywords,
        licenses=("MIT",), latest_version="1.0.0", downloads=downloads, deprecated=deprecated,
        versions=(model.Version(number="1.0.0", published_at=T0, dependencies=()),),
    )


async def save(database: db.Database, *packages: model.PackageFacts) -> None:
    for facts in packages:
        await store.save_package(database, facts, etag=None, last_modified=None)


async def find(database: db.Database, query: str, *, ecosystem: str | None = None, limit: int = 10, **options) -> list[str]:
    hits = await search.Searcher(database).search(query=query, ecosystem=ecosystem, limit=limit, **options)
    return [hit.name for hit in hits]


EXPRESS = package("express", "Fast, unopinionated, minimalist web framework", keywords=("express", "framework", "web", "http"))
DJANGO = package(
    "django", "A high-level Python web framework that encourages rapid development and clean, pragmatic design.",
    ecosystem="pypi",
)


async def test_search_ranks_full_matches_and_popularity(database: db.Database) -> None:
    await save(
        database, DJANGO, EXPRESS,
        package("left-pad", "String left pad", keywords=("string", "pad"), downloads=10**9),
        package("webby", "A tool for the web"),
    )
    hits = await search.Searcher(database).search(query="web framework", ecosystem=None, limit=10)
    found = [(h.ecosystem, h.name) for h in hits]
    assert set(found[:2]) == {("pypi", "django"), ("npm", "express")}
    assert found[2] == ("npm", "webby")  # one word only: ranked below full matches
    assert ("npm", "left-pad") not in found
    assert await find(database, "web framework", ecosystem="pypi") == ["django"]
    assert await find(database, "!!! ???") == []
    assert (await find(database, "Django", limit=1)) == ["django"]


async def test_prefixes_match_without_extensions(database: db.Database) -> None:
    await save(database, EXPRESS)
    assert await find(database, "expre", limit=5) == ["express"]
    assert await find(database, "minimal framew", ecosystem="npm", limit=5) == ["express"]


async def test_typos_match_where_pg_trgm_is_available(database: db.Database) -> None:
    if not await search.enable_fuzzy_search(database):
        pytest.skip("this PostgreSQL server does not ship pg_trgm (the embedded one does not)")
    await save(database, EXPRESS)
    assert await find(database, "exprss", limit=5) == []
    assert await find(database, "exprss", limit=5, fuzzy=True) == ["express"]


async def test_exact_name_ranks_first_and_deprecated_sinks(database: db.Database) -> None:
    await save(
        database,
        package("http", "Tiny helpers", downloads=10),
        package("got", "Human-friendly and powerful HTTP request library", keywords=("http",), downloads=10**8),
        package("request", "Simplified HTTP request client", keywords=("http",), downloads=10**8, deprecated=True),
        package("needle", "Nimble HTTP request client", keywords=("http",), downloads=10**6),
    )
    found = await find(database, "http")
    assert found[0] == "http"  # the exact name, though least popular and matched only by name
    assert found.index("got") < found.index("needle") < found.index("request")
    # Spelled with a space, a hyphenated name is still the exact match.
    await save(database, package("body-parser", "Node.js body parsing middleware", downloads=10))
    await save(database, package("co-body", "request body parser for co", keywords=("body", "parser"), downloads=10**7))
    assert (await find(database, "body parser"))[0] == "body-parser"


async def test_too_few_full_matches_fall_back_to_any_word(database: db.Database) -> None:
    await save(database, EXPRESS, package("koa", "Expressive middleware for node.js using ES2017 async functions"))
    found = await find(database, "framework koala")
    assert found == ["express"]  # no package has both words: any word, popularity-ordered
    assert await find(database, "framework koala", limit=1) == ["express"]


async def test_walking_and_the_index_find_the_same(database: db.Database) -> None:
    """Both ways of finding candidates, forced, give the same ranking when candidates suffice."""
    await save(database, *(package(f"pkg{i}", f"web client number {i}", downloads=i * 1000) for i in range(30)))
    await save(database, package("other", "an http parser"))
    for all_words in (True, False):
        answers = []
        for walk in (True, False):
            rows = await database.fetch(
                "search_ranked", ["web", "client"], all_words, walk, None, 100, [], list(ecosystems.KEYS), 10
            )
            answers.append([row["name"] for row in rows])
        assert answers[0] == answers[1]
        assert answers[0][:3] == ["pkg29", "pkg28", "pkg27"]
    # With fewer candidates than matches, the walk keeps the most popular ones.
    rows = await database.fetch("search_ranked", ["web"], True, True, None, 5, [], list(ecosystems.KEYS), 10)
    assert [row["name"] for row in rows] == ["pkg29", "pkg28", "pkg27", "pkg26", "pkg25"]


async def test_stars_are_kept_in_the_searched_row(database: db.Database) -> None:
    await save(database, EXPRESS, package("fastify", "Fast and low overhead web framework", keywords=("web", "framework")))
    assert (await find(database, "web framework"))[0] == "express"  # shorter document
    url = "https://github.com/fastify/fastify"
    facts = model.RepositoryFacts(url=url, host="github.com", owner="fastify", name="fastify", stars=10)
    repository_id = await repositories.save_repository(database, facts, etag=None, url=url)
    await database.pool.execute("UPDATE packages SET repository_id = $1 WHERE name = 'fastify'", repository_id)
    hits = await search.Searcher(database).search(query="web framework", ecosystem=None, limit=10)
    assert {hit.name: hit.stars for hit in hits} == {"fastify": 10, "express": None}
    await repositories.save_repository(database, msgspec.structs.replace(facts, stars=900_000), etag=None, url=url)
    hits = await search.Searcher(database).search(query="web framework", ecosystem=None, limit=10)
    assert [(hit.name, hit.stars) for hit in hits] == [("fastify", 900_000), ("express", None)]


async def test_embedded_typos_without_pg_trgm(database: db.Database) -> None:
    """The in-memory name index, as the catalog uses it where pg_trgm is missing."""
    assert not await database.fetchval("trigram_installed")
    await save(database, DJANGO, EXPRESS, package("djinni", "Interface generator", ecosystem="pypi"))
    assert await find(database, "djnago") == []
    index = await name_index.NameIndex.load(database)
    assert len(index) == 3
    assert await find(database, "djnago", name_index=index) == ["django"]
    assert await find(database, "exprss", name_index=index, ecosystem="npm") == ["express"]
    assert await find(database, "exprss", name_index=index, ecosystem="pypi") == []
    # A package stored later joins the index.
    await save(database, package("flask", "A simple framework for building complex web applications.", ecosystem="pypi"))
    index.add(ecosystem="pypi", name="flask")
    assert await find(database, "falsk", name_index=index) == ["flask"]


async def test_catalog_answers_typos_from_its_name_index(database: db.Database) -> None:
    the_catalog = catalog.Catalog(
        database=database, sources={}, read_cache=cache.ReadCache(ttl=60, max_size=10), request_timeout=1
    )
    await save(database, DJANGO)
    the_catalog.names = await name_index.NameIndex.load(database)
    reply = msgspec.json.decode(await the_catalog.search(query="djnago", ecosystem=None, limit=5))
    assert [hit["name"] for hit in reply["hits"]] == ["django"]
    assert 0 < reply["hits"][0]["score"] < 0.1  # a tenth of its popularity prior, less per edit


async def real_documents(session: aiohttp.ClientSession, server: replay.ReplayServer) -> list[model.PackageFacts]:
    """Saved registry responses for npm, PyPI, crates.io and hex.pm, read by the real adapters."""
    for name in ("express", "request", "ts-node"):
        server.add(f"/{name}", replay.Reply.fixture(f"npm/{name}.json"))
    server.add("/@types%2fnode", replay.Reply.fixture("npm/types-node.json"))
    for name in ("django", "requests", "flask"):
        server.add(f"/pypi/{name}/json", replay.Reply.fixture(f"pypi/{name}.json"))
    for name, index_path in (("serde", "/index/se/rd/serde"), ("tokio", "/index/to/ki/tokio")):
        server.add(index_path, replay.Reply.fixture(f"cargo/{name}.ndjson", headers={"Content-Type": "text/plain"}))
        server.add(f"/api/v1/crates/{name}", replay.Reply.fixture(f"cargo/{name}.json"))
    server.add("/api/packages/phoenix", replay.Reply.fixture("hex/phoenix.json"))
    server.add("/api/packages/phoenix/releases/1.7.14", replay.Reply.fixture("hex/phoenix-1.7.14.json"))
    npm_source = npm.NpmSource(session=session, base_url=server.url, policy=FAST)
    pypi_source = pypi.PypiSource(session=session, base_url=server.url, policy=FAST)
    cargo_source = cargo.CargoSource(session=session, base_url=server.url, index_url=f"{server.url}/index", policy=FAST,
                                     api_limiter=limits.RateLimiter(per_second=1000.0))
    hex_source = hexpm.HexSource(session=session, base_url=server.url, policy=FAST)
    wanted = [(npm_source, "express"), (npm_source, "request"), (npm_source, "ts-node"), (npm_source, "@types/node"),
              (pypi_source, "django"), (pypi_source, "requests"), (pypi_source, "flask"),
              (cargo_source, "serde"), (cargo_source, "tokio"), (hex_source, "phoenix")]
    found = []
    for source, name in wanted:
        result = await source.fetch(name)
        assert result.package is not None, name
        found.append(result.package)
    return found


async def test_relevance_on_real_registry_documents(database: db.Database, session, server) -> None:
    documents = await real_documents(session, server)
    await save(database, *documents)
    web_framework = await find(database, "web framework")
    assert set(web_framework[:3]) == {"django", "flask", "express"}
    # serde is a framework with 423 million downloads, yet not a web one: below every full match;
    # so is requests, a web library by its classifier ("Environment :: Web Environment").
    assert web_framework[3:] == ["serde", "requests"]
    assert await find(database, "web framework", ecosystem="pypi") in (["django", "flask", "requests"], ["flask", "django", "requests"])
    for name in ("express", "request", "requests", "django", "flask", "serde", "tokio", "phoenix", "ts-node"):
        assert (await find(database, name))[0] == name, name
    assert (await find(database, "@types/node"))[0] == "@types/node"
    # request (deprecated) matches every word, so it leads; the others match "http" only.
    http_client = await find(database, "http client")
    assert http_client[0] == "request" and set(http_client[1:]) == {"requests", "express"}
    # For "http" alone, the deprecated one sinks below both others.
    assert (await find(database, "http"))[-1] == "request"
    assert (await find(database, "serialization"))[0] == "serde"
    assert (await find(database, "async io"))[0] == "tokio"
    assert set((await find(database, "typescript node"))[:2]) == {"ts-node", "@types/node"}
