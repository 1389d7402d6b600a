"""The Elasticsearch query layer through the real client against a local stand-in that answers
searches with aggregation results shaped as Elasticsearch 9 returns them (no Elasticsearch server
can be installed here). This checks the requests the queries send (filters, intervals, ordering)
and that answers are read into the documented JSON shapes. That both stores answer *alike* is
tested on a real cluster: test_elastic_live.py::test_parity_both_stores_answer_the_queries_alike."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from elasticsearch import Elasticsearch
from test_elastic_sink import es_json

from sinks.elastic.queries import ElasticBackend
from sinks.query import Queries

pytestmark = pytest.mark.integration
SINCE = datetime(2026, 10, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 20, tzinfo=UTC)


class FakeSearch:
    def __init__(self, aggregations):
        self.aggregations, self.bodies = aggregations, []

    def __call__(self, request):
        self.bodies.append(json.loads(request.get_data()))
        return es_json(
            {
                "took": 1,
                "timed_out": False,
                "hits": {"total": {"value": 0, "relation": "eq"}, "hits": []},
                "aggregations": self.aggregations,
            }
        )


def queries(httpserver, aggregations):
    fake = FakeSearch(aggregations)
    httpserver.expect_request("/sinoscope-mentions-*/_search", method="POST").respond_with_handler(fake)
    return Queries(ElasticBackend(Elasticsearch(httpserver.url_for("/"), request_timeout=5))), fake


def test_trend_request_and_answer(httpserver):
    day = int(datetime(2026, 11, 2, tzinfo=UTC).timestamp() * 1000)
    q, fake = queries(
        httpserver,
        {
            "b": {
                "buckets": [
                    {
                        "key": day,
                        "key_as_string": "2026-11-02",
                        "doc_count": 3,
                        "s": {"value": -0.41234},
                        "pos": {"doc_count": 0},
                        "neg": {"doc_count": 2},
                    }
                ]
            }
        },
    )
    out = q.trend("city:wuhan", "Wuhan", SINCE, "1d", until=NOW)
    assert len(out["buckets"]) == 51  # every day of the period, zero-filled
    assert [b for b in out["buckets"] if b["mentions"]] == [
        {"start": "2026-11-02T00:00:00+00:00", "mentions": 3, "sentiment_mean": -0.4123, "positive": 0, "negative": 2}
    ]
    body = fake.bodies[0]
    assert body["size"] == 0 and body["aggs"]["b"]["date_histogram"]["fixed_interval"] == "86400s"
    assert body["query"]["bool"]["filter"][-1] == {
        "range": {"published": {"gte": SINCE.isoformat(), "lte": NOW.isoformat()}}
    }
    assert {"term": {"entity_id": "city:wuhan"}} in body["query"]["bool"]["filter"]
    assert body["query"]["bool"]["must_not"] == [{"exists": {"field": "duplicate_of"}}]  # syndicated copies out
    q.trend("city:wuhan", "Wuhan", SINCE, "1w", include_duplicates=True, until=NOW)
    assert fake.bodies[1]["query"]["bool"]["must_not"] == []
    assert fake.bodies[1]["aggs"]["b"]["date_histogram"]["calendar_interval"] == "week"
    q.trend("city:wuhan", "Wuhan", SINCE, "2w", until=NOW)  # fixed weeks start on Mondays too
    assert fake.bodies[2]["aggs"]["b"]["date_histogram"] == {
        "field": "published",
        "time_zone": "UTC",
        "min_doc_count": 1,
        "fixed_interval": "1209600s",
        "offset": "+345600s",
    }
    q.trend("city:wuhan", "Wuhan", SINCE, "1M", until=NOW, tz="Asia/Shanghai")  # months of Shanghai's calendar
    assert fake.bodies[3]["aggs"]["b"]["date_histogram"] == {
        "field": "published",
        "time_zone": "Asia/Shanghai",
        "min_doc_count": 1,
        "calendar_interval": "month",
    }
    with pytest.raises(ValueError):
        q.trend("city:wuhan", "Wuhan", SINCE, "5m")


def test_rank_uses_the_shared_index_formula(httpserver):
    q, fake = queries(
        httpserver,
        {
            "e": {
                "buckets": [
                    {
                        "key": "city:chengdu",
                        "doc_count": 10,
                        "outlets": {"value": 4},
                        "countries": {"value": 3},
                        "s": {"value": 0.5},
                        "pos": {"doc_count": 6},
                        "neg": {"doc_count": 1},
                        "scored": {"value": 8},
                        "recent": {"doc_count": 7},
                    },
                    {
                        "key": "city:wuhan",
                        "doc_count": 4,
                        "outlets": {"value": 2},
                        "countries": {"value": 1},
                        "s": {"value": -0.5},
                        "pos": {"doc_count": 0},
                        "neg": {"doc_count": 3},
                        "scored": {"value": 4},
                        "recent": {"doc_count": 1},
                    },
                ]
            }
        },
    )
    out = q.rank({"city:chengdu": "Chengdu", "city:wuhan": "Wuhan"}, SINCE, "city", now=NOW)
    assert [r["entity_id"] for r in out["rows"]] == ["city:chengdu", "city:wuhan"]
    top = out["rows"][0]
    assert (top["mentions"], top["outlets"], top["countries"], top["share_positive"], top["growth"]) == (
        10,
        4,
        3,
        0.75,
        0.4,
    )
    # presence 1, breadth 1, tone 0.75, growth 0.7 -> 100 * (0.35 + 0.25 + 0.1875 + 0.105)
    assert top["index"] == 89.25
    body = fake.bodies[0]
    assert {"terms": {"sense": ["government"]}} in body["query"]["bool"]["must_not"]
    # tone is the article-level tone toward the entity; shares are of the articles scored
    assert body["aggs"]["e"]["aggs"]["s"] == {"avg": {"field": "entity_score"}}
    assert body["aggs"]["e"]["aggs"]["scored"] == {"value_count": {"field": "entity_score"}}
    assert body["aggs"]["e"]["aggs"]["recent"]["filter"]["range"]["published"]["gte"].startswith("2026-10-26")


def test_rank_rollup_groups_by_a_runtime_field(httpserver):
    q, fake = queries(
        httpserver,
        {
            "e": {
                "buckets": [
                    {
                        "key": "brand:tencent",
                        "doc_count": 3,
                        "outlets": {"value": 2},
                        "countries": {"value": 1},
                        "s": {"value": 0.2},
                        "pos": {"doc_count": 2},
                        "neg": {"doc_count": 1},
                        "scored": {"value": 3},
                        "recent": {"doc_count": 1},
                    }
                ]
            }
        },
    )
    out = q.rank({"brand:tencent": "Tencent"}, SINCE, "brand", now=NOW, rollup={"brand:wechat": "brand:tencent"})
    assert out["rollup"] is True and [(r["entity_id"], r["name"], r["mentions"]) for r in out["rows"]] == [
        ("brand:tencent", "Tencent", 3)
    ]
    body = fake.bodies[0]
    assert body["aggs"]["e"]["terms"]["field"] == "group"
    assert body["runtime_mappings"]["group"]["script"]["params"]["m"] == {"brand:wechat": "brand:tencent"}
    q.rank({}, SINCE, "brand", now=NOW)
    assert "runtime_mappings" not in fake.bodies[1] and fake.bodies[1]["aggs"]["e"]["terms"]["field"] == "entity_id"


def test_stories_breakdown_and_share_of_voice(httpserver):
    q, fake = queries(
        httpserver,
        {
            "a": {
                "buckets": [
                    {
                        "key": "a1",
                        "doc_count": 2,
                        "s": {"value": -0.7},
                        "p": {"value": 0},
                        "doc": {
                            "hits": {
                                "hits": [
                                    {
                                        "_source": {
                                            "url": "https://x/1",
                                            "title": "T",
                                            "outlet": "O",
                                            "published": "2026-11-02T08:00:00+08:00",
                                            "sentence": "S",
                                        }
                                    }
                                ]
                            }
                        },
                    }
                ]
            },
            "k": {"buckets": [{"key": "GB", "doc_count": 5, "s": {"value": 0.1}}]},
            "e": {"buckets": [{"key": "brand:byd", "doc_count": 3}, {"key": "brand:nio", "doc_count": 1}]},
        },
    )
    st = q.stories("city:wuhan", SINCE, negative=True, limit=3)
    assert st["stories"] == [
        {
            "article_id": "a1",
            "url": "https://x/1",
            "title": "T",
            "outlet": "O",
            "published": "2026-11-02T00:00:00+00:00",
            "sentiment": -0.7,
            "sentence": "S",
        }
    ]
    assert fake.bodies[0]["aggs"]["a"]["terms"]["order"] == [{"s": "asc"}, {"p": "desc"}]
    # only articles labelled negative toward the entity; more rows asked than shown (repeats dropped)
    assert {"term": {"entity_label": "negative"}} in fake.bodies[0]["query"]["bool"]["filter"]
    assert fake.bodies[0]["aggs"]["a"]["terms"]["size"] == 12
    # an alert's stories on the stack come through the same layer: labelled, distinct
    from sinks.elastic.alerts import ElasticAlerts
    from sinks.elastic.store import ElasticStore

    alerts = ElasticAlerts(ElasticStore(Elasticsearch(httpserver.url_for("/"), request_timeout=5)))
    assert alerts.stories("city:wuhan", SINCE, NOW, negative=True, limit=3) == st["stories"]
    assert {"term": {"entity_label": "negative"}} in fake.bodies[-1]["query"]["bool"]["filter"]
    assert q.breakdown("city:wuhan", SINCE, "country")["rows"] == [{"key": "GB", "mentions": 5, "sentiment_mean": 0.1}]
    sov = q.share_of_voice({"brand:byd": "BYD", "brand:nio": "NIO", "brand:geely": "Geely"}, SINCE)
    assert sov["total"] == 4 and [(r["entity_id"], r["share"]) for r in sov["entities"]] == [
        ("brand:byd", 0.75),
        ("brand:nio", 0.25),
        ("brand:geely", 0.0),
    ]


def test_coverage_and_totals_read_the_articles_index(httpserver):
    first = int(datetime(2026, 10, 3, 6, tzinfo=UTC).timestamp() * 1000)
    last = int(datetime(2026, 11, 19, tzinfo=UTC).timestamp() * 1000)
    fake = FakeSearch(
        {
            "k": {
                "buckets": [
                    {"key": "GB", "doc_count": 4, "m": {"value": 9.0}},
                    {"key": "US", "doc_count": 1, "m": {"value": 1.0}},
                ]
            },
            "dups": {"doc_count": 2},
            "kept": {
                "doc_count": 7,
                "with": {"doc_count": 5},
                "backfilled": {"doc_count": 3},
                "source": {"value": 3},
                "outlet": {"value": 2},
                "country": {"value": 2},
                "language": {"value": 1},
                "first": {"value": first},
                "last": {"value": last},
                "names": {"buckets": [{"key": "Outlet A", "doc_count": 4}, {"key": "Outlet B", "doc_count": 3}]},
            },
            "n": {"value": 10},
            "e": {"value": 4},
        }
    )
    for index in ("articles", "mentions"):
        httpserver.expect_request(f"/sinoscope-{index}-*/_search", method="POST").respond_with_handler(fake)
    q = Queries(ElasticBackend(Elasticsearch(httpserver.url_for("/"), request_timeout=5)))
    assert q.coverage(SINCE, "country") == {
        "by": "country",
        "rows": [{"key": "GB", "articles": 4, "mentions": 9}, {"key": "US", "articles": 1, "mentions": 1}],
    }
    body = fake.bodies[0]
    assert {"range": {"mentions": {"gt": 0}}} in body["query"]["bool"]["filter"]  # articles that mention someone
    assert body["query"]["bool"]["must_not"] == [{"exists": {"field": "duplicate_of"}}]
    with pytest.raises(ValueError):
        q.coverage(SINCE, "planet")
    t = q.totals(SINCE)
    assert t == {
        "articles": 7,
        "articles_with_mentions": 5,
        "sources": 3,
        "outlets": 2,
        "countries": 2,
        "languages": 1,
        "backfilled": 3,
        "first_published": "2026-10-03T06:00:00+00:00",
        "last_published": "2026-11-19T00:00:00+00:00",
        "duplicates": 2,
        "duplicates_excluded": True,
        "mentions": 10,
        "entities": 4,
        "outlet_names": ["Outlet A", "Outlet B"],
    }
    articles_body, mentions_body = fake.bodies[-2], fake.bodies[-1]
    # duplicates are counted over every article, the rest only over the kept ones
    assert articles_body["query"]["bool"]["must_not"] == []
    assert articles_body["aggs"]["kept"]["filter"] == {"bool": {"must_not": [{"exists": {"field": "duplicate_of"}}]}}
    assert articles_body["aggs"]["kept"]["aggs"]["backfilled"] == {"filter": {"term": {"via": "backfill"}}}
    assert mentions_body["query"]["bool"]["must_not"] == [{"exists": {"field": "duplicate_of"}}]
    q.totals(SINCE, include_duplicates=True)
    assert fake.bodies[-2]["aggs"]["kept"]["filter"] == {"match_all": {}}


def test_report_on_the_stack_reads_elasticsearch_and_its_alerts_index(httpserver, tmp_path):
    """`sinoscope report` with the Elasticsearch sink: every figure comes from the cluster (here a
    stand-in with no data but one indexed alert); nothing is read from a local store."""
    from nlp.entities.catalogue import load_catalogue
    from sinks.report.data import ReportError, gather
    from sinks.report.render import render
    from sinoscope.core.settings import Settings

    alert = {
        "id": "al-1",
        "entity_id": "city:chengdu",
        "name": "Chengdu",
        "type": "city",
        "kind": "sentiment_drop",
        "fired_at": "2026-11-19T10:00:00+00:00",
        "window": {"start": "2026-11-17T10:00:00+00:00", "end": "2026-11-19T10:00:00+00:00", "hours": 48},
        "baseline": {"sentiment_mean": 0.3, "mentions": 40},
        "current": {"sentiment_mean": -0.4, "mentions": 14},
        "volume": 14,
    }
    alerts_fake = FakeSearch({})
    alerts_fake.hits = [{"_index": "sinoscope-alerts", "_id": "al-1", "_source": alert}]

    def alerts_answer(request):
        alerts_fake.bodies.append(json.loads(request.get_data()))
        return es_json(
            {"took": 1, "timed_out": False, "hits": {"total": {"value": 1, "relation": "eq"}, "hits": alerts_fake.hits}}
        )

    empty = FakeSearch({})
    for index in ("articles", "mentions"):
        httpserver.expect_request(f"/sinoscope-{index}-*/_search", method="POST").respond_with_handler(empty)
    httpserver.expect_request("/sinoscope-alerts/_search", method="POST").respond_with_handler(alerts_answer)
    settings = Settings(data_dir=tmp_path, sink={"kind": "elasticsearch", "es_url": httpserver.url_for("/")})
    catalogue = load_catalogue(settings.nlp.catalogues)
    data = gather(settings, catalogue, SINCE, ["city:chengdu"], now=NOW)
    assert data["alerts"] == [
        {
            "id": "al-1",
            "entity_id": "city:chengdu",
            "name": "Chengdu",
            "kind": "sentiment_drop",
            "fired_at": "2026-11-19T10:00:00+00:00",
            "delivered": None,
        }
    ]
    assert data["entities"][0]["alerts"][0]["current"]["sentiment_mean"] == -0.4
    assert data["totals"]["articles"] == 0 and data["rank"]["rows"] == []
    assert {"range": {"fired_at": {"gte": SINCE.isoformat()}}} == alerts_fake.bodies[0]["query"]
    assert len(empty.bodies) >= 6  # rank x2, trend, stories x2, coverage x2, totals x2
    assert not (tmp_path / "store.duckdb").exists()
    assert "unknown here" in render(data)  # delivery state lives with the scheduler's alert log
    httpserver.clear()  # the cluster goes away: a clear error, not a traceback
    httpserver.expect_request("/sinoscope-alerts/_search").respond_with_data("down", status=503)
    with pytest.raises(ReportError, match="did not answer"):
        gather(settings, catalogue, SINCE, ["city:chengdu"], now=NOW)


def test_gaps_read_the_days_with_articles_from_a_date_histogram(httpserver):
    day = lambda d: int(datetime(2026, 11, d, tzinfo=UTC).timestamp() * 1000)  # noqa: E731
    fake = FakeSearch({"d": {"buckets": [{"key": day(1), "doc_count": 3}, {"key": day(4), "doc_count": 1}]}})
    httpserver.expect_request("/sinoscope-articles-*/_search", method="POST").respond_with_handler(fake)
    q = Queries(ElasticBackend(Elasticsearch(httpserver.url_for("/"), request_timeout=5)))
    gaps = q.gaps(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 5, tzinfo=UTC))
    assert gaps == [
        {"start": "2026-11-02T00:00:00+00:00", "end": "2026-11-03T00:00:00+00:00", "days": 2},
        {"start": "2026-11-05T00:00:00+00:00", "end": "2026-11-05T00:00:00+00:00", "days": 1},
    ]
    assert fake.bodies[0]["aggs"]["d"]["date_histogram"]["calendar_interval"] == "day"
