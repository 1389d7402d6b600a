"""One pass of the whole pipeline (``sinoscope run --once``): ingest every due source, run the
NLP stage with the sink consuming what it publishes as it goes, then detect swings and deliver alerts.

The sink overlaps the NLP stage (its DuckDB writes and JSON run while the model computes, which
releases the GIL) and drains its topic once the NLP stage has finished (``Stage.run``'s
``upstream_done``). Ingest is not overlapped: in one process its parsing and the tagger's Python
contend for the GIL, and the NLP stage ran at a third of its speed while ingest ran (10,000
articles: no faster end to end, ingest 50% slower). Run in Prefect's ephemeral mode when no Prefect
server is configured, so no service is needed."""

from __future__ import annotations

import threading
import time

from prefect import flow

from .alerts import alert_task
from .ingest import ingest_flow
from .workers import enrich_task, store_task


@flow(name="pipeline-pass")
def pipeline_flow(
    config: str | None = None, overrides: dict | None = None, sources_file: str | None = None, now: str | None = None
) -> dict:
    """``timings_s``: the seconds each stage added to the pass (the sink's from the end of the NLP
    stage, which it overlaps)."""
    timings, t = {}, time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t
        timings[name] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()

    ingest = ingest_flow(config, overrides, sources_file)
    lap("ingest")
    enriched = threading.Event()
    store_run = store_task.submit(config, overrides, True, enriched.is_set)
    try:
        enrich = enrich_task(config, overrides, True)
    finally:
        enriched.set()  # a failed NLP stage never leaves the sink waiting for it
    lap("enrich")
    store = store_run.result()
    lap("store")
    alerts = alert_task(config, overrides, now)
    lap("alerts")
    return {"ingest": ingest, "enrich": enrich, "store": store, "alerts": alerts, "timings_s": timings}
