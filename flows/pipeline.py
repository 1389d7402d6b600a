"""One pass of the whole pipeline (``sinoscope run --once``): ingest every due source, drain
the NLP stage, drain the sink, then detect swings and deliver alerts. Run in Prefect's
ephemeral mode when no Prefect server is configured, so no service is needed."""

from __future__ import annotations

from prefect import flow

from .alerts import alert_task
from .ingest import ingest_flow
from .workers import enrich_task, store_task


@flow(name="pipeline-pass")
def pipeline_flow(
    config: str | None = None, overrides: dict | None = None, sources_file: str | None = None, now: str | None = None
) -> dict:
    ingest = ingest_flow(config, overrides, sources_file)
    enrich = enrich_task(config, overrides, True)
    store = store_task(config, overrides, True)
    alerts = alert_task(config, overrides, now)
    return {"ingest": ingest, "enrich": enrich, "store": store, "alerts": alerts}
