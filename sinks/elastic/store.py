"""The Elasticsearch store (official ``elasticsearch`` client), for the stack (the ``Store``
contract: ``sinks/base.py``).

- Index templates with explicit mappings for articles and mentions (ids, entity ids and types,
  outlet, country, language, labels as keywords; scores as numbers; title, text and the
  mention's sentence as analysed text), and a lifecycle policy that deletes indices older than
  ``retention_days``. Indices are monthly by publication date, so a document always lands in
  the same index and retention drops whole months.
- Bulk writes through ``helpers.streaming_bulk``: a chunk rejected with 429/502/503/504 is
  retried with exponential backoff (never skipped); a document the cluster refuses for good
  (a mapping error, 400) is returned to the caller to dead-letter with its reason and is never
  retried. Connection failures and timeouts raise, so the stage commits nothing.
- Document ids are the article id and the mention id, so a replay overwrites, never duplicates.
Connection, credentials and TLS come from settings/environment (``SINOSCOPE_SINK__ES_*``).
"""

from __future__ import annotations

import logging
from contextlib import contextmanager

from elasticsearch import Elasticsearch, helpers
from elasticsearch.exceptions import ApiError, TransportError

from sinoscope.core.redact import redact
from sinoscope.core.schemas import Enriched
from sinoscope.core.tone import carriers

from ..base import Store, StoreUnavailable, WriteResult
from ..search.document import search_document
from .search import ANALYSIS, WORDS

log = logging.getLogger("sinoscope.sinks.elastic")

RETRY_STATUS = (429, 502, 503, 504)
# an article document's fields taken as the search document has them (sinks/search/document.py)
SEARCHED = ("article_id", "url", "title", "summary", "text", "outlet", "country", "language", "duplicate_of")
SEARCHED += ("entity_ids", "tone_keywords")

ARTICLE_MAPPING = {
    "dynamic": "strict",
    "properties": {
        "article_id": {"type": "keyword"},
        "url": {"type": "keyword"},
        # the ``words`` sub-fields are what `sinoscope search` reads (sinks/elastic/search.py)
        "title": {"type": "text", "fields": WORDS},
        "summary": {"type": "text", "fields": WORDS},
        "text": {"type": "text", "fields": WORDS},
        "outlet": {"type": "keyword"},
        "country": {"type": "keyword"},
        "language": {"type": "keyword"},
        "source": {"type": "keyword"},
        "published": {"type": "date"},
        "fetched": {"type": "date"},
        "duplicate_of": {"type": "keyword"},
        "sentiment_score": {"type": "float"},
        "sentiment_label": {"type": "keyword"},
        "sentiment_confidence": {"type": "float"},
        "mentions": {"type": "integer"},
        "model": {"type": "keyword"},
        "entity_ids": {"type": "keyword"},
        "via": {"type": "keyword"},  # live or backfill
        "tone_keywords": {"type": "keyword"},  # the search's tone filter: sinks/search/syntax.py
        "entity_tones": {"type": "object", "enabled": False},  # what a search hit shows of each entity
    },
}
MENTION_MAPPING = {
    "dynamic": "strict",
    "properties": {
        "mention_id": {"type": "keyword"},
        "article_id": {"type": "keyword"},
        "entity_id": {"type": "keyword"},
        "entity_type": {"type": "keyword"},
        "name": {"type": "keyword"},
        "text": {"type": "keyword"},
        "field": {"type": "keyword"},
        "sentence": {"type": "text"},
        "sense": {"type": "keyword"},
        "score": {"type": "float"},
        "label": {"type": "keyword"},
        "confidence": {"type": "float"},
        # the article's tone toward the entity, on one mention per (article, entity): sinoscope.core.tone
        "entity_score": {"type": "float"},
        "entity_label": {"type": "keyword"},
        "entity_confidence": {"type": "float"},
        "published": {"type": "date"},
        "outlet": {"type": "keyword"},
        "country": {"type": "keyword"},
        "language": {"type": "keyword"},
        "duplicate_of": {"type": "keyword"},
        "title": {"type": "text"},
        "url": {"type": "keyword"},
    },
}


@contextmanager
def answering(where: str):
    """Elasticsearch's client errors (down, refused, timed out, 5xx) as the store seam's
    ``StoreUnavailable``, so callers catch one error whatever the store."""
    try:
        yield
    except (ApiError, TransportError) as exc:
        raise StoreUnavailable(f"Elasticsearch did not answer: {exc}", where) from exc


class ElasticStore(Store):
    kind = "elasticsearch"

    def __init__(
        self,
        client: Elasticsearch,
        prefix: str = "sinoscope",
        retention_days: int = 730,
        max_retries: int = 5,
        initial_backoff: float = 1.0,
        chunk_size: int = 500,
        where: str = "",
    ) -> None:
        self.es, self.prefix = client, prefix
        self.where = where or "Elasticsearch (settings sink.es_*)"
        self.retention_days = retention_days
        self.max_retries, self.initial_backoff, self.chunk_size = max_retries, initial_backoff, chunk_size

    @classmethod
    def from_settings(cls, s) -> ElasticStore:
        auth = {}
        if s.es_api_key:
            auth["api_key"] = s.es_api_key.get_secret_value()
        elif s.es_username:
            auth["basic_auth"] = (s.es_username, s.es_password.get_secret_value() if s.es_password else "")
        client = Elasticsearch(
            s.es_url,
            request_timeout=s.es_timeout_s,
            verify_certs=s.es_verify_certs,
            ca_certs=str(s.es_ca_certs) if s.es_ca_certs else None,
            max_retries=2,
            retry_on_timeout=False,
            **auth,
        )
        return cls(
            client,
            s.es_index_prefix,
            s.es_retention_days,
            initial_backoff=s.es_initial_backoff_s,
            where=f"Elasticsearch at {redact(s.es_url)} (settings sink.es_*)",
        )

    # -- set-up ----------------------------------------------------------------------------------
    def templates(self) -> dict[str, dict]:
        policy = f"{self.prefix}-retention"
        settings = {"number_of_shards": 1, "index.lifecycle.name": policy}
        return {
            f"{self.prefix}-articles": {
                "index_patterns": [f"{self.prefix}-articles-*"],
                "priority": 200,
                "template": {"settings": {**settings, "analysis": ANALYSIS}, "mappings": ARTICLE_MAPPING},
            },
            f"{self.prefix}-mentions": {
                "index_patterns": [f"{self.prefix}-mentions-*"],
                "priority": 200,
                "template": {"settings": settings, "mappings": MENTION_MAPPING},
            },
        }

    def setup(self) -> None:
        """Create or update the lifecycle policy and the index templates (idempotent)."""
        try:
            self.es.ilm.put_lifecycle(
                name=f"{self.prefix}-retention",
                policy={
                    "phases": {
                        "hot": {"actions": {}},
                        "delete": {"min_age": f"{self.retention_days}d", "actions": {"delete": {}}},
                    }
                },
            )
            for name, body in self.templates().items():
                self.es.indices.put_index_template(name=name, **body)
            # indices made by an older release take the fields added since (strict mappings)
            self.es.indices.put_mapping(
                index=f"{self.prefix}-mentions-*", properties=MENTION_MAPPING["properties"], allow_no_indices=True
            )
            # (the ``words`` sub-fields need the analyzer, which an open index cannot take: articles in
            # indices made before search existed are found once reindexed, see docs/queries.md)
            self.es.indices.put_mapping(
                index=f"{self.prefix}-articles-*",
                properties={k: ARTICLE_MAPPING["properties"][k] for k in ("via", "tone_keywords", "entity_tones")},
                allow_no_indices=True,
            )
        except (ApiError, TransportError) as exc:
            raise StoreUnavailable(f"Elasticsearch set-up failed: {exc}", self.where) from exc

    # -- writing ---------------------------------------------------------------------------------
    def actions(self, batch: list[Enriched]):
        for e in batch:
            a, s = e.article, e.sentiment
            found = search_document(e)
            month = a.published.strftime("%Y.%m")
            yield {
                "_op_type": "index",
                "_index": f"{self.prefix}-articles-{month}",
                "_id": a.id,
                "_source": {
                    **{k: found[k] for k in SEARCHED},
                    "source": a.source,
                    "via": a.via,
                    "published": a.published.isoformat(),
                    "fetched": a.fetched.isoformat(),
                    "sentiment_score": s.score if s else None,
                    "sentiment_label": s.label if s else None,
                    "sentiment_confidence": s.confidence if s else None,
                    "mentions": len(e.mentions),
                    "model": e.model,
                    "entity_tones": found["mentions"],
                },
            }
            tones = carriers(e)
            for m in e.mentions:
                ms, t = m.sentiment, tones.get(m.id)
                yield {
                    "_op_type": "index",
                    "_index": f"{self.prefix}-mentions-{month}",
                    "_id": m.id,
                    "_source": {
                        "mention_id": m.id,
                        "article_id": a.id,
                        "entity_id": m.entity_id,
                        "entity_type": m.type,
                        "name": m.name,
                        "text": m.text,
                        "field": m.field,
                        "sentence": m.sentence,
                        "sense": m.sense,
                        "score": ms.score if ms else None,
                        "label": ms.label if ms else None,
                        "confidence": ms.confidence if ms else None,
                        "entity_score": t.score if t else None,
                        "entity_label": t.label if t else None,
                        "entity_confidence": t.confidence if t else None,
                        "published": a.published.isoformat(),
                        "outlet": a.outlet,
                        "country": a.country,
                        "language": e.language,
                        "duplicate_of": a.duplicate_of,
                        "title": a.title,
                        "url": a.url,
                    },
                }

    def write(self, batch: list[Enriched]) -> WriteResult:
        result = WriteResult()
        owner = {}
        for e in batch:
            owner[e.article.id] = e.article.id
            for m in e.mentions:
                owner[m.id] = e.article.id
        try:
            for ok, item in helpers.streaming_bulk(
                self.es,
                self.actions(batch),
                chunk_size=self.chunk_size,
                raise_on_error=False,
                raise_on_exception=True,
                max_retries=self.max_retries,
                initial_backoff=self.initial_backoff,
                max_backoff=60,
                retry_on_status=RETRY_STATUS,
            ):
                info = next(iter(item.values()))
                if not ok:
                    status = info.get("status")
                    err = info.get("error")
                    reason = f"Elasticsearch refused document {info.get('_id')} (HTTP {status}): " + (
                        f"{err.get('type')}: {err.get('reason')}" if isinstance(err, dict) else str(err)
                    )
                    if status in RETRY_STATUS:  # still rejected after every retry: the batch fails
                        raise StoreUnavailable(reason + f" after {self.max_retries} retries", self.where)
                    result.failed.append((owner.get(info.get("_id"), info.get("_id")), reason))
        except (ApiError, TransportError) as exc:
            raise StoreUnavailable(
                f"Elasticsearch bulk write failed ({type(exc).__name__}: {exc}); nothing was "
                "committed, the batch will be retried",
                self.where,
            ) from exc
        result.written = len(batch) - len({article for article, _ in result.failed})  # articles stored whole
        return result

    def close(self) -> None:
        self.es.close()
