"""The embedded bus: a durable, partitioned log in one SQLite file.

Why SQLite: a transaction in WAL mode with ``synchronous=FULL`` is on disk when ``commit``
returns, so a process killed with SIGKILL loses nothing that ``flush`` acknowledged, and
committed consumer-group offsets live in the same file. It serves one machine; several
processes may publish, and each consumer group is read by one consumer at a time (every
partition is assigned to it). Kafka replaces it when one machine is not enough.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .base import Bus, BusError, Consumer, Record, TopicStats, next_offsets

_SCHEMA = """
CREATE TABLE IF NOT EXISTS topics (name TEXT PRIMARY KEY, partitions INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL,
    key TEXT, value BLOB NOT NULL, ts REAL NOT NULL, headers TEXT, dedup_id TEXT,
    PRIMARY KEY (topic, partition, offset)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS messages_dedup ON messages (topic, dedup_id)
    WHERE dedup_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS group_offsets (
    grp TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL, updated REAL NOT NULL,
    PRIMARY KEY (grp, topic, partition)
) WITHOUT ROWID;
"""


def partition_for(key: str | None, partitions: int, fallback: int = 0) -> int:
    """Stable key → partition (crc32; any stable hash keeps per-key order)."""
    if key is None:
        return fallback % partitions
    return zlib.crc32(key.encode("utf-8")) % partitions


class EmbeddedBus(Bus):
    def __init__(self, path: Path, partitions: int = 4) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.default_partitions = partitions
        self._lock = threading.RLock()
        self._conn = _connect(self.path)
        self._conn.executescript(_SCHEMA)
        self._pending: list[tuple] = []
        self._round_robin = 0

    # -- producing -----------------------------------------------------------------
    def ensure_topic(self, topic: str, partitions: int | None = None) -> int:
        with self._lock:
            row = self._conn.execute("SELECT partitions FROM topics WHERE name=?", (topic,)).fetchone()
            if row:
                return row[0]
            n = partitions or self.default_partitions
            self._conn.execute("INSERT OR IGNORE INTO topics VALUES (?, ?)", (topic, n))
            return self.ensure_topic(topic)

    def publish(self, topic, key, value, *, headers=None, dedup_id=None) -> None:
        if not isinstance(value, (bytes, bytearray)):
            raise TypeError("bus values are bytes; encode the message first")
        with self._lock:
            self._pending.append((topic, key, bytes(value), headers, dedup_id, time.time()))

    def flush(self) -> None:
        with self._lock:
            if not self._pending:
                return
            pending, self._pending = self._pending, []
            try:
                sizes = {t: self.ensure_topic(t) for t in {p[0] for p in pending}}
                with _write(self._conn):  # one durable transaction for the whole batch
                    ends: dict[tuple[str, int], int] = {}
                    for topic, key, value, headers, dedup_id, ts in pending:
                        n = sizes[topic]
                        self._round_robin += 1
                        part = partition_for(key, n, self._round_robin)
                        if (
                            dedup_id is not None
                            and self._conn.execute(
                                "SELECT 1 FROM messages WHERE topic=? AND dedup_id=?", (topic, dedup_id)
                            ).fetchone()
                        ):
                            continue
                        if (topic, part) not in ends:
                            row = self._conn.execute(
                                "SELECT COALESCE(MAX(offset) + 1, 0) FROM messages WHERE topic=? AND partition=?",
                                (topic, part),
                            ).fetchone()
                            ends[(topic, part)] = row[0]
                        offset = ends[(topic, part)]
                        ends[(topic, part)] = offset + 1
                        self._conn.execute(
                            "INSERT INTO messages VALUES (?,?,?,?,?,?,?,?)",
                            (topic, part, offset, key, value, ts, json.dumps(headers) if headers else None, dedup_id),
                        )
            except sqlite3.Error as exc:
                self._pending = pending + self._pending  # keep them: nothing is lost
                raise BusError(f"embedded bus {self.path}: could not write: {exc}") from exc

    def prune(self, older_than_s: float, keep_topics: tuple[str, ...] = ()) -> int:
        """Retention: delete messages older than ``older_than_s`` that every consumer group of
        their topic has committed past. The newest message of each partition stays, so offsets
        keep counting up; topics in ``keep_topics`` (dead letters) are left alone."""
        cutoff = time.time() - older_than_s
        deleted = 0
        with self._lock, _write(self._conn):
            for (topic,) in self._conn.execute("SELECT name FROM topics").fetchall():
                if topic in keep_topics:
                    continue
                groups = [g for g, t in self.groups() if t == topic]
                for (part,) in self._conn.execute(
                    "SELECT DISTINCT partition FROM messages WHERE topic=?", (topic,)
                ).fetchall():
                    limit = self._conn.execute(
                        "SELECT MAX(offset) FROM messages WHERE topic=? AND partition=?", (topic, part)
                    ).fetchone()[0]
                    for g in groups:
                        limit = min(limit, self.committed(g, topic).get(part, 0))
                    if not groups:
                        continue  # nobody has read it yet: keep everything
                    deleted += self._conn.execute(
                        "DELETE FROM messages WHERE topic=? AND partition=? AND offset < ? AND ts < ?",
                        (topic, part, limit, cutoff),
                    ).rowcount
        return deleted

    # -- consuming -----------------------------------------------------------------
    def consumer(self, group: str, topics: list[str]) -> Consumer:
        for t in topics:
            self.ensure_topic(t)
        return EmbeddedConsumer(self, group, topics)

    def topics(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._conn.execute("SELECT name FROM topics ORDER BY name")]

    def stats(self, topic: str) -> TopicStats | None:
        with self._lock:
            row = self._conn.execute("SELECT partitions FROM topics WHERE name=?", (topic,)).fetchone()
            if not row:
                return None
            ends = {p: 0 for p in range(row[0])}
            total = 0
            for part, end, count in self._conn.execute(
                "SELECT partition, MAX(offset) + 1, COUNT(*) FROM messages WHERE topic=? GROUP BY partition",
                (topic,),
            ):
                ends[part] = end
                total += count
            return TopicStats(topic, row[0], total, ends)

    def committed(self, group: str, topic: str) -> dict[int, int]:
        with self._lock:
            return {
                p: o
                for p, o in self._conn.execute(
                    "SELECT partition, next_offset FROM group_offsets WHERE grp=? AND topic=?",
                    (group, topic),
                )
            }

    def groups(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._conn.execute("SELECT DISTINCT grp, topic FROM group_offsets ORDER BY 1, 2"))

    def group_lag(self, group: str, topic: str) -> dict[int, int]:
        stats = self.stats(topic)
        if stats is None:
            return {}
        done = self.committed(group, topic)
        return {p: max(0, end - done.get(p, 0)) for p, end in stats.end_offsets.items()}

    def _fetch(self, topic: str, positions: dict[int, int], limit: int) -> list[Record]:
        out: list[Record] = []
        with self._lock:
            for part, pos in sorted(positions.items()):
                if len(out) >= limit:
                    break
                rows = self._conn.execute(
                    "SELECT offset, key, value, ts, headers FROM messages "
                    "WHERE topic=? AND partition=? AND offset>=? ORDER BY offset LIMIT ?",
                    (topic, part, pos, limit - len(out)),
                ).fetchall()
                for offset, key, value, ts, headers in rows:
                    out.append(Record(topic, part, offset, key, value, ts, json.loads(headers) if headers else {}))
        return out

    def _commit(self, group: str, offsets: dict[tuple[str, int], int]) -> None:
        now = time.time()
        with self._lock:
            try:
                with _write(self._conn):
                    self._conn.executemany(
                        "INSERT INTO group_offsets VALUES (?,?,?,?,?) ON CONFLICT (grp, topic, partition) "
                        "DO UPDATE SET next_offset=MAX(next_offset, excluded.next_offset), updated=excluded.updated",
                        [(group, t, p, o, now) for (t, p), o in offsets.items()],
                    )
            except sqlite3.Error as exc:
                raise BusError(f"embedded bus {self.path}: could not commit offsets: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            if self._pending:
                self.flush()
            self._conn.close()


class EmbeddedConsumer(Consumer):
    def __init__(self, bus: EmbeddedBus, group: str, topics: list[str]) -> None:
        self.bus, self.group, self.topics = bus, group, list(topics)
        self._positions: dict[str, dict[int, int]] = {}
        for t in self.topics:
            n = bus.ensure_topic(t)
            done = bus.committed(group, t)
            self._positions[t] = {p: done.get(p, 0) for p in range(n)}
        self._uncommitted: dict[tuple[str, int], int] = {}

    def poll(self, max_records: int = 500, timeout_s: float = 1.0) -> list[Record]:
        deadline = time.monotonic() + timeout_s
        while True:
            out: list[Record] = []
            for t in self.topics:
                out.extend(self.bus._fetch(t, self._positions[t], max_records - len(out)))
                if len(out) >= max_records:
                    break
            if out or time.monotonic() >= deadline:
                for (t, p), o in next_offsets(out).items():
                    self._positions[t][p] = o
                    self._uncommitted[(t, p)] = o
                return out
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))

    def commit(self, records: Iterable[Record] | None = None) -> None:
        if records is None:
            offsets, self._uncommitted = self._uncommitted, {}
        else:
            offsets = next_offsets(records)
        if offsets:
            self.bus._commit(self.group, offsets)

    def close(self) -> None:
        self._uncommitted = {}


def _connect(path: Path) -> sqlite3.Connection:
    """Autocommit connection; writes go through ``_write`` (explicit BEGIN IMMEDIATE)."""
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


@contextmanager
def _write(conn: sqlite3.Connection) -> Iterator[None]:
    """A write transaction that takes the write lock up front, so that two processes
    computing the next offset can never interleave."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
