"""The maintenance flow (daily): retention of the embedded store and bus, and a source health
report (failing and retired feeds, with their last error) in the flow's log and result."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from .settings import settings_from


@task(name="retention", cache_policy=NO_CACHE)
def retention_task(config: str | None, overrides: dict | None) -> dict:
    settings = settings_from(config, overrides)
    out: dict = {}
    from sinks.base import open_store

    with open_store(settings) as store:  # Elasticsearch prunes by its lifecycle policy: None
        pruned = store.prune(datetime.now(UTC) - timedelta(days=settings.sink.retention_days))
    if pruned is not None:
        out["store_pruned"] = pruned
    from sinoscope.core.bus import open_bus

    with open_bus(settings) as bus:  # Kafka prunes by the topic's retention.ms: None
        bus_pruned = bus.prune(settings.sink.bus_retention_days * 86400, keep_topics=(settings.bus.topics.dead_letter,))
    if bus_pruned is not None:
        out["bus_pruned"] = bus_pruned
    return out


@task(name="source-health", cache_policy=NO_CACHE)
def source_health_task(config: str | None, overrides: dict | None) -> dict:
    from ingest.state import IngestState

    settings = settings_from(config, overrides)
    st = IngestState(settings.path("ingest.sqlite"))
    try:
        sources = st.sources()
    finally:
        st.close()
    counts: dict[str, int] = {}
    for s in sources:
        counts[s.status] = counts.get(s.status, 0) + 1
    bad = [
        {
            "name": s.name,
            "status": s.status,
            "url": s.url,
            "error": s.last_error,
            "since": s.failing_since.isoformat() if s.failing_since else None,
        }
        for s in sources
        if s.status in ("failing", "retired")
    ]
    logger = get_run_logger()
    for b in bad:
        logger.warning("source %s is %s since %s: %s", b["name"], b["status"], b["since"], b["error"])
    return {"sources": counts, "unhealthy": bad}


@flow(name="maintenance")
def maintenance_flow(config: str | None = None, overrides: dict | None = None) -> dict:
    return {"retention": retention_task(config, overrides), "health": source_health_task(config, overrides)}
