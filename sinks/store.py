"""The embedded store: articles and mentions in one DuckDB file, for the embedded default.

Why DuckDB: trend queries are scans and group-bys over millions of mention rows, which a
columnar engine answers in milliseconds without tuning indexes. Writes are idempotent upserts
keyed by article id and mention id (derived from the article id), so a replayed batch changes
nothing. ``write`` raises on failure, so the stage commits nothing it did not store.
"""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb

from sinoscope.schemas import Enriched

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
"""


class StoreError(RuntimeError):
    """The store could not write; nothing of the batch counts as stored."""


class EmbeddedStore:
    def __init__(self, path: Path, read_only: bool = False) -> None:
        """``read_only`` lets queries run beside a writing process (DuckDB allows one writer)."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        if read_only and not self.path.exists():
            duckdb.connect(str(self.path)).execute(_SCHEMA).close()
        self.conn = duckdb.connect(str(self.path), read_only=read_only)
        if not read_only:
            self.conn.execute(_SCHEMA)

    def close(self) -> None:
        self.conn.close()

    def write(self, batch: list[Enriched]) -> None:
        """Upsert articles and their mentions; all of the batch or none of it."""
        if not batch:
            return
        arts, ments = [], []
        for e in batch:
            a, s = e.article, e.sentiment
            arts.append((a.id, a.url, a.title, a.summary, a.outlet, a.country, e.language, a.source, a.published,
                         a.fetched, a.duplicate_of, s.score if s else None, s.label if s else None,
                         s.confidence if s else None, len(e.mentions), e.model))
            for m in e.mentions:
                ms = m.sentiment
                ments.append((m.id, a.id, m.entity_id, m.type, m.name, m.text, m.field, m.sentence, m.sense,
                               ms.score if ms else None, ms.label if ms else None, ms.confidence if ms else None,
                               a.published, a.outlet, a.country, e.language, a.duplicate_of))
        with self._lock:
            try:
                self.conn.execute("BEGIN TRANSACTION")
                self.conn.executemany("INSERT OR REPLACE INTO articles VALUES (" + ",".join("?" * 16) + ")", arts)
                ids = [a[0] for a in arts]
                # an article re-enriched (new model) replaces its mentions as a whole
                self.conn.execute("DELETE FROM mentions WHERE article_id IN (SELECT unnest(?))", [ids])
                if ments:
                    self.conn.executemany("INSERT OR REPLACE INTO mentions VALUES (" + ",".join("?" * 17) + ")", ments)
                self.conn.execute("COMMIT")
            except duckdb.Error as exc:
                self.conn.execute("ROLLBACK")
                raise StoreError(f"embedded store {self.path}: {exc}") from exc

    def counts(self) -> dict:
        with self._lock:
            a = self.conn.execute("SELECT count(*) FROM articles").fetchone()[0]
            m = self.conn.execute("SELECT count(*) FROM mentions").fetchone()[0]
        return {"articles": a, "mentions": m}
