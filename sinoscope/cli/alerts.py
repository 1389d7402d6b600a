"""The alerts group: history, a pass on demand, a test webhook."""

from __future__ import annotations

import json
from datetime import UTC
from typing import Optional

import typer
from rich.table import Table

from .core import (
    _entity,
    _since,
    app,
    console,
    fail,
    state,
)
from .pipeline import WebhookOpt, _print_alert_pass

alerts_app = typer.Typer(
    help="Sentiment-swing alerts: history, a pass on demand, a test webhook.", no_args_is_help=True
)
app.add_typer(alerts_app, name="alerts")


@alerts_app.command("list")
def alerts_list(
    since: Optional[str] = typer.Option(None, "--since", help="Only alerts fired since (30d, ISO date)."),
    entity: Optional[str] = typer.Option(None, "--entity", help="Only this city or brand (id or alias)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The alerts that fired, newest first, and whether every webhook got them."""
    from sinks.alerts.log import AlertLog

    eid = _entity(entity).id if entity else None
    log = AlertLog(state.settings.path("alerts.sqlite"))
    try:
        rows = log.alerts(_since(since) if since else None, eid)
    finally:
        log.close()
    if as_json:
        print(json.dumps({"alerts": rows}, ensure_ascii=False))
        return
    t = Table("fired at", "entity", "kind", "baseline", "current", "volume", "delivered", "id")
    for a in rows:
        b, c, d = a["baseline"] or {}, a["current"] or {}, a["deliveries"]
        t.add_row(
            a["fired_at"][:16],
            f"{a['name']} [dim]{a['entity_id']}[/]",
            a["kind"],
            _fmt(b.get("sentiment_mean")),
            _fmt(c.get("sentiment_mean")),
            str(a["volume"]),
            "yes"
            if a["delivered"]
            else (f"{d['delivered']}/{d['targets']}, {d['failed']} failed" if d["targets"] else "no webhook"),
            a["id"],
        )
    console.print(t if rows else "no alerts have fired")


def _fmt(v) -> str:
    return f"{v:+.2f}" if isinstance(v, (int, float)) else "-"


@alerts_app.command("run")
def alerts_run(
    webhook: Optional[list[str]] = WebhookOpt,
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Detect as of this ISO time (replays)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """One alert pass now: detect swings in the store, record them, deliver pending webhooks."""
    from datetime import datetime

    from sinks.alerts.run import alert_pass

    try:
        out = alert_pass(
            state.settings, list(webhook or []), now=datetime.fromisoformat(as_of) if as_of else None
        ).as_dict()
    except Exception as exc:  # the store or a bad time: say which
        fail(
            f"alert pass failed: {exc}", "run `sinoscope run --once` first so the store exists; --as-of takes ISO time"
        )
    if as_json:
        print(json.dumps(out, ensure_ascii=False))
    else:
        _print_alert_pass(out)


@alerts_app.command("test")
def alerts_test(
    url: str = typer.Argument(..., help="Webhook URL ('slack+URL' for Slack's format)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Send a sample alert (kind sentiment_drop, entity city:chengdu, id starting 'test-') to URL."""
    from datetime import datetime

    from sinks.alerts.run import sender
    from sinks.alerts.webhook import DeliveryError, Target, sample_alert

    target = Target.parse(url)
    send = sender(state.settings)
    try:
        attempts = send.send(target, sample_alert(datetime.now(UTC)))
    except DeliveryError as exc:
        fail(f"{target.url} did not accept the sample alert: {exc}", "check the URL and that the receiver answers 2xx")
    finally:
        send.close()
    signed = state.settings.webhook_secret is not None
    if as_json:
        print(json.dumps({"url": target.url, "format": target.format, "attempts": attempts, "signed": signed}))
    else:
        console.print(
            f"sent a sample alert to {target.url} ({target.format}, {attempts} attempt(s), "
            + ("signed" if signed else "UNSIGNED: set SINOSCOPE_WEBHOOK_SECRET")
            + ")"
        )
