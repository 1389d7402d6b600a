"""Everything the report shows, as one JSON-able dict (``sinoscope report --json``), taken from
the trend queries themselves so the report and the CLI can never disagree."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from sinks import queries
from sinks.alerts.log import AlertLog
from sinks.store import EmbeddedStore

MODEL_META = Path(__file__).resolve().parents[2] / "nlp" / "models" / "target_sentiment" / "meta.json"


class ReportError(RuntimeError):
    """The report cannot be built; the message says what to do."""


def model_card() -> dict:
    try:
        meta = json.loads(MODEL_META.read_text())
    except (OSError, ValueError):
        return {"name": "unknown"}
    return {"name": meta.get("name"), "encoder": meta.get("encoder"),
            "evaluation": "NewsMTSC rw-test (held out)", "macro_f1": meta.get("rw_test_macro_f1"),
            "accuracy": meta.get("rw_test_accuracy"),
            "other_languages": "lexicon fallback for zh/ja/de/fr/es (README: Evaluation)"}


def gather(settings, catalogue, since: datetime, entity_ids: list[str] | None = None, top_cities: int = 5,
           top_brands: int = 3, stories: int = 5, now: datetime | None = None,
           include_duplicates: bool = False) -> dict:
    if settings.sink.kind != "embedded":
        raise ReportError("the report reads the embedded store; on the stack use the Kibana dashboard "
                          "(sinoscope kibana setup) or run the report on an embedded data directory")
    path = settings.path("store.duckdb")
    if not path.exists():
        raise ReportError(f"no store at {path}: run `sinoscope run --once` first")
    now = now or datetime.now(timezone.utc)
    days = max(1.0, (now - since).total_seconds() / 86400)
    interval = "1d" if days <= 120 else "1w"
    names = {e.id: e.name for e in catalogue.entities.values()}
    by_type = {t: {e.id: e.name for e in catalogue.entities.values() if e.type == t} for t in ("city", "brand")}
    store = EmbeddedStore(path, read_only=True)
    log = AlertLog(settings.path("alerts.sqlite"))
    try:
        conn = store.conn
        rank = queries.rank(conn, by_type["city"], since, "city", now=now, include_duplicates=include_duplicates)
        brand_rank = queries.rank(conn, by_type["brand"], since, "brand", now=now, include_duplicates=include_duplicates)
        chosen = list(entity_ids or [])
        if not chosen:
            chosen = [r["entity_id"] for r in rank["rows"][:top_cities]] + \
                     [r["entity_id"] for r in brand_rank["rows"][:top_brands]]
        fired = log.alerts(since)
        entities = []
        for eid in chosen:
            e = catalogue.entities[eid]
            entities.append({
                "entity_id": eid, "name": e.name, "type": e.type,
                "trend": queries.trend(conn, eid, e.name, since, interval, include_duplicates),
                "alerts": [{k: a[k] for k in ("id", "kind", "fired_at", "window", "baseline", "current", "volume")}
                           for a in fired if a["entity_id"] == eid],
                "positive": queries.stories(conn, eid, since, negative=False, limit=stories,
                                            include_duplicates=include_duplicates)["stories"],
                "negative": queries.stories(conn, eid, since, negative=True, limit=stories,
                                            include_duplicates=include_duplicates)["stories"],
            })
        voice_ids = {r["entity_id"]: r["name"] for r in brand_rank["rows"][:10]}
        return {
            "generated_at": now.isoformat(), "since": since.isoformat(), "until": now.isoformat(),
            "interval": interval, "include_duplicates": include_duplicates,
            "rank": rank, "brand_rank": brand_rank, "entities": entities,
            "share_of_voice": queries.share_of_voice(conn, voice_ids, since, include_duplicates) if voice_ids
            else {"since": since.isoformat(), "total": 0, "entities": []},
            "coverage": {by: queries.coverage(conn, since, by, include_duplicates)["rows"] for by in ("country", "language")},
            "alerts": [{k: a[k] for k in ("id", "entity_id", "name", "kind", "fired_at", "delivered")}
                       for a in fired],
            "totals": queries.totals(conn, since, include_duplicates),
            "model": model_card(),
            "names": {eid: names.get(eid, eid) for eid in chosen},
        }
    finally:
        log.close()
        store.close()
