"""The query back-end on Elasticsearch aggregations: the primitive aggregations of
``sinks.query.Backend``, answering exactly as the DuckDB back-end does (same filters, same
ordering), so the shared layer in ``sinks/query.py`` shapes both alike.

Counts are exact: distinct outlets and countries use ``cardinality`` with a precision threshold
far above the number of outlets any deployment tracks; ordering by a sub-aggregation is exact
because the mention indices have one shard (see the index templates).
"""

from __future__ import annotations

from datetime import UTC, datetime

from elasticsearch import Elasticsearch

from ..query import SPLITS, Backend
from .search import compile_filters, compile_query, read_answer, request_body
from .store import answering

EXACT = 40000  # cardinality precision threshold: exact below this many distinct values


def _interval(interval) -> dict:
    """The date histogram's interval: calendar units as such, fixed steps in seconds from the
    interval's origin (Elasticsearch aligns fixed intervals to the epoch; ``offset`` moves them)."""
    if interval.step is None:
        return {"calendar_interval": interval.unit}
    out = {"fixed_interval": f"{int(interval.step.total_seconds())}s"}
    shift = int((interval.origin - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds())
    return {**out, "offset": f"+{shift}s"} if shift else out


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat()


def _ms(value: float) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


class ElasticBackend(Backend):
    def __init__(self, es: Elasticsearch, prefix: str = "sinoscope", where: str = "Elasticsearch") -> None:
        self.es, self.where = es, where
        self.mentions = f"{prefix}-mentions-*"
        self.articles = f"{prefix}-articles-*"

    @classmethod
    def from_settings(cls, s) -> ElasticBackend:
        from .store import ElasticStore

        store = ElasticStore.from_settings(s)
        return cls(store.es, store.prefix, store.where)

    def close(self) -> None:
        self.es.close()

    def _search(self, index: str, query: dict, aggs: dict, runtime: dict | None = None) -> dict:
        extra = {"runtime_mappings": runtime} if runtime else {}
        with answering(self.where):
            return self.es.search(
                index=index, size=0, query=query, aggs=aggs, ignore_unavailable=True, allow_no_indices=True, **extra
            ).body.get("aggregations", {})

    @staticmethod
    def _filters(since: datetime | None, include_duplicates: bool, until: datetime | None = None, **terms) -> dict:
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

    # -- the primitives ------------------------------------------------------------------------
    def trend_buckets(self, entity_id, since, until, interval, dups):
        histogram = {"field": "published", "time_zone": interval.tz, "min_doc_count": 1, **_interval(interval)}
        aggs = self._search(
            self.mentions,
            self._filters(since, dups, until=until, entity_id=entity_id),
            {
                "b": {
                    "date_histogram": histogram,
                    "aggs": {
                        "s": {"avg": {"field": "entity_score"}},
                        "pos": {"filter": {"term": {"entity_label": "positive"}}},
                        "neg": {"filter": {"term": {"entity_label": "negative"}}},
                    },
                }
            },
        )
        return [
            (_ms(b["key"]), b["doc_count"], b["s"]["value"], b["pos"]["doc_count"], b["neg"]["doc_count"])
            for b in aggs.get("b", {}).get("buckets", [])
        ]

    def entity_figures(self, entity_type, since, until, mid, dups, exclude_senses, rollup):
        q = self._filters(since, dups, until=until, entity_type=entity_type)
        if exclude_senses:
            q["bool"]["must_not"].append({"terms": {"sense": list(exclude_senses)}})
        # the rollup as a runtime keyword field: each mention counts for its group
        runtime = (
            {
                "group": {
                    "type": "keyword",
                    "script": {
                        "source": "String id = doc['entity_id'].value; emit(params.m.containsKey(id) ? params.m[id] : id);",
                        "params": {"m": rollup},
                    },
                }
            }
            if rollup is not None
            else None
        )
        field = "group" if rollup is not None else "entity_id"
        aggs = self._search(
            self.mentions,
            q,
            {
                "e": {
                    "terms": {"field": field, "size": 65000},
                    "aggs": {
                        "outlets": {"cardinality": {"field": "outlet", "precision_threshold": EXACT}},
                        "countries": {"cardinality": {"field": "country", "precision_threshold": EXACT}},
                        "s": {"avg": {"field": "entity_score"}},
                        "pos": {"filter": {"term": {"entity_label": "positive"}}},
                        "neg": {"filter": {"term": {"entity_label": "negative"}}},
                        "scored": {"value_count": {"field": "entity_score"}},
                        "recent": {"filter": {"range": {"published": {"gte": _iso(mid)}}}},
                    },
                }
            },
            runtime,
        )
        rows = []
        for b in aggs.get("e", {}).get("buckets", []):
            n, scored = b["doc_count"], b["scored"]["value"]
            rows.append(
                (
                    b["key"],
                    n,
                    b["outlets"]["value"],
                    b["countries"]["value"],
                    b["s"]["value"],
                    b["pos"]["doc_count"] / scored if scored else 0.0,
                    b["neg"]["doc_count"] / scored if scored else 0.0,
                    b["recent"]["doc_count"],
                    n - b["recent"]["doc_count"],
                )
            )
        return rows

    def story_rows(self, entity_id, since, until, negative, limit, dups, label):
        q = self._filters(since, dups, until=until, entity_id=entity_id, entity_label=label)
        aggs = self._search(
            self.mentions,
            q,
            {
                "a": {
                    "terms": {
                        "field": "article_id",
                        "size": limit,
                        "order": [{"s": "asc" if negative else "desc"}, {"p": "desc"}],
                    },
                    "aggs": {
                        "s": {"avg": {"field": "entity_score"}},
                        "p": {"max": {"field": "published"}},
                        "doc": {
                            "top_hits": {
                                "size": 1,
                                "_source": ["url", "title", "outlet", "published", "sentence", "duplicate_of"],
                            }
                        },
                    },
                }
            },
        )
        out = []
        for b in aggs.get("a", {}).get("buckets", []):
            src = b["doc"]["hits"]["hits"][0]["_source"]
            out.append(
                {
                    "article_id": b["key"],
                    "url": src.get("url"),
                    "title": src.get("title"),
                    "outlet": src.get("outlet"),
                    "published": datetime.fromisoformat(src["published"]),
                    "sentiment": b["s"]["value"],
                    "sentence": src.get("sentence"),
                    "story": src.get("duplicate_of") or b["key"],
                }
            )
        return out

    def mention_counts(self, entity_ids, since, dups):
        q = self._filters(since, dups)
        q["bool"]["filter"].append({"terms": {"entity_id": entity_ids}})
        aggs = self._search(self.mentions, q, {"e": {"terms": {"field": "entity_id", "size": max(1, len(entity_ids))}}})
        return {b["key"]: b["doc_count"] for b in aggs.get("e", {}).get("buckets", [])}

    def split_figures(self, entity_id, since, by, dups):
        assert by in SPLITS  # a field name: validated by the query layer
        aggs = self._search(
            self.mentions,
            self._filters(since, dups, entity_id=entity_id),
            {
                "k": {
                    "terms": {"field": by, "size": 65000, "order": [{"_count": "desc"}, {"_key": "asc"}]},
                    "aggs": {"s": {"avg": {"field": "entity_score"}}},
                }
            },
        )
        return [(b["key"], b["doc_count"], b["s"]["value"]) for b in aggs.get("k", {}).get("buckets", [])]

    def coverage_rows(self, since, by, dups):
        assert by in SPLITS
        q = self._filters(since, dups)
        q["bool"]["filter"].append({"range": {"mentions": {"gt": 0}}})
        aggs = self._search(
            self.articles,
            q,
            {
                "k": {
                    "terms": {"field": by, "size": 65000, "order": [{"_count": "desc"}, {"_key": "asc"}]},
                    "aggs": {"m": {"sum": {"field": "mentions"}}},
                }
            },
        )
        return [(b["key"], b["doc_count"], b["m"]["value"]) for b in aggs.get("k", {}).get("buckets", [])]

    def texts(self, since, limit):
        """Titles and summaries, then mention sentences, newest first."""
        with answering(self.where):
            out: list[tuple[str, str]] = []
            for index, fields in ((self.articles, ("title", "summary")), (self.mentions, ("sentence",))):
                hits = self.es.search(
                    index=index,
                    query=self._filters(since, False),
                    size=min(limit, 10_000),
                    sort=[{"published": "desc"}],
                    source=[*fields, "outlet"],
                    ignore_unavailable=True,
                    allow_no_indices=True,
                ).body["hits"]["hits"]
                seen = set()
                for h in hits:
                    src = h["_source"]
                    for f in fields:
                        text = src.get(f)
                        if text and (text, src.get("outlet")) not in seen:
                            seen.add((text, src.get("outlet")))
                            out.append((text, src.get("outlet") or ""))
            return out[:limit]

    def article_days(self, since, until):
        histogram = {"field": "published", "calendar_interval": "day", "time_zone": "UTC", "min_doc_count": 1}
        aggs = self._search(
            self.articles, self._filters(since, True, until=until), {"d": {"date_histogram": histogram}}
        )
        return [_ms(b["key"]) for b in aggs.get("d", {}).get("buckets", [])]

    def related_counts(self, entity_id, since, limit, dups):
        aggs = self._search(
            self.articles,
            self._filters(since, dups, entity_ids=entity_id),
            {
                "r": {
                    "terms": {"field": "entity_ids", "size": limit + 1, "order": [{"_count": "desc"}, {"_key": "asc"}]}
                }
            },
        )
        rows = [(b["key"], b["doc_count"]) for b in aggs.get("r", {}).get("buckets", []) if b["key"] != entity_id]
        return rows[:limit]

    def search(self, request):
        with answering(self.where):
            answer = self.es.search(
                index=self.articles, ignore_unavailable=True, allow_no_indices=True, **request_body(request)
            ).body
        return read_answer(answer, request)

    def _scan(self, index: str, query: dict, fields: list[str]):
        from elasticsearch import helpers

        with answering(self.where):
            yield from helpers.scan(
                self.es, index=index, query={"query": query, "_source": fields}, size=2000, scroll="5m",
                ignore_unavailable=True, allow_no_indices=True,
            )  # fmt: skip

    def search_ids(self, request):
        query = {"bool": {"must": [compile_query(request.query)], "filter": compile_filters(request)}}
        return [h["_source"]["article_id"] for h in self._scan(self.articles, query, ["article_id"])]

    def export_batches(self, kind, request, article_ids):
        from .. import export

        if kind == "articles":  # the article indices answer the whole request (text and filters) at once
            query = {"bool": {"must": [compile_query(request.query)], "filter": compile_filters(request)}}
            rows = (_article_row(h["_source"]) for h in self._scan(self.articles, query, _ARTICLE_FIELDS))
            yield from export.batches_of(rows, export.ARTICLE_SCHEMA)
            return
        own: list[dict] = []  # the mention's own filters; the article's ones go through article ids
        if request.entity_ids:
            own.append({"terms": {"entity_id": list(request.entity_ids)}})
        if request.entity_type:
            own.append({"term": {"entity_type": request.entity_type}})
        plain = not (request.entity_ids or request.entity_type or request.tone or request.outlets)
        plain = plain and not (request.countries or request.languages) and article_ids is None
        if plain:  # dates only: scan the mentions straight
            rng = compile_filters(request)
            chunks = [rng]
        else:
            ids = article_ids if article_ids is not None else self.search_ids(request)
            chunks = [[{"terms": {"article_id": ids[i : i + 10_000]}}] for i in range(0, len(ids), 10_000)]
        for chunk in chunks:
            query = {"bool": {"filter": chunk + own}}
            rows = (_mention_row(h["_source"]) for h in self._scan(self.mentions, query, _MENTION_FIELDS))
            yield from export.batches_of(rows, export.MENTION_SCHEMA)

    def fetched_counts(self, since):
        q = {"range": {"fetched": {"gte": _iso(since)}}}
        aggs = self._search(
            self.articles, q, {"n": {"value_count": {"field": "article_id"}}, "m": {"sum": {"field": "mentions"}}}
        )
        return int(aggs.get("n", {}).get("value") or 0), int(aggs.get("m", {}).get("value") or 0)

    def totals(self, since, dups):
        kept = {"match_all": {}} if dups else {"bool": {"must_not": [{"exists": {"field": "duplicate_of"}}]}}
        a = self._search(
            self.articles,
            self._filters(since, True),
            {
                "dups": {"filter": {"exists": {"field": "duplicate_of"}}},
                "kept": {
                    "filter": kept,
                    "aggs": {
                        "with": {"filter": {"range": {"mentions": {"gt": 0}}}},
                        "backfilled": {"filter": {"term": {"via": "backfill"}}},
                        **{
                            k: {"cardinality": {"field": k, "precision_threshold": EXACT}}
                            for k in ("source", "outlet", "country", "language")
                        },
                        "first": {"min": {"field": "published"}},
                        "last": {"max": {"field": "published"}},
                        "names": {"terms": {"field": "outlet", "size": 65000, "order": {"_key": "asc"}}},
                    },
                },
            },
        )
        m = self._search(
            self.mentions,
            self._filters(since, dups),
            {
                "n": {"value_count": {"field": "mention_id"}},
                "e": {"cardinality": {"field": "entity_id", "precision_threshold": EXACT}},
            },
        )
        k = a.get("kept", {})

        def when(agg: str) -> str | None:
            v = k.get(agg, {}).get("value")
            return datetime.fromtimestamp(v / 1000, UTC).isoformat() if v is not None else None

        return {
            "articles": k.get("doc_count", 0),
            "articles_with_mentions": k.get("with", {}).get("doc_count", 0),
            "sources": k.get("source", {}).get("value", 0),
            "outlets": k.get("outlet", {}).get("value", 0),
            "countries": k.get("country", {}).get("value", 0),
            "languages": k.get("language", {}).get("value", 0),
            "backfilled": k.get("backfilled", {}).get("doc_count", 0),
            "first_published": when("first"),
            "last_published": when("last"),
            "duplicates": a.get("dups", {}).get("doc_count", 0),
            "duplicates_excluded": not dups,
            "mentions": int(m.get("n", {}).get("value") or 0),
            "entities": m.get("e", {}).get("value", 0),
            "outlet_names": [b["key"] for b in k.get("names", {}).get("buckets", [])],
        }


_ARTICLE_FIELDS = ["article_id", "url", "title", "summary", "outlet", "country", "language", "source", "published"]
_ARTICLE_FIELDS += ["fetched", "duplicate_of", "sentiment_score", "sentiment_label", "mentions", "entity_ids"]
_MENTION_FIELDS = ["mention_id", "article_id", "entity_id", "entity_type", "name", "text", "sentence", "sense"]
_MENTION_FIELDS += ["score", "label", "entity_score", "entity_label", "published", "outlet", "country", "language"]
_MENTION_FIELDS += ["duplicate_of", "url", "title"]


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _article_row(src: dict) -> dict:
    row = {k: src.get(k) for k in _ARTICLE_FIELDS}
    row |= {"published": _when(src.get("published")), "fetched": _when(src.get("fetched"))}
    return row | {"entity_ids": ";".join(src.get("entity_ids") or []) or None}


def _mention_row(src: dict) -> dict:
    return {k: src.get(k) for k in _MENTION_FIELDS} | {"published": _when(src.get("published"))}
