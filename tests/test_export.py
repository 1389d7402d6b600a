"""Exports (``sinoscope export``): what is written reads back equal to the query answers in every
format, with search's filters; large exports stream; a failed export leaves no file."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq
import pytest
import records
from test_search import ARTICLES, article

from sinks.duckdb.queries import DuckDBBackend
from sinks.duckdb.store import DuckDBStore
from sinks.export import ExportError, write
from sinks.query import Queries
from sinks.search.request import SearchRequest


@pytest.fixture
def queries(tmp_path):
    store = DuckDBStore(tmp_path / "store.duckdb")
    store.write([article(*a) for a in ARTICLES])
    q = Queries(DuckDBBackend.open(store.path))
    yield q
    q.close()


def read_back(path):
    if path.suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return pq.read_table(path).to_pylist()


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_mentions_export_round_trips_one_row_per_stored_mention(queries, tmp_path, fmt):
    out = tmp_path / f"m.{fmt}"
    n = queries.export("mentions", SearchRequest.build(""), fmt, out)
    stored = queries.backend.conn.execute("SELECT id, entity_id, entity_score FROM mentions ORDER BY id").fetchall()
    rows = read_back(out)
    assert n == len(rows) == len(stored) == sum(len(a[5]) for a in ARTICLES)
    got = sorted((r["mention_id"], r["entity_id"], r["entity_score"]) for r in rows)
    if fmt == "csv":  # text in, text out: the header row names the columns
        got = [(i, e, float(s) if s else None) for i, e, s in got]
    assert got == stored
    assert set(rows[0]) >= {"mention_id", "article_id", "entity_id", "name", "sentence", "published", "url", "title"}


def test_articles_export_with_a_search_and_filters_is_the_search(queries, tmp_path):
    request = SearchRequest.build("BYD AND tariff*", countries=["GB", "DE"])
    found = queries.search(SearchRequest.build("BYD AND tariff*", countries=["GB", "DE"], limit=100))
    queries.export("articles", request, "csv", tmp_path / "a.csv")
    rows = read_back(tmp_path / "a.csv")
    assert {r["article_id"] for r in rows} == {h["article_id"] for h in found["hits"]} == {"de1", "en1"}
    assert {r["entity_ids"] for r in rows} == {"brand:byd"}
    # mentions of one entity, in articles whose tone toward it is negative
    queries.export(
        "mentions", SearchRequest.build("", entity_ids=["brand:byd"], tone="-1..-0.3"), "jsonl", tmp_path / "m.jsonl"
    )
    ms = read_back(tmp_path / "m.jsonl")
    assert {m["article_id"] for m in ms} == {"de1", "en1"} and {m["entity_id"] for m in ms} == {"brand:byd"}
    assert (
        queries.export(
            "mentions", SearchRequest.build("", entity_type="city", languages=["ja"]), "csv", tmp_path / "c.csv"
        )
        == 1
    )


def test_trend_and_rank_exports_equal_the_query_answers(queries, tmp_path):
    since = datetime(2026, 1, 1, tzinfo=UTC)
    until = datetime(2026, 12, 31, tzinfo=UTC)
    args = {"entity_id": "brand:byd", "name": "BYD", "since": since, "interval": "1M", "until": until}
    queries.export("trend", None, "parquet", tmp_path / "t.parquet", **args)
    assert read_back(tmp_path / "t.parquet") == queries.trend(**args)["buckets"]
    assert len(read_back(tmp_path / "t.parquet")) == 12  # every month, the empty ones with 0
    rank = {"names": records.NAMES, "since": since, "entity_type": "brand", "now": until}
    queries.export("rank", None, "csv", tmp_path / "r.csv", **rank)
    rows = read_back(tmp_path / "r.csv")
    expected = queries.rank(**rank)["rows"]
    assert [r["entity_id"] for r in rows] == [r["entity_id"] for r in expected]
    assert [float(r["index"]) for r in rows] == [r["index"] for r in expected]


def test_a_large_export_streams_in_batches(tmp_path):
    store = DuckDBStore(tmp_path / "store.duckdb")
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    batch = [records.enriched(f"b{i}", t0 + timedelta(minutes=i), [("brand:byd", 0.1)] * 5) for i in range(6000)]
    store.write(batch)
    q = Queries(DuckDBBackend.open(store.path))
    sizes = [b.num_rows for b in q.backend.export_batches("mentions", SearchRequest.build(""), None)]
    assert sum(sizes) == 30_000 and len(sizes) >= 2 and max(sizes) <= 20_000  # never the whole result at once
    assert q.export("mentions", SearchRequest.build(""), "parquet", tmp_path / "m.parquet") == 30_000


def test_a_failed_export_leaves_no_file(queries, tmp_path):
    out = tmp_path / "m.csv"
    with pytest.raises(ExportError, match="use csv, parquet or jsonl"):
        queries.export("mentions", SearchRequest.build(""), "xlsx", out)

    def broken():
        yield from queries.backend.export_batches("mentions", SearchRequest.build(""), None)
        raise OSError("disk full")

    from sinks.export import MENTION_SCHEMA

    with pytest.raises(OSError, match="disk full"):
        write(broken(), MENTION_SCHEMA, "csv", out)
    assert not out.exists() and not list(tmp_path.glob("*.part"))


@pytest.mark.integration
def test_elasticsearch_export_reads_what_the_sink_stored_as_the_embedded_export_does(queries, httpserver, tmp_path):
    """Through the real client's scroll helper, against a local stand-in answering with the mention
    documents the Elasticsearch sink writes for the same records (no cluster runs here)."""
    from elasticsearch import Elasticsearch
    from test_elastic_sink import es_json

    from sinks.elastic.queries import ElasticBackend
    from sinks.elastic.store import ElasticStore

    docs = [a["_source"] for a in ElasticStore(Elasticsearch("http://127.0.0.1:9")).actions(
        [article(*a) for a in ARTICLES]) if "-mentions-" in a["_index"]]  # fmt: skip
    asked = []
    SHARDS = {"total": 1, "successful": 1, "skipped": 0, "failed": 0}

    def first_page(request):
        asked.append(request.get_json())
        hits = [{"_index": "sinoscope-mentions-2026.03", "_id": d["mention_id"], "_source": d} for d in docs]
        return es_json({"_scroll_id": "s1", "_shards": SHARDS, "hits": {"total": {"value": len(hits)}, "hits": hits}})

    httpserver.expect_request("/sinoscope-mentions-*/_search", method="POST").respond_with_handler(first_page)
    last = {"_scroll_id": "s1", "_shards": SHARDS, "hits": {"hits": []}}
    httpserver.expect_request("/_search/scroll", method="POST").respond_with_handler(lambda r: es_json(last))
    httpserver.expect_request("/_search/scroll", method="DELETE").respond_with_handler(
        lambda r: es_json({"succeeded": True, "num_freed": 1})
    )
    elastic = Queries(ElasticBackend(Elasticsearch(httpserver.url_for("/"))))
    since = SearchRequest.build("", since=datetime(2026, 1, 1, tzinfo=UTC))
    assert elastic.export("mentions", since, "parquet", tmp_path / "es.parquet") == len(docs)
    queries.export("mentions", since, "parquet", tmp_path / "duck.parquet")
    key = lambda r: r["mention_id"]  # noqa: E731
    assert sorted(read_back(tmp_path / "es.parquet"), key=key) == sorted(read_back(tmp_path / "duck.parquet"), key=key)
    assert asked[0]["query"] == {"bool": {"filter": [{"range": {"published": {"gte": "2026-01-01T00:00:00+00:00"}}}]}}
