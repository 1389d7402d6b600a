"""Alert figures from the embedded DuckDB store (the alert log itself is the history there)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sinks import queries
from sinks.store import EmbeddedStore

from . import swings


class EmbeddedAlerts:
    def __init__(self, path: Path) -> None:
        self.store = EmbeddedStore(path, read_only=True)

    def close(self) -> None:
        self.store.close()

    def stats(self, now: datetime, t: swings.Thresholds) -> list[swings.EntityStats]:
        return swings.embedded_stats(self.store.conn, now, t)

    def stories(self, entity_id: str, since: datetime, until: datetime, negative: bool, limit: int = 5) -> list[dict]:
        return queries.stories(self.store.conn, entity_id, since, negative=negative, limit=limit, until=until,
                               include_duplicates=True)["stories"]

    def record_alert(self, alert: dict) -> None:
        """Nothing to add: on the embedded default the alert log in the data directory is the history."""
