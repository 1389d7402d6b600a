"""One pass of the whole pipeline (``sinoscope run --once``): ingest every due source, drain
the NLP stage, drain the sink, then detect swings and deliver alerts. Run in Prefect's
ephemeral mode when no Prefect server is configured, so no service is needed."""

from __future__ import annotations

import time

from prefect import flow

from .alerts import alert_task
from .ingest import ingest_flow
from .workers import enrich_task, store_task


@flow(name="pipeline-pass")
def pipeline_flow(
    config: str | None = None, overrides: dict | None = None, sources_file: str | None = None, now: str | None = None
) -> dict:
    timings, t = {}, time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t
        timings[name] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()

    ingest = ingest_flow(config, overrides, sources_file)
    lap("ingest")
    enrich = enrich_task(config, overrides, True)
    lap("enrich")
    store = store_task(config, overrides, True)
    lap("store")
    alerts = alert_task(config, overrides, now)
    lap("alerts")
    return {"ingest": ingest, "enrich": enrich, "store": store, "alerts": alerts, "timings_s": timings}
