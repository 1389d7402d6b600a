"""The ingest flow: one Prefect task per due source, committed in catalogue order.

Each task polls one feed under a per-host global concurrency limit (``ingest-host-<host>``).
Prefect holds such a slot on a lease that the task keeps renewing; if the process running the
task dies, the lease runs out and the server's repossessor frees the slot, so a crashed run
cannot leak it. Timeouts, network errors and 5xx responses raise inside the task so Prefect
retries them with backoff; whatever the last attempt got is committed like any other outcome
(the source's health and backoff record it). Retry-After answers are not retried in-pass:
the server asked us to wait.
"""

from __future__ import annotations

import logging
import re
from contextlib import nullcontext
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.concurrency.sync import concurrency
from prefect.task_runners import ThreadPoolTaskRunner

from ingest.poll import PollResult
from ingest.runner import IngestRunner, IngestSummary, crashed, in_order
from ingest.sources import load_sources
from sinoscope.core.bus import open_bus
from sinoscope.core.errors import RetryableError

from . import progress
from .settings import settings_from

log = logging.getLogger("sinoscope.flows")
WORKERS = 8  # task threads (fetching is network-bound)


class _ThreadTimeoutNotice(logging.Filter):
    """Prefect warns that a timeout cannot interrupt a blocking call in a worker thread. Here
    every request already has its own hard deadline (``ingest.deadline_s``), so the task
    timeout only bounds a source's whole poll (feed plus pages): the notice is expected."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "running in a worker thread" not in record.getMessage()


logging.getLogger("prefect.task_runs").addFilter(_ThreadTimeoutNotice())
LEASE_S = 60  # the shortest lease Prefect grants; renewed while the task runs


class TransientPollError(RetryableError, RuntimeError):
    """A poll worth retrying now; carries the result in case every retry fails too."""

    def __init__(self, result: PollResult) -> None:
        super().__init__(result.error or result.outcome)
        self.result = result


def transient(result: PollResult) -> bool:
    if result.outcome != "failed" or result.retry_after_s is not None:
        return False
    kind = result.error_kind or ""
    return kind in ("timeout", "network") or (kind.startswith("http-5") and kind != "http-501")


def host_limit(url: str) -> str | None:
    """The per-host limit's name; None for a local file (no host to be polite to, and each slot
    costs calls to the Prefect API: the bundled corpus polled 13 files two at a time, ~1 s a pair)."""
    host = urlsplit(url).hostname
    return "ingest-host-" + re.sub(r"[^a-z0-9-]", "-", host.lower()) if host else None


@task(name="poll-source", cache_policy=NO_CACHE, task_run_name="poll {source.name}")
def poll_source_task(runner: IngestRunner, source, state) -> PollResult:
    limit = host_limit(source.url)
    with (
        concurrency(
            limit, occupy=1, lease_duration=LEASE_S, strict=False, timeout_seconds=runner.settings.ingest.task_timeout_s
        )
        if limit
        else nullcontext()
    ):
        result = runner.poll(source, state)
    if transient(result):
        raise TransientPollError(result)
    return result


def ephemeral() -> bool:
    from prefect.settings import get_current_settings

    return not get_current_settings().api.url


def ensure_host_limits(urls: list[str], limit: int) -> None:
    """One global concurrency limit per host (created or resized; idempotent).

    On a Prefect server, a slot whose holder died is freed when its lease expires (the
    server's repossessor). Prefect's ephemeral mode runs no repossessor and keeps leases in
    the memory of the process that died, so its slots would stay taken in the database for
    good: there, where this process is the only user of its Prefect database, slots still
    marked taken at the start of a pass can only be leftovers of a crash and are reclaimed."""
    from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate

    reclaim = ephemeral()
    with get_client(sync_client=True) as client:
        for name in sorted({n for n in map(host_limit, urls) if n}):
            client.upsert_global_concurrency_limit_by_name(name, limit)
            if reclaim and client.read_global_concurrency_limit_by_name(name).active_slots:
                log.warning("reclaiming concurrency slots of %s left by a crashed run", name)
                client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(active_slots=0))


@flow(name="ingest", task_runner=ThreadPoolTaskRunner(max_workers=WORKERS), log_prints=True)
def ingest_flow(
    config: str | None = None, overrides: dict | None = None, sources_file: str | None = None, force: bool = False
) -> dict:
    """Poll every due source once: fetch, extract, de-duplicate, publish to the bus."""
    settings = settings_from(config, overrides)
    sources = load_sources(
        Path(sources_file) if sources_file else settings.ingest.sources_file, settings.ingest.query_entities
    )
    poll = poll_source_task.with_options(
        retries=settings.ingest.task_retries,
        retry_delay_seconds=settings.ingest.task_retry_delays_s,
        timeout_seconds=settings.ingest.task_timeout_s,
    )
    with open_bus(settings) as bus:
        runner = IngestRunner(settings, bus)
        try:
            summary = IngestSummary(sources=len(sources), dead_letter_topic=runner.dlq)
            todo = runner.plan(sources, summary, force)
            progress.emit("sources", total=len(todo), skipped=len(summary.skipped))
            ensure_host_limits([s.url for s, _ in todo], settings.ingest.per_host_concurrency)
            # catalogue order, as the plain runner does
            for fut, src, st in in_order(todo, partial(poll.submit, runner), WORKERS):
                try:
                    result = fut.result()
                except TransientPollError as exc:
                    result = exc.result
                except Exception as exc:  # a bug or a task timeout must not sink the other sources
                    get_run_logger().error("polling %s crashed: %r", src.name, exc)
                    result = crashed(src, exc)
                report = runner.commit(result, st, summary)
                progress.emit("source", name=report.name, outcome=report.outcome, new=report.new, total=len(todo))
            runner.finish(sources, summary)
        finally:
            runner.close()
    return summary.as_dict()
