"""Search over stored articles (``sinoscope search``): the language, filters, CJK text, ranking,
snippets and freshness on the embedded default (a real tantivy index written by the real store),
and the same requests compiled for Elasticsearch (checked against the DSL's documented meaning
and a recorded answer: no cluster runs here; tests/test_elastic_live.py runs them on one)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import records

from sinks.duckdb.queries import DuckDBBackend
from sinks.duckdb.search import FullTextIndex
from sinks.duckdb.store import DuckDBStore
from sinks.elastic.search import read_answer, request_body
from sinks.query import Queries
from sinks.search.document import search_document
from sinks.search.request import SearchRequest
from sinks.search.syntax import SearchSyntaxError, parse

T0 = datetime(2026, 3, 1, tzinfo=UTC)
ARTICLES = [
    # id, title, text, language, country, mentions (entity, tone)
    ("de1", "BYD unter Druck", "BYD leidet unter den EU-Zöllen; die tariffs treffen auch Tesla.", "de", "DE",
     [("brand:byd", -0.6)]),
    ("en1", "BYD tariff row deepens", "The tariff on BYD cars rose again in Zürich and Berlin.", "en", "GB",
     [("brand:byd", -0.4)]),
    ("en2", "Markets", "Shares moved. Later, a new tariffs deal for BYD was signed.", "en", "US",
     [("brand:byd", 0.5)]),
    ("en3", "Electric cars in Europe", "Electric car sales grew; BYD and Tesla lead the e-commerce push.", "en", "GB",
     [("brand:byd", 0.1), ("city:shenzhen", 0.0)]),
    ("zh1", "比亚迪在成都建厂", "成都市政府宣布新政策。比亚迪将在成都建设新工厂。", "zh", "CN",
     [("city:chengdu", 0.5), ("brand:byd", 0.3)]),
    ("zh2", "都成新闻", "都成是一个虚构的地名，不是那个城市。", "zh", "CN", []),
    ("ja1", "トヨタと比亚迪", "トヨタ自動車は深センで新しい提携を発表した。", "ja", "JP", [("city:shenzhen", 0.2)]),
]  # fmt: skip


def article(i, title, text, language, country, mentions, **kw):
    e = records.enriched(i, T0 + timedelta(days=len(i) + ord(i[-1])), mentions, title=title, country=country, **kw)
    e.article.text, e.article.language, e.language = text, language, language
    return e


@pytest.fixture
def store(tmp_path):
    s = DuckDBStore(tmp_path / "store.duckdb")
    s.write([article(*a) for a in ARTICLES])
    return s


@pytest.fixture
def find(store):
    queries = Queries(DuckDBBackend.open(store.path))
    yield lambda q="", **kw: queries.search(SearchRequest.build(q, **kw))
    queries.close()


def ids(answer: dict) -> set[str]:
    return {h["article_id"] for h in answer["hits"]}


def test_boolean_operators_phrases_and_prefixes(find):
    assert ids(find("BYD AND (tariff OR tariffs) NOT Tesla")) == {"en1", "en2"}
    assert ids(find("BYD -Tesla tariff*")) == {"en1", "en2"}
    assert ids(find("tariff")) == {"en1"}  # nothing is stemmed
    assert ids(find("tariff*")) == {"de1", "en1", "en2"}
    assert ids(find('"electric car"')) == {"en3"}  # a phrase: the words in order
    assert ids(find('"car electric"')) == set()
    assert ids(find("e-commerce")) == {"en3"}
    assert ids(find("title:BYD")) == {"de1", "en1"}
    assert ids(find("NOT BYD")) == {"zh1", "zh2", "ja1"}  # 比亚迪 is not the word BYD
    assert find("tesla OR zurich")["total"] == 3


def test_curly_quotes_accents_and_case(find):
    assert ids(find("“BYD cars”")) == ids(find('"byd cars"')) == {"en1"}
    assert ids(find("zurich")) == ids(find("ZÜRICH")) == {"en1"}
    assert ids(find("zölle*")) == {"de1"}


def test_chinese_and_japanese_text_is_searchable(find):
    assert ids(find("成都")) == {"zh1"}  # 成都 and not 都成: a phrase of characters
    assert ids(find("都成")) == {"zh2"}
    assert ids(find("比亚迪 AND 工厂")) == {"zh1"}
    assert ids(find("比亚迪")) == {"zh1", "ja1"}
    assert ids(find("トヨタ")) == {"ja1"}
    assert ids(find("深セン")) == {"ja1"}


def test_filters_entity_type_country_language_dates_and_tone(find):
    assert ids(find("", entity_ids=["city:chengdu"])) == {"zh1"}
    assert ids(find("", entity_type="city")) == {"zh1", "en3", "ja1"}
    assert ids(find("BYD", countries=["de"])) == {"de1"}  # codes in either case
    assert ids(find("BYD", languages=["EN"])) == {"en1", "en2", "en3"}
    assert ids(find("BYD", outlets=["Example Times"], countries=["GB", "US"])) == {"en1", "en2", "en3"}
    # the article's tone toward the entity (or, with no entity, toward any entity)
    assert ids(find("", entity_ids=["brand:byd"], tone="-1..-0.3")) == {"de1", "en1"}
    assert ids(find("", entity_ids=["brand:byd"], tone="0.3..")) == {"en2", "zh1"}
    assert ids(find("", tone="0.5..1")) == {"en2", "zh1"}
    assert ids(find("", entity_ids=["city:shenzhen"], tone="..0")) == {"en3"}
    assert ids(find("", tone="0.301..0.309")) == set()
    published = {h["article_id"]: h["published"] for h in find("", limit=50)["hits"]}
    cut = datetime.fromisoformat(published["en2"])
    assert ids(find("BYD", since=cut)) == {i for i in ("en1", "en2", "en3") if published[i] >= published["en2"]}
    assert ids(find("BYD", until=cut)) == {i for i in ("de1", "en1", "en2", "en3") if published[i] <= published["en2"]}


def test_ranking_title_matches_and_repeated_words_first(find):
    hits = find("BYD")["hits"]
    assert {h["article_id"] for h in hits[:2]} == {"en1", "de1"}  # BYD in the title, then in the text only
    assert all(hits[i]["score"] >= hits[i + 1]["score"] for i in range(len(hits) - 1))
    # filters alone: newest first, no score
    only = find("", entity_type="brand")["hits"]
    assert [h["published"] for h in only] == sorted((h["published"] for h in only), reverse=True)
    assert all(h["score"] is None for h in only)


def test_hits_have_the_documented_shape_highlights_and_tone(find):
    out = find("tariff* BYD", limit=1)
    assert out["total"] == 3 and len(out["hits"]) == 1
    hit = out["hits"][0]
    assert set(hit) >= {"article_id", "url", "title", "outlet", "country", "language", "published", "snippet"}
    assert set(hit) >= {"score", "mentions"}
    assert "<b>" in hit["snippet"] and "<b>tariff" in hit["snippet"].lower().replace("<b>byd</b>", "")
    assert hit["mentions"] and set(hit["mentions"][0]) == {"entity_id", "name", "sentiment"}
    assert find("成都")["hits"][0]["snippet"].count("<b>成都</b>") == 2  # one mark per word, not per character
    page2 = find("BYD", limit=2, offset=2)
    assert page2["offset"] == 2 and len(page2["hits"]) == 2
    assert not ids(page2) & ids(find("BYD", limit=2))


def test_snippets_escape_the_articles_html(tmp_path):
    s = DuckDBStore(tmp_path / "store.duckdb")
    s.write([article("x1", "Plain", "BYD <script>alert(1)</script> & more", "en", "GB", [])])
    hit = Queries(DuckDBBackend.open(s.path)).search(SearchRequest.build("BYD"))["hits"][0]
    assert "<script>" not in hit["snippet"] and "&lt;script&gt;" in hit["snippet"]


def test_a_stored_article_is_found_at_once_and_a_replay_or_prune_is_reflected(store):
    reader = FullTextIndex(store.path.with_name("store.search"))  # another reader, opened before the write

    def total(q):
        return reader.search(SearchRequest.build(q)).total

    assert total("Hangzhou") == 0
    late = article("new1", "Hangzhou opens", "Hangzhou opens a new airport terminal.", "en", "GB", [])
    store.write([late])
    assert total("Hangzhou") == 1
    store.write([late, late])
    assert total("Hangzhou") == 1  # replaced by id, never twice
    store.prune(late.article.published + timedelta(seconds=1))  # retention drops it from the index too
    assert total("Hangzhou") == 0 and total("成都") == 0


def test_a_failing_index_write_fails_the_batch_and_the_store_keeps_nothing(tmp_path, monkeypatch):
    s = DuckDBStore(tmp_path / "store.duckdb")

    def broken(docs):
        raise ValueError("disk full")

    monkeypatch.setattr(s.search, "write", broken)
    from sinks.base import StoreUnavailable

    with pytest.raises(StoreUnavailable, match="disk full"):
        s.write([article(*ARTICLES[0])])
    assert s.counts() == {"articles": 0, "mentions": 0}


@pytest.mark.parametrize(
    "query, message",
    [
        ("(", "cannot read"),
        ("tariff*s", "may only end"),
        ("planet:mars", "field 'planet'"),
        ("&&", "no word to search for"),
    ],
)
def test_syntax_errors_are_clear(query, message):
    with pytest.raises(SearchSyntaxError, match=message):
        parse(query)
    with pytest.raises(SearchSyntaxError, match="tone range"):
        SearchRequest.build("x", tone="-2..0")


# -- Elasticsearch: the same requests as query DSL ----------------------------------------------
def test_the_elasticsearch_request_says_what_the_embedded_index_does():
    r = SearchRequest.build(
        "BYD AND (tariff OR “EU duties”) NOT Tesla*",
        entity_ids=["brand:byd"],
        countries=["de"],
        since=T0,
        tone="-1..-0.98",
        limit=5,
    )
    body = request_body(r)
    top = body["query"]["bool"]
    assert body["size"] == 5 and body["track_total_hits"] is True
    must = top["must"][0]["bool"]
    byd, either = must["must"]
    assert byd["bool"]["should"][0] == {"term": {"title.words": {"value": "byd", "boost": 2.0}}}
    assert {"term": {"text.words": {"value": "byd"}}} in byd["bool"]["should"]
    tariff, duties = either["bool"]["should"]
    assert {"match_phrase": {"text.words": {"query": "eu duties", "analyzer": "whitespace"}}} in duties["bool"][
        "should"
    ]
    assert must["must_not"][0]["bool"]["should"][1] == {"prefix": {"summary.words": {"value": "tesla"}}}
    filters = top["filter"]
    assert {"terms": {"entity_ids": ["brand:byd"]}} in filters and {"terms": {"country": ["DE"]}} in filters
    assert {"terms": {"tone_keywords": ["brand:byd@-100", "brand:byd@-99", "brand:byd@-98"]}} in filters
    assert {"range": {"published": {"gte": T0.isoformat()}}} in filters


def test_a_recorded_elasticsearch_answer_reads_as_the_embedded_answer(store, find):
    """The answer Elasticsearch gives (its documented search response) for stored documents comes
    out of the shared layer in the shape and with the fields the embedded index gives."""
    e = article(*ARTICLES[1])
    doc = search_document(e)
    src = {k: doc[k] for k in ("article_id", "url", "title", "summary", "text", "outlet", "country", "language")}
    src |= {"published": doc["published"].isoformat(), "duplicate_of": None, "entity_tones": doc["mentions"]}
    answer = {
        "hits": {
            "total": {"value": 1, "relation": "eq"},
            "hits": [
                {
                    "_index": "sinoscope-articles-2026.03",
                    "_id": "en1",
                    "_score": 2.5,
                    "_source": src,
                    "highlight": {"text.words": ["The <b>tariff</b> on <b>BYD</b> cars rose again in Zürich"]},
                }
            ],
        }
    }

    class Recorded(DuckDBBackend):
        def __init__(self):
            pass

        def search(self, request):
            return read_answer(answer, request)

    elastic = Queries(Recorded()).search(SearchRequest.build("tariff BYD"))
    embedded = find("tariff BYD")
    assert elastic["total"] == embedded["total"] == 1
    a, b = elastic["hits"][0], embedded["hits"][0]
    assert set(a) == set(b)
    assert {k: a[k] for k in a if k not in ("score", "snippet")} == {
        k: b[k] for k in b if k not in ("score", "snippet")
    }
    assert "<b>tariff</b>" in a["snippet"] and "<b>tariff</b>" in b["snippet"]
