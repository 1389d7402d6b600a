"""The shared query layer (``sinks/query.py``) over both back-ends with the same records: the DuckDB
back-end over a real store holding them, and the Elasticsearch back-end, through the real client,
over a local stand-in answering with the aggregations Elasticsearch returns for those records
(recorded by hand from the records below: no Elasticsearch server can run here; on a real cluster
``test_elastic_live.py::test_parity_both_stores_answer_the_queries_alike`` does the same).
Every documented answer must come out identical."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import records
from elasticsearch import Elasticsearch
from test_elastic_sink import es_json

from sinks.duckdb.queries import DuckDBBackend
from sinks.duckdb.store import DuckDBStore
from sinks.elastic.queries import ElasticBackend
from sinks.query import Queries

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 20, tzinfo=UTC)
D1, D2 = NOW - timedelta(days=3, hours=12), NOW - timedelta(days=1, hours=12)
SINCE = NOW - timedelta(days=30)


def articles():
    return [
        records.enriched(
            "a1", D1, [("city:chengdu", 0.6), ("brand:byd", -0.5)], outlet="Outlet A", country="GB", neutral_band=0.15
        ),
        records.enriched(
            "a2",
            D1,
            [("city:chengdu", -0.2), ("city:chengdu", 0.0)],
            outlet="Outlet B",
            country="US",
            neutral_band=0.15,
        ),
        records.enriched("a3", D2, [("city:chengdu", 0.4)], outlet="Outlet A", country="GB", neutral_band=0.15),
    ]


def ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def story(article_id: str, score: float, outlet: str, published: datetime, sentence: str) -> dict:
    src = {
        "url": f"https://news.example/{article_id}",
        "title": f"Story {article_id}",
        "outlet": outlet,
        "published": published.isoformat(),
        "sentence": sentence,
    }
    return {
        "key": article_id,
        "doc_count": 1,
        "s": {"value": score},
        "p": {"value": ms(published)},
        "doc": {"hits": {"hits": [{"_source": src}]}},
    }


# what Elasticsearch answers for the records above, query by query
DAY1, DAY2 = datetime(2026, 11, 16, tzinfo=UTC), datetime(2026, 11, 18, tzinfo=UTC)
ANSWERS = {
    "trend": {
        "b": {
            "buckets": [
                {
                    "key": ms(DAY1),
                    "doc_count": 3,
                    "s": {"value": 0.25},
                    "pos": {"doc_count": 1},
                    "neg": {"doc_count": 1},
                },
                {
                    "key": ms(DAY2),
                    "doc_count": 1,
                    "s": {"value": 0.4},
                    "pos": {"doc_count": 1},
                    "neg": {"doc_count": 0},
                },
            ]
        }
    },
    "rank": {
        "e": {
            "buckets": [
                {
                    "key": "city:chengdu",
                    "doc_count": 4,
                    "outlets": {"value": 2},
                    "countries": {"value": 2},
                    "s": {"value": 0.3},
                    "pos": {"doc_count": 2},
                    "neg": {"doc_count": 1},
                    "scored": {"value": 3},
                    "recent": {"doc_count": 4},
                }
            ]
        }
    },
    "stories": {
        "a": {
            "buckets": [
                story("a2", -0.1, "Outlet B", D1, "A sentence about Chengdu (-0.2)."),  # the only negative one
            ]
        }
    },
    "breakdown": {
        "k": {
            "buckets": [
                {"key": "Outlet A", "doc_count": 2, "s": {"value": 0.5}},
                {"key": "Outlet B", "doc_count": 2, "s": {"value": -0.1}},
            ]
        }
    },
    "voice": {"e": {"buckets": [{"key": "city:chengdu", "doc_count": 4}, {"key": "brand:byd", "doc_count": 1}]}},
    "coverage": {
        "k": {
            "buckets": [
                {"key": "GB", "doc_count": 2, "m": {"value": 3.0}},
                {"key": "US", "doc_count": 1, "m": {"value": 2.0}},
            ]
        }
    },
}
ASK = {
    "trend": lambda q: q.trend("city:chengdu", "Chengdu", SINCE, "1d", until=NOW),
    "rank": lambda q: q.rank({"city:chengdu": "Chengdu"}, SINCE, "city", now=NOW),
    "stories": lambda q: q.stories("city:chengdu", SINCE, negative=True, until=NOW),
    "breakdown": lambda q: q.breakdown("city:chengdu", SINCE, "outlet"),
    "voice": lambda q: q.share_of_voice({"city:chengdu": "Chengdu", "brand:byd": "BYD"}, SINCE),
    "coverage": lambda q: q.coverage(SINCE, "country"),
}


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    path = tmp_path_factory.mktemp("parity") / "store.duckdb"
    with DuckDBStore(path) as store:
        store.write(articles())
    backend = DuckDBBackend.open(path)
    yield Queries(backend)
    backend.close()


@pytest.mark.parametrize("query", sorted(ASK))
def test_both_back_ends_answer_alike(embedded, httpserver, query):
    def answer(request):
        return es_json(
            {
                "took": 1,
                "timed_out": False,
                "hits": {"total": {"value": 0, "relation": "eq"}, "hits": []},
                "aggregations": ANSWERS[query],
            }
        )

    for index in ("sinoscope-mentions-*", "sinoscope-articles-*"):
        httpserver.expect_request(f"/{index}/_search", method="POST").respond_with_handler(answer)
    stack = Queries(ElasticBackend(Elasticsearch(httpserver.url_for("/"), request_timeout=5)))
    try:
        here, there = ASK[query](embedded), ASK[query](stack)
    finally:
        stack.close()
    assert json.dumps(here, sort_keys=True) == json.dumps(there, sort_keys=True)
    assert here != {} and any(v not in ([], None) for v in here.values())


def test_the_embedded_answers_are_the_records_own_figures(embedded):
    """The figures the stand-in was recorded with are the records' (so the parity above is not
    between two wrong answers): article-level tone, one per (article, entity)."""
    trend = [b for b in ASK["trend"](embedded)["buckets"] if b["mentions"]]
    assert [(b["start"][:10], b["mentions"], b["sentiment_mean"], b["positive"], b["negative"]) for b in trend] == [
        ("2026-11-16", 3, 0.25, 1, 1),
        ("2026-11-18", 1, 0.4, 1, 0),
    ]
    row = ASK["rank"](embedded)["rows"][0]
    assert (row["mentions"], row["outlets"], row["countries"], row["sentiment_mean"], row["share_positive"]) == (
        4,
        2,
        2,
        0.3,
        0.6667,
    )
    assert [s["article_id"] for s in ASK["stories"](embedded)["stories"]] == ["a2"]


def keys(value) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys(v)}
    return set()


def test_the_json_shapes_documented_are_the_answers(embedded):
    """docs/queries.md writes each answer's shape as `name {"field", ...}`: every field it names is
    in the answer."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "queries.md").read_text(encoding="utf-8")
    shapes = dict(re.findall(r"(trend|rank|stories) `(\{.*?\})`", text.replace("\n", " ")))
    assert set(shapes) == {"trend", "rank", "stories"}
    for name, shape in shapes.items():
        documented = set(re.findall(r'"(\w+)"', shape))
        assert documented and documented <= keys(ASK[name](embedded)), name
