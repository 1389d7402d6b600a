"""Alert figures from Elasticsearch (the stack), and the alert history as an index there, so
Kibana shows what fired beside the mentions that made it fire."""

from __future__ import annotations

from datetime import UTC, datetime

from elasticsearch import Elasticsearch

from ..alerts import swings
from ..query import EXCLUDED_SENSES, Queries
from .queries import ElasticBackend
from .store import ElasticStore, answering

ALERT_MAPPING = {
    "dynamic": False,
    "properties": {
        "id": {"type": "keyword"},
        "entity_id": {"type": "keyword"},
        "name": {"type": "keyword"},
        "type": {"type": "keyword"},
        "kind": {"type": "keyword"},
        "direction": {"type": "keyword"},
        "fired_at": {"type": "date"},
        "volume": {"type": "integer"},
        "window": {"properties": {"start": {"type": "date"}, "end": {"type": "date"}, "hours": {"type": "float"}}},
        "baseline": {
            "properties": {
                "sentiment_mean": {"type": "float"},
                "mentions": {"type": "integer"},
                "mentions_per_day": {"type": "float"},
            }
        },
        "current": {
            "properties": {
                "sentiment_mean": {"type": "float"},
                "mentions": {"type": "integer"},
                "stories": {"type": "integer"},
                "mentions_per_day": {"type": "float"},
            }
        },
    },
}

# a syndicated copy counts once as a story
STORY_FIELD = {
    "story": {
        "type": "keyword",
        "script": {
            "source": "emit(doc['duplicate_of'].size() > 0 ? doc['duplicate_of'].value : doc['article_id'].value)"
        },
    }
}


def stats_query(now: datetime, t: swings.Thresholds, entity_ids: list[str] | None = None) -> dict:
    b0, w0, w1 = swings.periods(now, t)
    only = [{"terms": {"entity_id": entity_ids}}] if entity_ids is not None else []

    def part(extra: dict) -> dict:
        return {
            "filter": {"range": {"published": extra}},
            "aggs": {
                "score": {"extended_stats": {"field": "entity_score"}},
                "stories": {"cardinality": {"field": "story", "precision_threshold": 3000}},
                "days": {
                    "date_histogram": {
                        "field": "published",
                        "calendar_interval": "day",
                        "time_zone": "UTC",
                        "format": "yyyy-MM-dd",
                        "min_doc_count": 1,
                    }
                },
            },
        }

    return {
        "size": 0,
        "runtime_mappings": STORY_FIELD,
        "query": {
            "bool": {
                "filter": [{"range": {"published": {"gte": b0.isoformat(), "lte": w1.isoformat()}}}, *only],
                "must_not": [{"terms": {"sense": list(EXCLUDED_SENSES)}}],
            }
        },
        "aggs": {
            "entities": {
                "terms": {"field": "entity_id", "size": 10000},
                "aggs": {
                    "type": {"terms": {"field": "entity_type", "size": 1}},
                    "current": part({"gte": w0.isoformat(), "lte": w1.isoformat()}),
                    "baseline": part({"gte": b0.isoformat(), "lt": w0.isoformat()}),
                },
            }
        },
    }


def stats_from_response(resp: dict) -> list[swings.EntityStats]:
    out = []
    for b in resp["aggregations"]["entities"]["buckets"]:
        if not b["current"]["doc_count"]:
            continue
        types = b["type"]["buckets"]
        st = swings.EntityStats(b["key"], types[0]["key"] if types else "", swings.Window(), swings.Window())
        for name, w in (("current", st.current), ("baseline", st.baseline)):
            part = b[name]
            sc = part["score"]
            w.mentions = part["doc_count"]
            w.stories = part["stories"]["value"]
            w.scored = sc["count"]
            w.sentiment_sum = sc["sum"] or 0.0
            w.sentiment_sumsq = sc.get("sum_of_squares") or 0.0
            w.days = {d["key_as_string"]: d["doc_count"] for d in part["days"]["buckets"]}
        out.append(st)
    return sorted(out, key=lambda s: s.entity_id)


class ElasticAlerts:
    def __init__(self, sink: ElasticStore) -> None:
        self.sink = sink
        self.es: Elasticsearch = sink.es
        self.mentions = f"{sink.prefix}-mentions-*"
        self.index = f"{sink.prefix}-alerts"

    @classmethod
    def from_settings(cls, settings) -> ElasticAlerts:
        return cls(ElasticStore.from_settings(settings.sink))

    def close(self) -> None:
        self.es.close()

    def stats(
        self, now: datetime, t: swings.Thresholds, entity_ids: list[str] | None = None
    ) -> list[swings.EntityStats]:
        with answering(self.sink.where):
            return self._stats(now, t, entity_ids)

    def _stats(self, now: datetime, t: swings.Thresholds, entity_ids: list[str] | None) -> list[swings.EntityStats]:
        return stats_from_response(self.es.search(index=self.mentions, **stats_query(now, t, entity_ids)).body)

    def stories(self, entity_id: str, since: datetime, until: datetime, negative: bool, limit: int = 5) -> list[dict]:
        """The alert's stories through the shared query layer, as on the embedded default: labelled so,
        one per syndicated cluster and quoted sentence."""
        q = Queries(ElasticBackend(self.es, self.sink.prefix, self.sink.where))
        return q.stories(entity_id, since, negative=negative, limit=limit, until=until, include_duplicates=True)[
            "stories"
        ]

    def alerts(self, since: datetime | None = None, limit: int = 10000) -> list[dict]:
        """The alerts indexed since ``since``, newest first. Delivery state lives in the alert
        log of the process that fired them (``sinoscope alerts list`` there): None here."""
        with answering(self.sink.where):
            return self._alerts(since, limit)

    def _alerts(self, since: datetime | None, limit: int) -> list[dict]:
        query = {"range": {"fired_at": {"gte": since.isoformat()}}} if since else {"match_all": {}}
        resp = self.es.search(
            index=self.index,
            size=limit,
            query=query,
            sort=[{"fired_at": "desc"}, {"id": "asc"}],
            ignore_unavailable=True,
            allow_no_indices=True,
        ).body
        keys = ("id", "entity_id", "name", "type", "kind", "fired_at", "window", "baseline", "current", "volume")
        return [{**{k: h["_source"].get(k) for k in keys}, "delivered": None} for h in resp["hits"]["hits"]]

    def record_alert(self, alert: dict) -> None:
        """Index the alert (id = alert id, so a repeat overwrites) for Kibana."""
        self.es.indices.put_index_template(
            name=self.index, index_patterns=[self.index], priority=200, template={"mappings": ALERT_MAPPING}
        )
        doc = {k: v for k, v in alert.items() if k != "signals"}
        doc["signals"] = [s["kind"] for s in alert.get("signals", [])]
        doc["indexed_at"] = datetime.now(UTC).isoformat()
        self.es.index(index=self.index, id=alert["id"], document=doc)
