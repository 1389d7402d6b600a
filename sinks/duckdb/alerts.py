"""Alert figures from the embedded DuckDB store (the alert log itself is the history there):
the window and baseline figures swing detection (``sinks/alerts/swings.py``) compares."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from ..alerts.swings import EntityStats, Thresholds, Window, periods
from ..query import EXCLUDED_SENSES, Queries
from .queries import DuckDBBackend


def stats(conn, now: datetime, t: Thresholds, entity_ids: list[str] | None = None) -> list[EntityStats]:
    """Window and baseline figures for every entity with mentions in the window (DuckDB store).
    Syndicated copies count as mentions (each is coverage) but once as a story."""
    b0, w0, w1 = periods(now, t)
    return _from_rows(
        conn.execute(
            "SELECT entity_id, any_value(entity_type), published >= ? AS cur, "
            "strftime(published AT TIME ZONE 'UTC', '%Y-%m-%d') AS day, count(*), "
            "sum(entity_score), sum(entity_score * entity_score), count(entity_score) "
            "FROM mentions WHERE published >= ? AND published <= ? "
            "AND (sense IS NULL OR sense NOT IN (SELECT unnest(?::VARCHAR[]))) "
            "AND entity_id IN (SELECT DISTINCT entity_id FROM mentions WHERE published >= ? AND published <= ?) "
            + ("AND entity_id IN (SELECT unnest(?)) " if entity_ids else "")
            + "GROUP BY ALL",
            [w0, b0, w1, list(EXCLUDED_SENSES), w0, w1] + ([entity_ids] if entity_ids else []),
        ).fetchall(),
        conn,
        w0,
        w1,
    )


def _from_rows(rows, conn, w0: datetime, w1: datetime) -> list[EntityStats]:
    by: dict[str, EntityStats] = {}
    for eid, etype, cur, day, n, s, ss, scored in rows:
        st = by.setdefault(eid, EntityStats(eid, etype, Window(), Window()))
        w = st.current if cur else st.baseline
        w.mentions += n
        w.sentiment_sum += s or 0.0
        w.sentiment_sumsq += ss or 0.0
        w.scored += scored
        w.days[day] = w.days.get(day, 0) + n
    # stories are distinct across the whole window, not per day
    if by:
        for eid, n in conn.execute(
            "SELECT entity_id, count(DISTINCT coalesce(duplicate_of, article_id)) FROM mentions "
            "WHERE published >= ? AND published <= ? AND entity_id IN (SELECT unnest(?)) "
            "AND (sense IS NULL OR sense NOT IN (SELECT unnest(?::VARCHAR[]))) GROUP BY entity_id",
            [w0, w1, list(by), list(EXCLUDED_SENSES)],
        ).fetchall():
            by[eid].current.stories = n
    return sorted(by.values(), key=lambda s: s.entity_id)


class DuckDBAlerts:
    def __init__(self, path: Path, log_path: Path | None = None) -> None:
        self.backend = DuckDBBackend.open(path)
        self.queries = Queries(self.backend)
        self.log_path = log_path or Path(path).with_name("alerts.sqlite")

    def close(self) -> None:
        self.backend.close()

    def stats(self, now: datetime, t: Thresholds, entity_ids: list[str] | None = None) -> list[EntityStats]:
        return stats(self.backend.conn, now, t, entity_ids)

    def stories(self, entity_id: str, since: datetime, until: datetime, negative: bool, limit: int = 5) -> list[dict]:
        return self.queries.stories(
            entity_id, since, negative=negative, limit=limit, until=until, include_duplicates=True
        )["stories"]

    def record_alert(self, alert: dict) -> None:
        """Nothing to add: on the embedded default the alert log in the data directory is the history."""

    def alerts(self, since: datetime | None = None) -> list[dict]:
        """The alerts fired since ``since``, from the alert log (the history here)."""
        from ..alerts.log import AlertLog

        log = AlertLog(self.log_path)
        try:
            return log.alerts(since)
        finally:
            log.close()
