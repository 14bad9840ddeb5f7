"""Search's pure parts: query words, exact-name spellings, the cost model, the name index."""

from __future__ import annotations

from centralcloud.facts import name_index
from centralcloud.store import search


def test_query_terms_are_lowercase_words() -> None:
    assert search.query_terms("Web-Framework, for_HTTP!") == ["web", "framework", "for", "http"]
    assert search.query_terms("!!! ???") == []
    assert len(search.query_terms(" ".join(["w"] * 40))) == 16


def test_exact_names_spell_the_query_out() -> None:
    assert search.exact_names("Body Parser", ["body", "parser"]) == [
        "body parser", "body-parser", "bodyparser", "body_parser", "body.parser",
    ]
    assert search.exact_names("@types/node", ["types", "node"])[0] == "@types/node"
    assert search.exact_names("django", ["django"]) == ["django"]


STATISTICS = search.LexemeStatistics(
    {"web": 0.30, "webpack": 0.02, "framework": 0.20, "http": 0.10, "librari": 0.05, "library": 0.01},
    1_000_000,
)


def test_share_counts_prefixed_lexemes_and_stems() -> None:
    assert abs(STATISTICS.share("web", prefix=True) - 0.32) < 1e-9  # web and webpack
    assert abs(STATISTICS.share("web", prefix=False) - 0.30) < 1e-9
    assert abs(STATISTICS.share("libraries", prefix=False) - 0.05) < 1e-9  # the english stem "librari"
    assert STATISTICS.share("zyzzyva", prefix=True) == search.RARE_SHARE  # not among the commonest


def test_common_words_walk_rare_words_use_the_index() -> None:
    assert STATISTICS.walk(["web"], all_words=True, candidates=100)
    assert STATISTICS.walk(["web", "framework"], all_words=True, candidates=100)
    assert not STATISTICS.walk(["zyzzyva"], all_words=True, candidates=100)
    # A rare word among common ones: the index skips to its few postings.
    assert not STATISTICS.walk(["web", "framework", "zyzzyva"], all_words=True, candidates=100)
    assert STATISTICS.walk(["web", "zyzzyva"], all_words=False, candidates=100)  # any word: "web" is enough
    # With no statistics yet (a new store), every word counts as rare: the index is used.
    empty = search.LexemeStatistics({}, 0)
    assert not empty.walk(["web"], all_words=True, candidates=100)


def test_allowed_edits_grow_with_length() -> None:
    assert [name_index.allowed_edits(text) for text in ("abc", "abcd", "abcde", "djnago", "requests")] == [0, 1, 1, 2, 2]


def index_of(*packages: tuple[str, str]) -> name_index.NameIndex:
    index = name_index.NameIndex()
    index.update(packages)
    return index


def test_name_index_forgives_typos_nearest_first() -> None:
    index = index_of(("pypi", "django"), ("pypi", "djangoo"), ("npm", "express"), ("cargo", "Inflector"))
    assert index.match("djnago", ecosystem=None, limit=5)[0] == ("pypi", "django", 1)
    assert index.match("djangooo", ecosystem=None, limit=5) == [("pypi", "djangoo", 1), ("pypi", "django", 2)]
    assert index.match("djang", ecosystem=None, limit=5) == [("pypi", "django", 1)]  # short: one edit only
    assert index.match("exprss", ecosystem="npm", limit=5) == [("npm", "express", 1)]
    assert index.match("exprss", ecosystem="pypi", limit=5) == []
    # Case is ignored, and the stored spelling comes back.
    assert index.match("inflectr", ecosystem=None, limit=5) == [("cargo", "Inflector", 1)]
    # Several words are read as a hyphenated name.
    index.add(ecosystem="npm", name="body-parser")
    assert index.match("body parsr", ecosystem=None, limit=5) == [("npm", "body-parser", 1)]


def test_name_index_leaves_short_names_and_far_ones_alone() -> None:
    index = index_of(("npm", "got"), ("npm", "express"))
    assert index.match("gto", ecosystem=None, limit=5) == []
    assert index.match("xprxsz", ecosystem=None, limit=5) == []  # three edits
    assert index.match("expresso", ecosystem=None, limit=1) == [("npm", "express", 1)]


def test_name_index_counts_each_package_once() -> None:
    index = index_of(("npm", "express"), ("npm", "express"), ("pypi", "express"))
    assert len(index) == 2
    index.add(ecosystem="npm", name="express")
    assert len(index) == 2
    assert {hit[0] for hit in index.match("exprss", ecosystem=None, limit=5)} == {"npm", "pypi"}
