"""``sinoscope serve``: the flows as Prefect deployments with schedules, run by this process.

- ingest every ``ingest_every_s`` (default 5 minutes), the first pass at start-up;
- alerts every 5 minutes (``alerts_every_s``), the first at start-up; besides, the sink worker runs
  detection for the entities of each batch it writes (``alerts.stream``);
- maintenance daily at 03:17 UTC;
- the digest on ``digest.schedule`` (07:00 UTC daily by default) when it has a webhook or email target;
- the enrich and sink workers every minute with a deployment concurrency limit of one that
  cancels new runs while one is alive: a supervisor that restarts a dead worker within a minute.
With ``PREFECT_API_URL`` set (the stack) the deployments, runs and logs appear in Prefect's UI;
without it `sinoscope serve` starts a local Prefect server (``local_server.py``). SIGTERM
stops serving as Ctrl-C does (``_Runner``).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.runner import Runner
from prefect.schedules import Interval

from .alerts import alerts_flow
from .digest import digest_flow
from .ingest import ingest_flow
from .maintenance import maintenance_flow
from .settings import settings_from
from .workers import enrich_worker_flow, sink_worker_flow

START_DELAY_S = 20  # the deployments are registered by then, even on a loaded machine (a first run
# whose time passed before registration would slip a whole interval)


def deployments(
    config: str | None, overrides: dict, ingest_every_s: float = 300, alerts_every_s: float = 300, workers: bool = True
) -> list:
    params = {"config": config, "overrides": overrides}
    one = ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW)
    # anchored at start-up: the first ingest and alert passes run as soon as serving starts,
    # then every interval (an unanchored interval waits up to a whole interval for its first run)
    start = datetime.now(UTC) + timedelta(seconds=START_DELAY_S)
    out = [
        ingest_flow.to_deployment(
            "sinoscope-ingest",
            schedule=Interval(ingest_every_s, anchor_date=start),
            parameters=params,
            concurrency_limit=one,
        ),
        alerts_flow.to_deployment(
            "sinoscope-alerts",
            schedule=Interval(alerts_every_s, anchor_date=start),
            parameters=params,
            concurrency_limit=one,
        ),
        maintenance_flow.to_deployment(
            "sinoscope-maintenance", cron="17 3 * * *", parameters=params, concurrency_limit=one
        ),
    ]
    s = settings_from(config, overrides)
    webhooks = s.digest.webhooks if s.digest.webhooks is not None else s.alerts.webhooks
    if webhooks or (s.digest.smtp_host and s.digest.email_to):
        out.append(
            digest_flow.to_deployment(
                "sinoscope-digest", cron=s.digest.schedule, parameters=params, concurrency_limit=one
            )
        )
    if workers:
        out += [
            enrich_worker_flow.to_deployment(
                "sinoscope-enrich", schedule=Interval(60, anchor_date=start), parameters=params, concurrency_limit=one
            ),
            sink_worker_flow.to_deployment(
                "sinoscope-sink", schedule=Interval(60, anchor_date=start), parameters=params, concurrency_limit=one
            ),
        ]
    return out


class _Runner(Runner):
    """Prefect's runner, stopped by SIGTERM (``docker compose stop``, systemd) as gracefully as by
    Ctrl-C: Prefect 3.8's own handler calls the runner's ``stop`` from inside its event loop, where
    it returns a coroutine nobody awaits, and exits mid-loop, which printed asyncio tracebacks.
    Here the handler schedules the stop in the loop: flow runs are cancelled (Prefect sends their
    processes SIGTERM; a worker's stage finishes its batch and commits on it) and ``start`` returns."""

    def handle_sigterm(self, *args, **kwargs) -> None:
        self._logger.info("SIGTERM received, stopping")
        self._stopping_task = asyncio.get_running_loop().create_task(self.astop())


def serve_all(config: str | None, overrides: dict, **kw) -> None:
    """``prefect.serve`` with that runner. Schedules stay on when serving stops: the next
    `sinoscope serve` re-registers the same deployments (and pausing them on shutdown raced the
    local server's own shutdown)."""
    served = deployments(config, overrides, **kw)
    runner = _Runner(pause_on_shutdown=False)
    for deployment in served:
        runner.add_deployment(deployment)
    print("deployments: " + ", ".join(d.name for d in served), flush=True)
    try:
        asyncio.run(runner.start())
    except KeyboardInterrupt:
        pass  # Ctrl-C: asyncio.run cancelled the runner, which stopped its flow runs
