"""The alert flow: swing detection over the store, then delivery of every pending webhook
(new alerts and ones that failed before). Scheduled every 5 minutes by ``sinoscope serve``.

Webhook targets are not a parameter: a Slack URL is a credential, and flow parameters are stored
in Prefect's database and shown in its UI. They come from the settings (the environment)."""

from __future__ import annotations

from datetime import datetime

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from sinks.alerts.run import alert_pass

from .settings import settings_from


@task(name="detect-and-deliver", cache_policy=NO_CACHE)
def alert_task(config: str | None, overrides: dict | None, now: str | None = None, detect: bool = True) -> dict:
    settings = settings_from(config, overrides)
    when = datetime.fromisoformat(now) if now else None
    return alert_pass(settings, None, now=when, detect=detect).as_dict()


@flow(name="alerts")
def alerts_flow(config: str | None = None, overrides: dict | None = None, now: str | None = None) -> dict:
    """Fire an alert for each city or brand whose coverage swung, and deliver pending webhooks."""
    return alert_task(config, overrides, now)
