"""The enrich and sink stages under Prefect.

As a pass (``until_idle``), a stage drains its topic and returns. As a worker, it runs until
stopped; Prefect supervises it: the flow has retries, so a worker that crashes is restarted
after a pause, and ``sinoscope serve`` schedules each worker deployment every minute with a
concurrency limit of one (new runs are cancelled while one is alive), so a worker whose whole
process died is started again within a minute. On the stack, scale out by running more
workers: they share the topic's partitions as one Kafka consumer group.
"""

from __future__ import annotations

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from nlp.stage import enrich_pass
from sinks.alerts.run import alert_pass
from sinks.stage import store_pass

from . import progress
from .settings import settings_from


@task(name="enrich", cache_policy=NO_CACHE)
def enrich_task(config: str | None, overrides: dict | None, until_idle: bool = True) -> dict:
    settings = settings_from(config, overrides)
    return enrich_pass(
        settings,
        until_idle=until_idle,
        signals=not until_idle,
        on_batch=lambda st: progress.emit("enrich", enriched=st.outputs),
    )


@task(name="store", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[5, 30])
def store_task(config: str | None, overrides: dict | None, until_idle: bool = True, upstream_done=None) -> dict:
    """``upstream_done``: in a pass, says when the enrich stage running alongside has finished.
    Retried: a store that is briefly down (or busy) gets another chance; nothing was committed.
    As a worker (``serve``), each batch written is followed at once by swing detection for the
    entities it touched (``alerts.stream``): an alert does not wait for the next scheduled pass."""
    settings = settings_from(config, overrides)
    stream = None
    if not until_idle and settings.alerts.stream:

        def stream(entity_ids: set[str]) -> None:
            alert_pass(settings, entity_ids=entity_ids)

    return store_pass(
        settings, until_idle=until_idle, signals=not until_idle, on_written=stream, upstream_done=upstream_done
    )


@flow(name="enrich-worker", retries=1000, retry_delay_seconds=30)
def enrich_worker_flow(config: str | None = None, overrides: dict | None = None, until_idle: bool = False) -> dict:
    """The NLP stage: articles in, articles with mentions and sentiment out."""
    return enrich_task(config, overrides, until_idle)


@flow(name="sink-worker", retries=1000, retry_delay_seconds=30)
def sink_worker_flow(config: str | None = None, overrides: dict | None = None, until_idle: bool = False) -> dict:
    """The sink stage: enriched articles into the store (DuckDB or Elasticsearch)."""
    return store_task(config, overrides, until_idle)
