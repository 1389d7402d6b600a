"""The Elasticsearch sink's error handling, through the real `elasticsearch` client.

No Elasticsearch server can be installed on this machine, so these tests talk to a local HTTP
stand-in (pytest-httpserver on loopback) that answers like Elasticsearch 9 does — the product
header, bulk responses item by item, 429s, a mapping error — and records what the client sent.
The same write path runs against a real cluster in test_elastic_live.py when SINOSCOPE_ES_URL
is set."""

from __future__ import annotations

import json
import socket
import time

import pytest
from elasticsearch import Elasticsearch
from test_store import enriched
from werkzeug import Response

from sinks.base import StoreUnavailable
from sinks.elastic.store import ARTICLE_MAPPING, MENTION_MAPPING, ElasticStore
from sinks.search.syntax import WORD_PATTERN

pytestmark = pytest.mark.integration
HEADERS = {"X-Elastic-Product": "Elasticsearch", "Content-Type": "application/vnd.elasticsearch+json;compatible-with=9"}


def es_json(body, status=200):
    return Response(json.dumps(body), status=status, headers=HEADERS)


class FakeBulk:
    """Answers POST /_bulk item by item; ``plan`` says what to do with each request in turn."""

    def __init__(self, plan):
        self.plan, self.requests = list(plan), []

    def __call__(self, request):
        lines = [json.loads(x) for x in request.get_data().splitlines() if x.strip()]
        actions = [(next(iter(line)), line[next(iter(line))]) for line in lines[0::2]]
        self.requests.append([meta["_id"] for _, meta in actions])
        step = self.plan.pop(0) if self.plan else "ok"
        if step == "429":
            return es_json(
                {"error": {"type": "es_rejected_execution_exception", "reason": "queue full"}, "status": 429}, 429
            )
        if step == "slow":
            time.sleep(3)
        items = []
        for k, (op, meta) in enumerate(actions):
            status, error = 201, None
            if step == "mapping-error" and k == 0:
                status, error = 400, {"type": "document_parsing_exception", "reason": "failed to parse field [score]"}
            if step == "item-429" and k == 1:
                status, error = 429, {"type": "es_rejected_execution_exception", "reason": "queue full"}
            items.append(
                {
                    op: {
                        "_index": meta["_index"],
                        "_id": meta["_id"],
                        "status": status,
                        **({"error": error} if error else {"result": "created"}),
                    }
                }
            )
        return es_json({"took": 3, "errors": any("error" in next(iter(i.values())) for i in items), "items": items})


def sink(httpserver, **kw):
    client = Elasticsearch(httpserver.url_for("/"), request_timeout=1.5, max_retries=0, retry_on_timeout=False)
    return ElasticStore(client, initial_backoff=0.05, **kw)


def batch():
    return [enriched(1, [("city:chengdu", 0.5), ("brand:byd", -0.2)], 1), enriched(2, [("city:wuhan", -0.6)], 2)]


def test_bulk_writes_with_stable_ids_into_monthly_indices(httpserver):
    bulk = FakeBulk(["ok"])
    httpserver.expect_request("/_bulk").respond_with_handler(bulk)
    result = sink(httpserver).write(batch())
    assert result.written == 2 and result.failed == []
    b = batch()
    assert bulk.requests == [[b[0].article.id, *[m.id for m in b[0].mentions], b[1].article.id, b[1].mentions[0].id]]


def test_a_rejected_chunk_is_retried_with_backoff_never_skipped(httpserver):
    bulk = FakeBulk(["429", "429", "ok"])
    httpserver.expect_request("/_bulk").respond_with_handler(bulk)
    result = sink(httpserver).write(batch())
    assert result.written == 2 and len(bulk.requests) == 3
    assert bulk.requests[0] == bulk.requests[2]  # the same chunk, again


def test_items_rejected_with_429_are_retried_alone(httpserver):
    bulk = FakeBulk(["item-429", "ok"])
    httpserver.expect_request("/_bulk").respond_with_handler(bulk)
    result = sink(httpserver).write(batch())
    assert result.written == 2 and len(bulk.requests) == 2 and len(bulk.requests[1]) == 1


def test_a_chunk_still_rejected_after_all_retries_fails_the_batch(httpserver):
    bulk = FakeBulk(["429"] * 10)
    httpserver.expect_request("/_bulk").respond_with_handler(bulk)
    with pytest.raises(StoreUnavailable, match="429"):
        sink(httpserver, max_retries=2).write(batch())
    assert len(bulk.requests) == 3


def test_mapping_error_is_returned_for_the_dead_letter_topic_and_not_retried(httpserver):
    bulk = FakeBulk(["mapping-error"])
    httpserver.expect_request("/_bulk").respond_with_handler(bulk)
    b = batch()
    result = sink(httpserver).write(b)
    assert result.written == 1 and len(bulk.requests) == 1
    assert result.failed == [
        (
            b[0].article.id,
            f"Elasticsearch refused document {b[0].article.id} (HTTP 400): "
            "document_parsing_exception: failed to parse field [score]",
        )
    ]


def test_mapping_failures_are_dead_lettered_by_the_sink_stage(httpserver, settings):
    from sinks.stage import GROUP, sink_stage
    from sinoscope.core.bus.embedded import EmbeddedBus

    httpserver.expect_request("/_bulk").respond_with_handler(FakeBulk(["mapping-error"]))
    bus = EmbeddedBus(settings.path("bus.sqlite"))
    for e in batch():
        bus.publish(settings.bus.topics.enriched, e.article.id, e.to_json())
    bus.flush()
    stats = sink_stage(bus, settings, sink(httpserver)).run(until_idle=True, poll_timeout_s=0.1)
    assert stats.dead_lettered == 1
    dead = [json.loads(r.value) for r in bus.read(settings.bus.topics.dead_letter)]
    assert "document_parsing_exception" in dead[0]["reason"] and dead[0]["key"] == batch()[0].article.id
    assert sum(bus.group_lag(GROUP, settings.bus.topics.enriched).values()) == 0
    bus.close()


def test_connection_refused_and_timeouts_raise_so_nothing_is_committed(httpserver):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    down = ElasticStore(
        Elasticsearch(f"http://127.0.0.1:{port}", request_timeout=1, max_retries=0), max_retries=1, initial_backoff=0.05
    )
    with pytest.raises(StoreUnavailable, match="ConnectionError|Connection refused|connect"):
        down.write(batch())
    httpserver.expect_request("/_bulk").respond_with_handler(FakeBulk(["slow"]))
    with pytest.raises(StoreUnavailable, match="(?i)timeout|timed out"):
        sink(httpserver, max_retries=0).write(batch())


def test_setup_puts_the_lifecycle_policy_and_templates(httpserver):
    seen = {}

    def record(request):
        seen[request.path] = json.loads(request.get_data() or b"{}")
        return es_json({"acknowledged": True})

    httpserver.expect_request("/_ilm/policy/sinoscope-retention", method="PUT").respond_with_handler(record)
    httpserver.expect_request("/_index_template/sinoscope-articles", method="PUT").respond_with_handler(record)
    httpserver.expect_request("/_index_template/sinoscope-mentions", method="PUT").respond_with_handler(record)
    httpserver.expect_request("/sinoscope-mentions-*/_mapping", method="PUT").respond_with_handler(record)
    httpserver.expect_request("/sinoscope-articles-*/_mapping", method="PUT").respond_with_handler(record)
    sink(httpserver, retention_days=365).setup()
    # indices an older release made take the new fields (their mappings are strict)
    assert seen["/sinoscope-mentions-*/_mapping"]["properties"]["entity_score"] == {"type": "float"}
    assert seen["/sinoscope-articles-*/_mapping"]["properties"]["tone_keywords"] == {"type": "keyword"}
    # the search's analyzer rides on the article template: the same word pattern as the embedded index
    articles = seen["/_index_template/sinoscope-articles"]["template"]
    assert articles["settings"]["analysis"]["tokenizer"]["sinoscope_words"]["pattern"] == WORD_PATTERN
    assert articles["mappings"]["properties"]["text"]["fields"]["words"]["analyzer"] == "sinoscope_words"
    assert seen["/_ilm/policy/sinoscope-retention"]["policy"]["phases"]["delete"]["min_age"] == "365d"
    tpl = seen["/_index_template/sinoscope-mentions"]
    assert tpl["index_patterns"] == ["sinoscope-mentions-*"]
    assert tpl["template"]["mappings"]["properties"]["entity_id"] == {"type": "keyword"}


def test_mappings_cover_every_field_the_sink_writes():
    s = ElasticStore(Elasticsearch("http://127.0.0.1:9"))
    for action in s.actions(batch()):
        mapping = ARTICLE_MAPPING if "-articles-" in action["_index"] else MENTION_MAPPING
        assert set(action["_source"]) <= set(mapping["properties"]), action["_index"]
    for m in (ARTICLE_MAPPING, MENTION_MAPPING):
        for name, spec in m["properties"].items():
            if name in ("title", "text", "summary", "sentence") and m is ARTICLE_MAPPING or name == "sentence":
                assert spec["type"] == "text"
    assert MENTION_MAPPING["properties"]["score"]["type"] == "float"


def test_the_articles_tone_toward_each_entity_rides_on_one_mention_per_article_and_entity():
    s = ElasticStore(Elasticsearch("http://127.0.0.1:9"))
    docs = [a["_source"] for a in s.actions(batch()) if "-mentions-" in a["_index"]]
    carried: dict = {}
    for d in docs:
        if d["entity_score"] is not None:
            carried[(d["article_id"], d["entity_id"])] = carried.get((d["article_id"], d["entity_id"]), 0) + 1
    assert carried and set(carried.values()) == {1}
    assert set(carried) == {(d["article_id"], d["entity_id"]) for d in docs if d["score"] is not None}
