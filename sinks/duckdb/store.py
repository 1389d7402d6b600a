"""The embedded store: articles and mentions in one DuckDB file, for the embedded default
(the ``Store`` contract: ``sinks/base.py``).

Why DuckDB: trend queries are scans and group-bys over millions of mention rows, which a
columnar engine answers in milliseconds without tuning indexes. Writes are idempotent upserts
keyed by article id and mention id (derived from the article id), so a replayed batch changes
nothing. ``write`` raises ``StoreUnavailable`` on failure, so the stage commits nothing it did not store.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import duckdb
import pyarrow as pa

from sinoscope.core.schemas import Enriched
from sinoscope.core.tone import carriers

from ..base import Store, StoreUnavailable, WriteResult
from ..search.document import search_document
from .search import FullTextIndex

_SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (
    id VARCHAR PRIMARY KEY, url VARCHAR, title VARCHAR, summary VARCHAR, outlet VARCHAR, country VARCHAR,
    language VARCHAR, source VARCHAR, published TIMESTAMPTZ, fetched TIMESTAMPTZ, duplicate_of VARCHAR,
    sentiment_score DOUBLE, sentiment_label VARCHAR, sentiment_confidence DOUBLE, mentions INTEGER, model VARCHAR
);
CREATE TABLE IF NOT EXISTS mentions (
    id VARCHAR PRIMARY KEY, article_id VARCHAR, entity_id VARCHAR, entity_type VARCHAR, name VARCHAR,
    text VARCHAR, field VARCHAR, sentence VARCHAR, sense VARCHAR,
    score DOUBLE, label VARCHAR, confidence DOUBLE,
    published TIMESTAMPTZ, outlet VARCHAR, country VARCHAR, language VARCHAR, duplicate_of VARCHAR
);
-- the article's tone toward the mention's entity, on one mention per (article, entity): sinoscope.core.tone
ALTER TABLE mentions ADD COLUMN IF NOT EXISTS entity_score DOUBLE;
ALTER TABLE mentions ADD COLUMN IF NOT EXISTS entity_label VARCHAR;
ALTER TABLE mentions ADD COLUMN IF NOT EXISTS entity_confidence DOUBLE;
-- how ingest found the article: live or backfill (volume honesty: sinks.query totals)
ALTER TABLE articles ADD COLUMN IF NOT EXISTS via VARCHAR;
"""
_TS = pa.timestamp("us", tz="UTC")
_ARTICLE_TYPES = [
    ("id", pa.string()), ("url", pa.string()), ("title", pa.string()), ("summary", pa.string()),
    ("outlet", pa.string()), ("country", pa.string()), ("language", pa.string()), ("source", pa.string()),
    ("published", _TS), ("fetched", _TS), ("duplicate_of", pa.string()), ("sentiment_score", pa.float64()),
    ("sentiment_label", pa.string()), ("sentiment_confidence", pa.float64()), ("mentions", pa.int32()),
    ("model", pa.string()), ("via", pa.string()),
]  # fmt: skip
_MENTION_TYPES = [
    ("id", pa.string()), ("article_id", pa.string()), ("entity_id", pa.string()), ("entity_type", pa.string()),
    ("name", pa.string()), ("text", pa.string()), ("field", pa.string()), ("sentence", pa.string()),
    ("sense", pa.string()), ("score", pa.float64()), ("label", pa.string()), ("confidence", pa.float64()),
    ("published", _TS), ("outlet", pa.string()), ("country", pa.string()), ("language", pa.string()),
    ("duplicate_of", pa.string()), ("entity_score", pa.float64()), ("entity_label", pa.string()),
    ("entity_confidence", pa.float64()),
]  # fmt: skip


def _table(types: list[tuple[str, pa.DataType]], rows: list[tuple]) -> pa.Table:
    """Rows as an Arrow table: DuckDB inserts it in one statement (``executemany`` goes row by row,
    ~40 ms per article here)."""
    columns = list(zip(*rows)) if rows else [()] * len(types)
    return pa.table([pa.array(col, type=t) for col, (_, t) in zip(columns, types)], names=[n for n, _ in types])


_MENTION_COLUMNS = (
    "id, article_id, entity_id, entity_type, name, text, field, sentence, sense, score, label, "
    "confidence, published, outlet, country, language, duplicate_of, entity_score, entity_label, "
    "entity_confidence"
)


class DuckDBStore(Store):
    kind = "embedded"

    def __init__(self, path: Path, read_only: bool = False) -> None:
        """DuckDB lets one process hold the file open for writing, so a writer opens it only
        for each batch (a few ms) and queries (``read_only``) can run between batches."""
        self.path = Path(path)
        self.where = f"the embedded store {self.path}"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.read_only = read_only
        if not self.path.exists() or not read_only:
            self._open(False).execute(_SCHEMA).close()
        self._conn = self._open(True) if read_only else None
        self._search: FullTextIndex | None = None
        if (
            read_only
            and not self._conn.execute(
                "SELECT 1 FROM information_schema.columns WHERE table_name = 'articles' AND column_name = 'via'"
            ).fetchone()
        ):  # a store written by an older release: add the new columns once
            self._conn.close()
            self._open(False).execute(_SCHEMA).close()
            self._conn = self._open(True)

    def _open(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        delay = 0.05
        for attempt in range(40):  # another process holds the file: wait for it (about 10 s)
            try:
                return duckdb.connect(str(self.path), read_only=read_only)
            except duckdb.IOException:
                if attempt == 39:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
        raise AssertionError("unreachable")

    @property
    def conn(self) -> duckdb.DuckDBPyConnection:
        """The query connection (read-only stores), or a fresh writer connection."""
        return self._conn if self._conn is not None else self._open(False)

    @property
    def search(self) -> FullTextIndex:
        """The full-text index beside the file (``store.search/`` for ``store.duckdb``), opened on first use."""
        if self._search is None:
            self._search = FullTextIndex(self.path.with_name(self.path.stem + ".search"))
        return self._search

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    def write(self, batch: list[Enriched]) -> WriteResult:
        """Upsert articles and their mentions; all of the batch or none of it."""
        if not batch:
            return WriteResult()
        arts, ments = [], []
        for e in batch:
            a, s = e.article, e.sentiment
            tones = carriers(e)
            arts.append(
                (
                    a.id,
                    a.url,
                    a.title,
                    a.summary,
                    a.outlet,
                    a.country,
                    e.language,
                    a.source,
                    a.published,
                    a.fetched,
                    a.duplicate_of,
                    s.score if s else None,
                    s.label if s else None,
                    s.confidence if s else None,
                    len(e.mentions),
                    e.model,
                    a.via,
                )
            )
            for m in e.mentions:
                ms, t = m.sentiment, tones.get(m.id)
                ments.append(
                    (
                        m.id,
                        a.id,
                        m.entity_id,
                        m.type,
                        m.name,
                        m.text,
                        m.field,
                        m.sentence,
                        m.sense,
                        ms.score if ms else None,
                        ms.label if ms else None,
                        ms.confidence if ms else None,
                        a.published,
                        a.outlet,
                        a.country,
                        e.language,
                        a.duplicate_of,
                        t.score if t else None,
                        t.label if t else None,
                        t.confidence if t else None,
                    )
                )
        # one row per id, the last wins (a replay inside one batch); Arrow tables in, one INSERT each
        arts = list({a[0]: a for a in arts}.values())
        ments = list({m[0]: m for m in ments}.values())
        new_articles = _table(_ARTICLE_TYPES, arts)
        new_mentions = _table(_MENTION_TYPES, ments)
        with self._lock:
            try:
                conn = self._open(False)
            except duckdb.Error as exc:
                raise StoreUnavailable(f"embedded store {self.path} is busy or unreadable: {exc}", self.where) from exc
            try:
                conn.register("new_articles", new_articles)
                conn.register("new_mentions", new_mentions)
                conn.execute("BEGIN TRANSACTION")
                conn.execute("INSERT OR REPLACE INTO articles SELECT * FROM new_articles")
                # an article re-enriched (new model) replaces its mentions as a whole
                conn.execute("DELETE FROM mentions WHERE article_id IN (SELECT id FROM new_articles)")
                conn.execute(
                    f"INSERT OR REPLACE INTO mentions ({_MENTION_COLUMNS}) SELECT {_MENTION_COLUMNS} FROM new_mentions"
                )
                # the search index commits inside the store's transaction: if it fails, so does the batch
                self.search.write([search_document(e) for e in {e.article.id: e for e in batch}.values()])
                conn.execute("COMMIT")
            except (duckdb.Error, OSError, ValueError, RuntimeError) as exc:  # tantivy: ValueError
                conn.execute("ROLLBACK")
                raise StoreUnavailable(f"embedded store {self.path}: {exc}", self.where) from exc
            finally:
                conn.close()
        return WriteResult(written=len(batch))

    def prune(self, older_than) -> dict:
        """Retention: drop articles (and their mentions) published before ``older_than``."""
        with self._lock:
            conn = self._open(False)
            try:
                conn.execute("BEGIN TRANSACTION")
                m = conn.execute("DELETE FROM mentions WHERE published < ?", [older_than]).fetchone()[0]
                a = conn.execute("DELETE FROM articles WHERE published < ?", [older_than]).fetchone()[0]
                self.search.prune(older_than)
                conn.execute("COMMIT")
            finally:
                conn.close()
        return {"articles": a, "mentions": m}

    def counts(self) -> dict:
        with self._lock:
            conn = self.conn
            try:
                a = conn.execute("SELECT count(*) FROM articles").fetchone()[0]
                m = conn.execute("SELECT count(*) FROM mentions").fetchone()[0]
            finally:
                if conn is not self._conn:
                    conn.close()
        return {"articles": a, "mentions": m}
