"""The Elasticsearch sink against a real cluster: runs when SINOSCOPE_ES_URL is set (e.g.
`docker compose up elasticsearch` then SINOSCOPE_ES_URL=http://localhost:9200 make test), and is
skipped with that reason otherwise (no Elasticsearch server can be installed here)."""

from __future__ import annotations

import os
import uuid

import pytest
from elasticsearch import Elasticsearch

from sinks.elastic import ElasticSink
from test_store import enriched

ES_URL = os.environ.get("SINOSCOPE_ES_URL")
pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not ES_URL, reason="SINOSCOPE_ES_URL not set: no Elasticsearch cluster to test against")]


def test_templates_writes_and_replays_on_a_real_cluster():
    es = Elasticsearch(ES_URL, request_timeout=30)
    prefix = f"sinoscope-test-{uuid.uuid4().hex[:8]}"
    sink = ElasticSink(es, prefix=prefix, retention_days=30)
    try:
        sink.setup()
        batch = [enriched(1, [("city:chengdu", 0.5), ("brand:byd", -0.2)], 1), enriched(2, [("city:wuhan", -0.6)], 2)]
        assert sink.write(batch).written == 5
        assert sink.write(batch).written == 5  # a replay overwrites by id
        es.indices.refresh(index=f"{prefix}-*")
        assert es.count(index=f"{prefix}-mentions-*")["count"] == 3
        assert es.count(index=f"{prefix}-articles-*")["count"] == 2
        mapping = es.indices.get_mapping(index=f"{prefix}-mentions-*")
        props = next(iter(mapping.values()))["mappings"]["properties"]
        assert props["entity_id"]["type"] == "keyword" and props["sentence"]["type"] == "text"
    finally:
        es.indices.delete(index=f"{prefix}-*", ignore_unavailable=True)
        for name in sink.templates():
            es.indices.delete_index_template(name=name, ignore=[404])
        es.ilm.delete_lifecycle(name=f"{prefix}-retention", ignore=[404])
