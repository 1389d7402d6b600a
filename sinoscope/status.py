"""``sinoscope status``: one screen for a person checking on a running monitor. Each part is
gathered on its own, so a store or broker that is down shows as such instead of hiding the rest."""

from __future__ import annotations

from datetime import UTC, datetime

from .core.redact import redact
from .core.settings import Settings

STAGES = (("nlp", "nlp-enrich", "articles"), ("sink", "sink-store", "enriched"))


def _safe(fn):
    try:
        return fn()
    except Exception as exc:  # shown to the user, with what is at fault
        return {"error": f"{type(exc).__name__}: {exc}"}


def sources(settings: Settings) -> dict:
    from ingest.health import source_health

    return source_health(settings.path("ingest.sqlite"))


def topics_overview(bus) -> list[dict]:
    """Each topic: partitions, messages and the lag of every consumer group that reads it."""
    pairs = bus.groups()
    out = []
    for name in bus.topics():
        s = bus.stats(name)
        lag = {grp: sum(bus.group_lag(grp, name).values()) for grp, topic in pairs if topic == name}
        out.append(
            {"topic": name, "partitions": s.partitions if s else 0, "messages": s.messages if s else 0, "lag": lag}
        )
    return out


def bus(settings: Settings) -> dict:
    from .core.bus import open_bus

    with open_bus(settings) as b:
        topics = topics_overview(b)
        names = {t["topic"] for t in topics}
        stages = []
        for stage, group, key in STAGES:
            topic = getattr(settings.bus.topics, key)
            lag = sum(b.group_lag(group, topic).values()) if topic in names else 0
            stages.append({"stage": stage, "group": group, "topic": topic, "lag": lag})
    dlq = settings.bus.topics.dead_letter
    embedded = settings.bus.kind == "embedded"
    bus = f"embedded bus {settings.path('bus.sqlite')}" if embedded else f"Kafka cluster at {settings.bus.bootstrap}"
    where = f"topic '{dlq}' on the {bus}; read them with: sinoscope bus peek {dlq} --json"
    return {
        "topics": topics,
        "stages": stages,
        "dead_letters": next((t["messages"] for t in topics if t["topic"] == dlq), 0),
        "dead_letters_where": where,
    }


def recent(settings: Settings, now: datetime) -> dict:
    """Articles stored in the last hour and day (by fetch time) and their mentions."""
    from sinks.query import open_queries

    queries = open_queries(settings)
    try:
        return queries.recent(now)
    finally:
        queries.close()


def last_alert(settings: Settings) -> dict | None:
    from sinks.alerts.log import AlertLog

    path = settings.path("alerts.sqlite")
    if not path.exists():
        return None
    log = AlertLog(path)
    try:
        rows = log.alerts()
        statuses = [d["status"] for d in log.deliveries()]
        pending, failed = statuses.count("pending"), statuses.count("failed")
    finally:
        log.close()
    if not rows:
        return {"last": None, "total": 0, "deliveries_pending": pending, "deliveries_failed": failed}
    a = rows[0]
    return {
        "last": {k: a[k] for k in ("id", "entity_id", "name", "kind", "fired_at", "delivered", "deliveries")},
        "total": len(rows),
        "deliveries_pending": pending,
        "deliveries_failed": failed,
    }


def stores(settings: Settings) -> dict:
    s = settings.sink
    return {
        "data_dir": str(settings.data_dir),
        "bus": f"embedded {settings.path('bus.sqlite')}"
        if settings.bus.kind == "embedded"
        else f"kafka {settings.bus.bootstrap}",
        "results": f"embedded {settings.path('store.duckdb')}"
        if s.kind == "embedded"
        else f"elasticsearch {redact(s.es_url)} (indices {s.es_index_prefix}-*)",
        "feed_state": str(settings.path("ingest.sqlite")),
        "alert_log": str(settings.path("alerts.sqlite")),
    }


def gather(settings: Settings, now: datetime | None = None) -> dict:
    """One dict: the parts at the top level (a part that failed says so under its own key)."""
    now = now or datetime.now(UTC)
    out: dict = {
        "at": now.isoformat(),
        "data_dir": str(settings.data_dir),
        "bus": settings.bus.kind,
        "bootstrap": settings.bus.bootstrap if settings.bus.kind == "kafka" else None,
        "stores": stores(settings),
    }
    src = _safe(lambda: sources(settings))
    out.update(src if "error" not in src else {"sources": src, "source_health": [], "flagged_sources": []})
    b = _safe(lambda: bus(settings))
    out.update(
        b
        if "error" not in b
        else {"topics": [], "stages": [], "dead_letters": None, "bus_error": b["error"], "dead_letters_where": None}
    )
    out["recent"] = _safe(lambda: recent(settings, now))
    out["alerts"] = _safe(lambda: last_alert(settings))
    return out
