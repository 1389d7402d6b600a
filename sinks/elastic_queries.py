"""The trend queries on Elasticsearch aggregations, answering exactly as ``sinks.queries``
does on the embedded store (same JSON shapes, same filters, same ordering, the influence index
computed by the same code), so the CLI, the report and the parity test treat both alike.

Counts are exact: distinct outlets and countries use ``cardinality`` with a precision threshold
far above the number of outlets any deployment tracks; ordering by a sub-aggregation is exact
because the mention indices have one shard (see the index templates).
"""

from __future__ import annotations

from datetime import datetime, timezone

from elasticsearch import Elasticsearch

from . import queries

EXACT = 40000  # cardinality precision threshold: exact below this many distinct values
UNIT = {"hour": "hour", "day": "day", "week": "week"}


def _iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).isoformat()


class ElasticQueries:
    def __init__(self, es: Elasticsearch, prefix: str = "sinoscope") -> None:
        self.es = es
        self.mentions = f"{prefix}-mentions-*"
        self.articles = f"{prefix}-articles-*"

    def close(self) -> None:
        self.es.close()

    def _search(self, index: str, query: dict, aggs: dict, runtime: dict | None = None) -> dict:
        extra = {"runtime_mappings": runtime} if runtime else {}
        return self.es.search(index=index, size=0, query=query, aggs=aggs, ignore_unavailable=True,
                              allow_no_indices=True, **extra).body.get("aggregations", {})

    @staticmethod
    def _filters(since: datetime | None, include_duplicates: bool, until: datetime | None = None,
                 **terms) -> dict:
        flt: list[dict] = [{"term": {k: v}} for k, v in terms.items()]
        rng = {}
        if since is not None:
            rng["gte"] = _iso(since)
        if until is not None:
            rng["lte"] = _iso(until)
        if rng:
            flt.append({"range": {"published": rng}})
        must_not = [] if include_duplicates else [{"exists": {"field": "duplicate_of"}}]
        return {"bool": {"filter": flt, "must_not": must_not}}

    # -- the queries -------------------------------------------------------------------------
    def trend(self, entity_id: str, name: str, since: datetime, interval: str = "1d",
              include_duplicates: bool = False) -> dict:
        unit = queries.INTERVALS.get(interval)
        if unit is None:
            raise ValueError(f"interval {interval!r}: use 1h, 1d or 1w")
        aggs = self._search(self.mentions, self._filters(since, include_duplicates, entity_id=entity_id), {
            "b": {"date_histogram": {"field": "published", "calendar_interval": UNIT[unit], "time_zone": "UTC",
                                     "min_doc_count": 1},
                  "aggs": {"s": {"avg": {"field": "entity_score"}},
                           "pos": {"filter": {"term": {"entity_label": "positive"}}},
                           "neg": {"filter": {"term": {"entity_label": "negative"}}}}}})
        buckets = aggs.get("b", {}).get("buckets", [])
        return {"entity_id": entity_id, "name": name, "interval": interval, "since": since.isoformat(),
                "include_duplicates": include_duplicates,
                "buckets": [{"start": datetime.fromtimestamp(b["key"] / 1000, timezone.utc).isoformat(),
                             "mentions": b["doc_count"],
                             "sentiment_mean": round(b["s"]["value"], 4) if b["s"]["value"] is not None else None,
                             "positive": b["pos"]["doc_count"], "negative": b["neg"]["doc_count"]} for b in buckets]}

    def rank(self, names: dict[str, str], since: datetime, entity_type: str = "city", now: datetime | None = None,
             include_duplicates: bool = False, limit: int | None = None, rollup: dict[str, str] | None = None) -> dict:
        now = now or datetime.now(timezone.utc)
        mid = since + (now - since) / 2
        q = self._filters(since, include_duplicates, until=now, entity_type=entity_type)
        q["bool"]["must_not"].append({"term": {"sense": "government"}})
        # the rollup as a runtime keyword field: each mention counts for its group
        runtime = {"group": {"type": "keyword", "script": {
            "source": "String id = doc['entity_id'].value; emit(params.m.containsKey(id) ? params.m[id] : id);",
            "params": {"m": rollup}}}} if rollup is not None else None
        field = "group" if rollup is not None else "entity_id"
        aggs = self._search(self.mentions, q, {"e": {"terms": {"field": field, "size": 65000}, "aggs": {
            "outlets": {"cardinality": {"field": "outlet", "precision_threshold": EXACT}},
            "countries": {"cardinality": {"field": "country", "precision_threshold": EXACT}},
            "s": {"avg": {"field": "entity_score"}},
            "pos": {"filter": {"term": {"entity_label": "positive"}}},
            "neg": {"filter": {"term": {"entity_label": "negative"}}},
            "scored": {"value_count": {"field": "entity_score"}},
            "recent": {"filter": {"range": {"published": {"gte": _iso(mid)}}}}}}}, runtime)
        rows = []
        for b in aggs.get("e", {}).get("buckets", []):
            n, scored = b["doc_count"], b["scored"]["value"]
            rows.append((b["key"], n, b["outlets"]["value"], b["countries"]["value"], b["s"]["value"],
                         b["pos"]["doc_count"] / scored if scored else 0.0,
                         b["neg"]["doc_count"] / scored if scored else 0.0, b["recent"]["doc_count"],
                         n - b["recent"]["doc_count"]))
        return queries.rank_rows(rows, names, since, entity_type, include_duplicates, limit, rollup is not None)

    def stories(self, entity_id: str, since: datetime | None = None, negative: bool = False, limit: int = 10,
                include_duplicates: bool = False, until: datetime | None = None) -> dict:
        q = self._filters(since, include_duplicates, until=until, entity_id=entity_id)
        q["bool"]["filter"].append({"exists": {"field": "entity_score"}})
        aggs = self._search(self.mentions, q, {"a": {
            "terms": {"field": "article_id", "size": limit,
                      "order": [{"s": "asc" if negative else "desc"}, {"p": "desc"}]},
            "aggs": {"s": {"avg": {"field": "entity_score"}}, "p": {"max": {"field": "published"}},
                     "doc": {"top_hits": {"size": 1, "_source": ["url", "title", "outlet", "published", "sentence"]}}}}})
        out = []
        for b in aggs.get("a", {}).get("buckets", []):
            src = b["doc"]["hits"]["hits"][0]["_source"]
            published = datetime.fromisoformat(src["published"]).astimezone(timezone.utc).isoformat()
            out.append({"article_id": b["key"], "url": src.get("url"), "title": src.get("title"),
                        "outlet": src.get("outlet"), "published": published, "sentiment": round(b["s"]["value"], 4),
                        "sentence": src.get("sentence")})
        return {"entity_id": entity_id, "negative": negative, "stories": out}

    def texts(self, since: datetime, limit: int = 20_000) -> list[tuple[str, str]]:
        """The same as ``queries.texts``: titles and summaries, then mention sentences, newest first."""
        out: list[tuple[str, str]] = []
        for index, fields in ((self.articles, ("title", "summary")), (self.mentions, ("sentence",))):
            hits = self.es.search(index=index, query=self._filters(since, False), size=min(limit, 10_000),
                                  sort=[{"published": "desc"}], source=[*fields, "outlet"], ignore_unavailable=True,
                                  allow_no_indices=True).body["hits"]["hits"]
            seen = set()
            for h in hits:
                src = h["_source"]
                for f in fields:
                    text = src.get(f)
                    if text and (text, src.get("outlet")) not in seen:
                        seen.add((text, src.get("outlet")))
                        out.append((text, src.get("outlet") or ""))
        return out[:limit]

    def share_of_voice(self, entities: dict[str, str], since: datetime, include_duplicates: bool = False) -> dict:
        q = self._filters(since, include_duplicates)
        q["bool"]["filter"].append({"terms": {"entity_id": list(entities)}})
        aggs = self._search(self.mentions, q, {"e": {"terms": {"field": "entity_id", "size": max(1, len(entities))}}})
        return queries.voice_rows({b["key"]: b["doc_count"] for b in aggs.get("e", {}).get("buckets", [])},
                                  entities, since)

    def breakdown(self, entity_id: str, since: datetime, by: str = "outlet", include_duplicates: bool = False) -> dict:
        queries.check_split(by, "breakdown")
        aggs = self._search(self.mentions, self._filters(since, include_duplicates, entity_id=entity_id), {
            "k": {"terms": {"field": by, "size": 65000, "order": [{"_count": "desc"}, {"_key": "asc"}]},
                  "aggs": {"s": {"avg": {"field": "entity_score"}}}}})
        return {"entity_id": entity_id, "by": by, "rows": [
            {"key": b["key"], "mentions": b["doc_count"],
             "sentiment_mean": round(b["s"]["value"], 4) if b["s"]["value"] is not None else None}
            for b in aggs.get("k", {}).get("buckets", [])]}

    def coverage(self, since: datetime, by: str = "country", include_duplicates: bool = False) -> dict:
        queries.check_split(by, "coverage")
        q = self._filters(since, include_duplicates)
        q["bool"]["filter"].append({"range": {"mentions": {"gt": 0}}})
        aggs = self._search(self.articles, q, {
            "k": {"terms": {"field": by, "size": 65000, "order": [{"_count": "desc"}, {"_key": "asc"}]},
                  "aggs": {"m": {"sum": {"field": "mentions"}}}}})
        return {"by": by, "rows": [{"key": b["key"], "articles": b["doc_count"], "mentions": int(b["m"]["value"] or 0)}
                                   for b in aggs.get("k", {}).get("buckets", [])]}

    def totals(self, since: datetime, include_duplicates: bool = False) -> dict:
        kept = {"match_all": {}} if include_duplicates else {"bool": {"must_not": [{"exists": {"field": "duplicate_of"}}]}}
        a = self._search(self.articles, self._filters(since, True), {
            "dups": {"filter": {"exists": {"field": "duplicate_of"}}},
            "kept": {"filter": kept, "aggs": {
                "with": {"filter": {"range": {"mentions": {"gt": 0}}}},
                **{k: {"cardinality": {"field": k, "precision_threshold": EXACT}}
                   for k in ("source", "outlet", "country", "language")},
                "first": {"min": {"field": "published"}}, "last": {"max": {"field": "published"}},
                "names": {"terms": {"field": "outlet", "size": 65000, "order": {"_key": "asc"}}}}}})
        m = self._search(self.mentions, self._filters(since, include_duplicates), {
            "n": {"value_count": {"field": "mention_id"}},
            "e": {"cardinality": {"field": "entity_id", "precision_threshold": EXACT}}})
        k = a.get("kept", {})

        def when(agg: str) -> str | None:
            v = k.get(agg, {}).get("value")
            return datetime.fromtimestamp(v / 1000, timezone.utc).isoformat() if v is not None else None

        return {"articles": k.get("doc_count", 0), "articles_with_mentions": k.get("with", {}).get("doc_count", 0),
                "sources": k.get("source", {}).get("value", 0), "outlets": k.get("outlet", {}).get("value", 0),
                "countries": k.get("country", {}).get("value", 0), "languages": k.get("language", {}).get("value", 0),
                "first_published": when("first"), "last_published": when("last"),
                "duplicates": a.get("dups", {}).get("doc_count", 0), "duplicates_excluded": not include_duplicates,
                "mentions": int(m.get("n", {}).get("value") or 0), "entities": m.get("e", {}).get("value", 0),
                "outlet_names": [b["key"] for b in k.get("names", {}).get("buckets", [])]}


class EmbeddedQueries:
    """The same methods over the embedded DuckDB store (``sinks.queries``)."""

    def __init__(self, path) -> None:
        from .store import EmbeddedStore

        self.store = EmbeddedStore(path, read_only=True)

    def close(self) -> None:
        self.store.close()

    def __getattr__(self, name: str):
        fn = getattr(queries, name)
        return lambda *a, **kw: fn(self.store.conn, *a, **kw)


def open_queries(settings):
    """The query layer for the store the settings name."""
    if settings.sink.kind == "elasticsearch":
        from .elastic import ElasticSink

        sink = ElasticSink.from_settings(settings.sink)
        return ElasticQueries(sink.es, sink.prefix)
    return EmbeddedQueries(settings.path("store.duckdb"))
