"""The alert log: what fired, when, the cooldown per (entity, kind), and an outbox of
deliveries. SQLite in the data directory, committed before anything is sent, so a restart
between detection and delivery neither forgets nor repeats an alert: the next pass sends
what is still pending, with the same alert id and body.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    id TEXT PRIMARY KEY, entity_id TEXT NOT NULL, name TEXT, entity_type TEXT, kind TEXT NOT NULL,
    fired_at TEXT NOT NULL, window_start TEXT, window_end TEXT, body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_entity ON alerts(entity_id, kind, fired_at);
CREATE TABLE IF NOT EXISTS armed (
    entity_id TEXT NOT NULL, kind TEXT NOT NULL, active INTEGER NOT NULL, last_fired TEXT,
    PRIMARY KEY (entity_id, kind)
);
CREATE TABLE IF NOT EXISTS deliveries (
    alert_id TEXT NOT NULL, target TEXT NOT NULL, format TEXT NOT NULL, status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, last_attempt TEXT, next_attempt TEXT,
    delivered_at TEXT, PRIMARY KEY (alert_id, target)
);
"""


CLAIM_S = 300  # how long a pass holds the deliveries it is sending


def _ts(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat()


class AlertLog:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    # -- cooldown and re-arming ---------------------------------------------------------
    def may_fire(self, entity_id: str, kind: str, now: datetime, cooldown_h: float) -> bool:
        row = self.db.execute(
            "SELECT active, last_fired FROM armed WHERE entity_id = ? AND kind = ?", (entity_id, kind)
        ).fetchone()
        if row is None:
            return True
        active, last = row
        if active:
            return False  # this swing already alerted and has not ended
        return last is None or datetime.fromisoformat(last) + timedelta(hours=cooldown_h) <= now

    def rearm(self, entity_id: str, kinds_holding: set[str]) -> None:
        """Conditions that no longer hold end their swing: the next one may alert again."""
        with self._lock:
            self.db.execute(
                f"UPDATE armed SET active = 0 WHERE entity_id = ? AND kind NOT IN ({','.join('?' * len(kinds_holding))})"
                if kinds_holding
                else "UPDATE armed SET active = 0 WHERE entity_id = ?",
                (entity_id, *sorted(kinds_holding)),
            )

    def rearm_all_except(self, holding: dict[str, set[str]], among: set[str] | None = None) -> None:
        """Re-arm every armed entity (or those ``among`` the ones just evaluated) whose swings no
        longer hold."""
        for (eid,) in self.db.execute("SELECT DISTINCT entity_id FROM armed WHERE active = 1").fetchall():
            if among is None or eid in among:
                self.rearm(eid, holding.get(eid, set()))

    def record(self, alert: dict, kinds: list[str], targets: list[tuple[str, str]], now: datetime) -> bool:
        """Store a fired alert, mark its kinds active and queue one delivery per target, in one
        transaction. False if an alert with this id exists already."""
        with self._lock:
            try:
                self.db.execute("BEGIN IMMEDIATE")
                cur = self.db.execute(
                    "INSERT OR IGNORE INTO alerts VALUES (?,?,?,?,?,?,?,?,?)",
                    (
                        alert["id"],
                        alert["entity_id"],
                        alert["name"],
                        alert.get("type"),
                        alert["kind"],
                        alert["fired_at"],
                        alert["window"]["start"],
                        alert["window"]["end"],
                        json.dumps(alert, ensure_ascii=False, sort_keys=True),
                    ),
                )
                if cur.rowcount == 0:
                    self.db.execute("ROLLBACK")
                    return False
                for kind in kinds:
                    self.db.execute(
                        "INSERT INTO armed VALUES (?,?,1,?) ON CONFLICT (entity_id, kind) "
                        "DO UPDATE SET active = 1, last_fired = excluded.last_fired",
                        (alert["entity_id"], kind, _ts(now)),
                    )
                for url, fmt in targets:
                    self.db.execute(
                        "INSERT OR IGNORE INTO deliveries (alert_id, target, format, status, next_attempt) "
                        "VALUES (?,?,?,'pending',?)",
                        (alert["id"], url, fmt, _ts(now)),
                    )
                self.db.execute("COMMIT")
                return True
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

    # -- the outbox -----------------------------------------------------------------------
    def pending(self, now: datetime, lease_s: float = CLAIM_S) -> list[dict]:
        """The deliveries due now, claimed for ``lease_s``: a pass running beside this one (the
        sink worker's streaming pass and the scheduled one) does not send them too. A pass that
        dies holding a claim leaves them due again when it runs out."""
        with self._lock:
            try:
                self.db.execute("BEGIN IMMEDIATE")
                rows = self.db.execute(
                    "SELECT d.alert_id, d.target, d.format, d.attempts, a.body, a.fired_at FROM deliveries d "
                    "JOIN alerts a ON a.id = d.alert_id WHERE d.status = 'pending' "
                    "AND (d.next_attempt IS NULL OR d.next_attempt <= ?) ORDER BY a.fired_at, d.alert_id, d.target",
                    (_ts(now),),
                ).fetchall()
                self.db.executemany(
                    "UPDATE deliveries SET next_attempt = ? WHERE alert_id = ? AND target = ?",
                    [(_ts(now + timedelta(seconds=lease_s)), a, t) for a, t, *_ in rows],
                )
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        return [
            {"alert_id": a, "target": t, "format": f, "attempts": n, "body": json.loads(b), "fired_at": fa}
            for a, t, f, n, b, fa in rows
        ]

    def delivered(self, alert_id: str, target: str, attempts: int, now: datetime) -> None:
        with self._lock:
            self.db.execute(
                "UPDATE deliveries SET status = 'delivered', attempts = attempts + ?, delivered_at = ?, "
                "last_attempt = ?, last_error = NULL WHERE alert_id = ? AND target = ?",
                (attempts, _ts(now), _ts(now), alert_id, target),
            )

    def failed(
        self, alert_id: str, target: str, attempts: int, error: str, now: datetime, retry_at: datetime | None
    ) -> None:
        """A delivery that failed this pass: retried at ``retry_at``, or given up (``None``)."""
        with self._lock:
            self.db.execute(
                "UPDATE deliveries SET status = ?, attempts = attempts + ?, last_error = ?, last_attempt = ?, "
                "next_attempt = ? WHERE alert_id = ? AND target = ?",
                (
                    "pending" if retry_at else "failed",
                    attempts,
                    error[:500],
                    _ts(now),
                    _ts(retry_at) if retry_at else None,
                    alert_id,
                    target,
                ),
            )

    # -- history --------------------------------------------------------------------------
    def alerts(self, since: datetime | None = None, entity_id: str | None = None) -> list[dict]:
        q = (
            "SELECT a.id, a.entity_id, a.name, a.entity_type, a.kind, a.fired_at, a.window_start, a.window_end, a.body, "
            "count(d.target), count(d.target) FILTER (WHERE d.status = 'delivered'), "
            "count(d.target) FILTER (WHERE d.status = 'failed') "
            "FROM alerts a LEFT JOIN deliveries d ON d.alert_id = a.id WHERE 1=1"
        )
        args: list = []
        if since is not None:
            q += " AND a.fired_at >= ?"
            args.append(_ts(since))
        if entity_id is not None:
            q += " AND a.entity_id = ?"
            args.append(entity_id)
        q += " GROUP BY a.id ORDER BY a.fired_at DESC, a.id"
        out = []
        for aid, eid, name, etype, kind, fired, ws, we, body, n, ok, bad in self.db.execute(q, args).fetchall():
            b = json.loads(body)
            out.append(
                {
                    "id": aid,
                    "entity_id": eid,
                    "name": name,
                    "type": etype,
                    "kind": kind,
                    "fired_at": fired,
                    "delivered": n > 0 and ok == n,
                    "deliveries": {"targets": n, "delivered": ok, "failed": bad, "pending": n - ok - bad},
                    "window": {"start": ws, "end": we},
                    "baseline": b.get("baseline"),
                    "current": b.get("current"),
                    "volume": b.get("volume"),
                }
            )
        return out

    def deliveries(self, alert_id: str | None = None) -> list[dict]:
        q = "SELECT alert_id, target, format, status, attempts, last_error, last_attempt, delivered_at FROM deliveries"
        rows = self.db.execute(
            q + (" WHERE alert_id = ?" if alert_id else "") + " ORDER BY alert_id, target",
            (alert_id,) if alert_id else (),
        ).fetchall()
        keys = ("alert_id", "target", "format", "status", "attempts", "last_error", "last_attempt", "delivered_at")
        return [dict(zip(keys, r)) for r in rows]
