"""Everything the report shows, as one JSON-able dict (``sinoscope report --json``), taken from
the trend queries themselves so the report and the CLI can never disagree."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from sinks.base import StoreError
from sinks.query import open_queries
from sinoscope.core.errors import SinoscopeError

MODEL_META = Path(__file__).resolve().parents[2] / "nlp" / "models" / "target_sentiment" / "meta.json"


class ReportError(SinoscopeError, RuntimeError):
    """The report cannot be built; the message says what to do."""


def model_card() -> dict:
    try:
        meta = json.loads(MODEL_META.read_text())
    except (OSError, ValueError):
        return {"name": "unknown"}
    return {
        "name": meta.get("name"),
        "encoder": meta.get("encoder"),
        "evaluation": "NewsMTSC rw-test (held out)",
        "macro_f1": meta.get("rw_test_macro_f1"),
        "accuracy": meta.get("rw_test_accuracy"),
        "other_languages": "lexicon fallback for zh/ja/de/fr/es (docs/evaluation.md)",
    }


def fired_alerts(settings, since: datetime) -> list[dict]:
    """The alerts of the period: from the alert log here, or on the stack from the alerts index
    (the scheduler's log is in its own container)."""
    from sinks.alerts.run import alert_figures

    alerts = alert_figures(settings)
    try:
        return alerts.alerts(since)
    finally:
        alerts.close()


def gather(settings, catalogue, since: datetime, entity_ids: list[str] | None = None, **kwargs) -> dict:
    """The report's data from the configured store (embedded, or Elasticsearch on the stack)."""
    try:
        return _gather(settings, catalogue, since, entity_ids, **kwargs)
    except StoreError as exc:
        raise ReportError(
            f"{exc.where or 'the store'} did not answer the report's queries: {exc}; is it up (sinoscope status)?"
        ) from exc


def _gather(
    settings,
    catalogue,
    since: datetime,
    entity_ids: list[str] | None = None,
    top_cities: int = 5,
    top_brands: int = 3,
    stories: int = 5,
    now: datetime | None = None,
    include_duplicates: bool = False,
) -> dict:
    if settings.sink.kind == "embedded" and not settings.path("store.duckdb").exists():
        raise ReportError(f"no store at {settings.path('store.duckdb')}: run `sinoscope run --once` first")
    now = now or datetime.now(UTC)
    days = max(1.0, (now - since).total_seconds() / 86400)
    interval = "1d" if days <= 120 else "1w"
    names = {e.id: e.name for e in catalogue.entities.values()}
    by_type = {t: {e.id: e.name for e in catalogue.entities.values() if e.type == t} for t in ("city", "brand")}
    fired = fired_alerts(settings, since)
    q = open_queries(settings)
    try:
        rank = q.rank(by_type["city"], since, "city", now=now, include_duplicates=include_duplicates)
        brand_rank = q.rank(by_type["brand"], since, "brand", now=now, include_duplicates=include_duplicates)
        chosen = list(entity_ids or [])
        if not chosen:
            chosen = [r["entity_id"] for r in rank["rows"][:top_cities]] + [
                r["entity_id"] for r in brand_rank["rows"][:top_brands]
            ]
        entities = []
        for eid in chosen:
            e = catalogue.entities[eid]
            entities.append(
                {
                    "entity_id": eid,
                    "name": e.name,
                    "type": e.type,
                    "trend": q.trend(eid, e.name, since, interval, include_duplicates, until=now),
                    "alerts": [
                        {k: a[k] for k in ("id", "kind", "fired_at", "window", "baseline", "current", "volume")}
                        for a in fired
                        if a["entity_id"] == eid
                    ],
                    "positive": q.stories(
                        eid, since, negative=False, limit=stories, include_duplicates=include_duplicates
                    )["stories"],
                    "negative": q.stories(
                        eid, since, negative=True, limit=stories, include_duplicates=include_duplicates
                    )["stories"],
                }
            )
        voice_ids = {r["entity_id"]: r["name"] for r in brand_rank["rows"][:10]}
        return {
            "generated_at": now.isoformat(),
            "since": since.isoformat(),
            "until": now.isoformat(),
            "interval": interval,
            "include_duplicates": include_duplicates,
            "rank": rank,
            "brand_rank": brand_rank,
            "entities": entities,
            "share_of_voice": q.share_of_voice(voice_ids, since, include_duplicates)
            if voice_ids
            else {"since": since.isoformat(), "total": 0, "entities": []},
            "coverage": {by: q.coverage(since, by, include_duplicates)["rows"] for by in ("country", "language")},
            "alerts": [{k: a[k] for k in ("id", "entity_id", "name", "kind", "fired_at", "delivered")} for a in fired],
            "totals": q.totals(since, include_duplicates),
            "gaps": q.gaps(since, now),
            "model": model_card(),
            "names": {eid: names.get(eid, eid) for eid in chosen},
        }
    finally:
        q.close()
