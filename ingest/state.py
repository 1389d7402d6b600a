"""Ingest's own durable memory: per-source health and HTTP validators, the canonical URLs
already published, and MinHash signatures of articles with their LSH band keys (near-duplicate
search without holding the window in memory).

One SQLite file in the data directory; every write is its own durable transaction. Seen URLs
are recorded only after the bus acknowledged the article, so a crash can only cause a repeat
publish (which the bus's idempotent producer or downstream ids absorb), never a loss.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sources (
    name TEXT PRIMARY KEY, url TEXT, status TEXT NOT NULL DEFAULT 'new',
    etag TEXT, last_modified TEXT, body_hash TEXT,
    last_fetch TEXT, last_unconditional TEXT, last_success TEXT,
    last_error TEXT, last_error_at TEXT, failing_since TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    entries_seen INTEGER NOT NULL DEFAULT 0, articles_published INTEGER NOT NULL DEFAULT 0,
    next_poll_after TEXT, moved_to TEXT, last_warning TEXT
);
CREATE TABLE IF NOT EXISTS seen (
    url TEXT PRIMARY KEY, article_id TEXT NOT NULL, source TEXT, first_seen TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS minhash (
    article_id TEXT PRIMARY KEY, published TEXT NOT NULL, signature BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS minhash_published ON minhash (published);
CREATE TABLE IF NOT EXISTS minhash_bands (
    band INTEGER NOT NULL, article_id TEXT NOT NULL, PRIMARY KEY (band, article_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    at TEXT NOT NULL, source TEXT, level TEXT NOT NULL, kind TEXT NOT NULL, message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_at ON events (at);
CREATE TABLE IF NOT EXISTS backfill (
    source TEXT NOT NULL, unit TEXT NOT NULL, done_at TEXT NOT NULL, articles INTEGER NOT NULL,
    PRIMARY KEY (source, unit)
) WITHOUT ROWID;
"""


BANDS_VERSION = 1  # user_version from which every stored signature has its LSH band keys


def _iso(dt: datetime | None) -> str | None:
    return dt.astimezone(UTC).isoformat() if dt else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass
class SourceState:
    name: str
    url: str | None = None
    status: str = "new"  # new | ok | failing | retired
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    last_fetch: datetime | None = None
    last_unconditional: datetime | None = None
    last_success: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    failing_since: datetime | None = None
    consecutive_failures: int = 0
    entries_seen: int = 0
    articles_published: int = 0
    next_poll_after: datetime | None = None
    moved_to: str | None = None
    last_warning: str | None = None


_DT_FIELDS = {f.name for f in fields(SourceState) if "datetime" in str(f.type)}


class IngestState:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        self._conn.close()

    # -- backfill progress (ingest/backfill.py) --------------------------------------
    def backfilled(self, source: str) -> set[str]:
        """The units (GDELT windows, child sitemaps) of ``source`` a backfill has finished."""
        with self._lock:
            return {r[0] for r in self._conn.execute("SELECT unit FROM backfill WHERE source=?", (source,))}

    def mark_backfilled(self, source: str, unit: str, articles: int, now: datetime) -> None:
        with self._lock:
            self._conn.execute("INSERT OR REPLACE INTO backfill VALUES (?,?,?,?)", (source, unit, _iso(now), articles))

    # -- sources -------------------------------------------------------------------
    def source(self, name: str) -> SourceState:
        with self._lock:
            cur = self._conn.execute("SELECT * FROM sources WHERE name=?", (name,))
            row = cur.fetchone()
            if row is None:
                return SourceState(name=name)
            data = dict(zip([c[0] for c in cur.description], row))
        return SourceState(**{k: (_dt(v) if k in _DT_FIELDS else v) for k, v in data.items()})

    def save_source(self, state: SourceState) -> None:
        data = {k: (_iso(v) if k in _DT_FIELDS else v) for k, v in asdict(state).items()}
        cols = ", ".join(data)
        marks = ", ".join("?" for _ in data)
        updates = ", ".join(f"{k}=excluded.{k}" for k in data if k != "name")
        with self._lock:
            self._conn.execute(
                f"INSERT INTO sources ({cols}) VALUES ({marks}) ON CONFLICT(name) DO UPDATE SET {updates}",
                list(data.values()),
            )

    def sources(self) -> list[SourceState]:
        with self._lock:
            names = [r[0] for r in self._conn.execute("SELECT name FROM sources ORDER BY name")]
        return [self.source(n) for n in names]

    # -- seen URLs -----------------------------------------------------------------
    def seen(self, url: str) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT article_id FROM seen WHERE url=?", (url,)).fetchone()
        return row[0] if row else None

    def mark_seen(self, items: Iterable[tuple[str, str, str, datetime, bytes | None, list[int], datetime]]) -> None:
        """Record (url, article_id, source, published, signature, its LSH band keys, now) in one transaction."""
        items = list(items)
        if not items:
            return
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for url, article_id, source, published, signature, bands, now in items:
                    self._conn.execute(
                        "INSERT OR IGNORE INTO seen VALUES (?,?,?,?)", (url, article_id, source, _iso(now))
                    )
                    if signature is not None:
                        self._conn.execute(
                            "INSERT OR IGNORE INTO minhash VALUES (?,?,?)", (article_id, _iso(published), signature)
                        )
                        self._conn.executemany(
                            "INSERT OR IGNORE INTO minhash_bands VALUES (?,?)", [(b, article_id) for b in bands]
                        )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def band_candidates(self, bands: list[int], since: datetime, until: datetime) -> list[tuple[str, datetime, bytes]]:
        """(article_id, published, signature) of the articles sharing a band key, published in [since, until]."""
        marks = ",".join("?" * len(bands))
        with self._lock:
            rows = self._conn.execute(
                "SELECT m.article_id, m.published, m.signature FROM minhash m WHERE m.article_id IN "
                f"(SELECT article_id FROM minhash_bands WHERE band IN ({marks})) AND m.published BETWEEN ? AND ?",
                [*bands, _iso(since), _iso(until)],
            ).fetchall()
        return [(a, _dt(p), sig) for a, p, sig in rows]  # type: ignore[misc]

    def add_missing_bands(self, bands_of: Callable[[bytes], list[int]]) -> int:
        """Band keys for the signatures stored before the band table existed: once per file (the
        file's ``user_version`` records it, so start-up does not scan the tables again); the
        number of signatures indexed."""
        with self._lock:
            if self._conn.execute("PRAGMA user_version").fetchone()[0] >= BANDS_VERSION:
                return 0
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                rows = self._conn.execute(
                    "SELECT article_id, signature FROM minhash WHERE article_id NOT IN "
                    "(SELECT DISTINCT article_id FROM minhash_bands)"
                ).fetchall()
                self._conn.executemany(
                    "INSERT OR IGNORE INTO minhash_bands VALUES (?,?)",
                    [(b, a) for a, sig in rows for b in bands_of(sig)],
                )
                self._conn.execute(f"PRAGMA user_version = {BANDS_VERSION}")
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return len(rows)

    def seen_count(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT COUNT(*) FROM seen").fetchone()[0]

    # -- events (the visible error log) ---------------------------------------------
    def record(self, source: str | None, level: str, kind: str, message: str, at: datetime) -> None:
        with self._lock:
            self._conn.execute("INSERT INTO events VALUES (?,?,?,?,?)", (_iso(at), source, level, kind, message))

    def events(self, limit: int = 50, source: str | None = None) -> list[dict]:
        q = "SELECT at, source, level, kind, message FROM events"
        args: list = []
        if source:
            q += " WHERE source=?"
            args.append(source)
        q += " ORDER BY at DESC LIMIT ?"
        args.append(limit)
        with self._lock:
            rows = self._conn.execute(q, args).fetchall()
        return [dict(zip(("at", "source", "level", "kind", "message"), r)) for r in rows]
