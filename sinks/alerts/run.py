"""Build the alert engine for the configured store and run one pass (detect, record, deliver)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

from sinoscope.core.settings import Settings

from .engine import AlertEngine, PassResult
from .log import AlertLog
from .webhook import Sender, Target


def targets(settings: Settings, extra: list[str] | None = None) -> list[Target]:
    seen, out = set(), []
    for t in [*settings.alerts.webhooks, *(extra or [])]:
        target = Target.parse(t)
        if target.url not in seen:
            seen.add(target.url)
            out.append(target)
    return out


def sender(settings: Settings) -> Sender:
    a = settings.alerts
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    return Sender(secret, timeout_s=a.timeout_s, attempts=a.attempts_per_pass, backoff_s=a.backoff_s)


def alert_figures(settings: Settings):
    """The swing figures, stories and alert history of the store the settings name."""
    if settings.sink.kind == "elasticsearch":
        from ..elastic.alerts import ElasticAlerts

        return ElasticAlerts.from_settings(settings)
    from ..duckdb.alerts import DuckDBAlerts

    return DuckDBAlerts(settings.path("store.duckdb"), settings.path("alerts.sqlite"))


@lru_cache(maxsize=4)
def _names(catalogues: tuple) -> dict[str, str]:
    from nlp.entities.catalogue import load_catalogue

    return {e.id: e.name for e in load_catalogue(catalogues).entities.values()}


def alert_pass(
    settings: Settings,
    webhooks: list[str] | None = None,
    now: datetime | None = None,
    detect: bool = True,
    entity_ids: set[str] | None = None,
) -> PassResult:
    """One pass: swings in the store -> the alert log -> webhooks. ``detect=False`` only
    delivers what is pending (e.g. after a restart); ``entity_ids`` limits detection to those
    entities (the streaming pass after a sink batch)."""
    now = now or datetime.now(UTC)
    names = _names(tuple(settings.nlp.catalogues))
    alert_log = AlertLog(settings.path("alerts.sqlite"))
    send = sender(settings)
    closers = [alert_log.close, send.close]
    try:
        backend = alert_figures(settings)
        closers.append(backend.close)
        engine = AlertEngine(
            settings, alert_log, send, names, backend.stats, backend.stories, on_fired=backend.record_alert
        )
        if detect:
            return engine.run(now, targets(settings, webhooks), entity_ids)
        return engine.deliver(now)
    finally:
        for close in reversed(closers):
            close()
