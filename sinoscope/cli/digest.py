"""The digest command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .core import app, console, fail, state


@app.command()
def digest(
    period: str = typer.Option(None, "--period", help="day or week (default: setting digest.period)."),
    send: bool = typer.Option(False, "--send", help="Deliver it: webhook targets and email (settings digest.*)."),
    webhook: Optional[list[str]] = typer.Option(
        None, "--webhook", help="Send to this webhook (repeatable; with --send; replaces the configured ones)."
    ),
    out: Optional[Path] = typer.Option(None, "--out", help="Write it to a file: .html, or text for any other suffix."),
    as_json: bool = typer.Option(False, "--json", help="Print the digest's data as JSON."),
) -> None:
    """What the last day or week held: top movers by volume and tone, the most negative and most
    positive stories per tracked entity, alerts fired, companies discovery found, source health."""
    from sinks.base import StoreError

    from .pipeline import _prefect

    settings = state.settings
    _prefect(settings)
    from flows.digest import gather
    from sinks.digest.deliver import deliver
    from sinks.digest.render import html, text

    try:
        d = gather(settings, period or settings.digest.period)
    except ValueError as exc:
        fail(str(exc))
    except StoreError as exc:
        fail(str(exc), f"is {exc.where} up? (sinoscope status)")
    if out:
        out.write_text(html(d) if out.suffix.lower() in (".html", ".htm") else text(d), encoding="utf-8")
        console.print(f"wrote the digest to {out}")
    if send:
        sent = deliver(settings, d, list(webhook) if webhook else None)
        if not sent:
            fail(
                "the digest has nowhere to go",
                "set digest.webhooks or alerts.webhooks, or digest.smtp_host and email_to",
            )
        for s in sent:
            console.print(
                f"{'delivered' if s['ok'] else 'FAILED'}: {s['target']}" + (f" ({s['error']})" if s["error"] else "")
            )
        if not all(s["ok"] for s in sent):
            raise typer.Exit(1)
    elif as_json:
        print(json.dumps(d, ensure_ascii=False))
    elif not out:
        print(text(d), end="")
