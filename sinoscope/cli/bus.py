"""Looking inside the running monitor: the bus group (topics, peek) and status."""

from __future__ import annotations

import json

import typer
from rich.markup import escape
from rich.table import Table

from ..status import topics_overview
from .core import (
    _print_overview,
    app,
    console,
    fail,
    state,
)

# -- bus ----------------------------------------------------------------------------------
bus_app = typer.Typer(help="Look inside the bus: topics, consumer groups, messages.", no_args_is_help=True)
app.add_typer(bus_app, name="bus")


@bus_app.command("topics")
def bus_topics(as_json: bool = typer.Option(False, "--json")) -> None:
    """Topics with message counts, and consumer groups with their lag."""
    from sinoscope.core.bus import open_bus

    with open_bus(state.settings) as bus:
        topics = topics_overview(bus)
    if as_json:
        console.print_json(json.dumps({"topics": topics}))
    else:
        _print_overview(topics)


@app.command()
def status(as_json: bool = typer.Option(False, "--json")) -> None:
    """The running monitor on one screen: source health, what arrived in the last hour and day,
    backlog per stage, dead letters and where to read them, the last alert, the stores in use."""
    from sinoscope.status import gather

    r = gather(state.settings)
    if as_json:
        print(json.dumps(r, ensure_ascii=False, default=str))
        return
    st = r["stores"]
    console.print(f"[bold]stores[/]: bus {st['bus']}; results {st['results']}; data dir {st['data_dir']}")
    if "error" in r["sources"]:
        console.print(f"[red]sources: cannot read feed state {st['feed_state']}: {r['sources']['error']}[/]")
    else:
        t = Table("source", "health", "since", "last success", "articles", "last error", title="sources")
        order = {"retired": 0, "failing": 1, "error": 2, "new": 3, "ok": 4}
        for x in sorted(r["source_health"], key=lambda x: (order.get(x["status"], 5), x["name"])):
            colour = {"retired": "red", "failing": "red", "error": "yellow", "ok": "green"}.get(x["status"], "white")
            t.add_row(
                escape(x["name"]),
                f"[{colour}]{x['status']}[/]",
                (x["since"] or "")[:16],
                (x["last_success"] or "-")[:16],
                str(x["articles"]),
                escape((x["error"] or "")[:70]),
            )
        console.print(t if r["source_health"] else "sources: none polled yet (sinoscope run --once)")
    rec = r["recent"]
    if "error" in rec:
        console.print(f"[red]results store unreachable ({st['results']}): {rec['error']}[/]")
    else:
        console.print(
            f"arrived: last hour {rec['hour']['articles']} articles / {rec['hour']['mentions']} mentions; "
            f"last day {rec['day']['articles']} articles / {rec['day']['mentions']} mentions"
        )
        month = rec["published_30d"]
        if month["backfilled"]:
            console.print(
                f"published in the last 30 days: {month['articles']} articles, {month['backfilled']} of them "
                "backfilled from archives (the rest seen live)"
            )
    if r.get("bus_error"):
        console.print(f"[red]bus unreachable ({st['bus']}): {r['bus_error']}[/]")
    else:
        _print_overview(r["topics"])
        console.print(
            "backlog: "
            + "; ".join(f"{x['stage']} ({x['group']} on '{x['topic']}') {x['lag']} waiting" for x in r["stages"])
        )
        console.print(
            (f"[yellow]dead letters: {r['dead_letters']}[/] on {r['dead_letters_where']}")
            if r["dead_letters"]
            else "dead letters: none"
        )
    a = r["alerts"]
    if a is None or (isinstance(a, dict) and a.get("last") is None and "error" not in a):
        console.print("alerts: none fired yet")
    elif "error" in a:
        console.print(f"[red]alert log unreadable ({st['alert_log']}): {a['error']}[/]")
    else:
        last = a["last"]
        console.print(
            f"last alert: {last['name']} {last['kind']} at {last['fired_at'][:16]} "
            f"({_delivery(last)}; {a['total']} in all"
            + (f", {a['deliveries_pending']} deliveries pending" if a["deliveries_pending"] else "")
            + (f", {a['deliveries_failed']} given up: sinoscope alerts list" if a["deliveries_failed"] else "")
            + ")"
        )


@bus_app.command("peek")
def bus_peek(
    topic: str,
    limit: int = typer.Option(5, "--limit", "-n"),
    as_json: bool = typer.Option(False, "--json", help="One JSON message per line."),
) -> None:
    """Print the first messages of a topic (does not commit anything)."""
    from sinoscope.core.bus import open_bus

    with open_bus(state.settings) as bus:
        if topic not in bus.topics():
            fail(
                f"no topic {topic!r}; topics: {', '.join(bus.topics()) or 'none yet'}",
                "run `sinoscope ingest --once` first, or check the name",
            )
        records = bus.read(topic, limit=limit)
    for r in records:
        value = json.loads(r.value)
        if as_json:
            print(json.dumps(value, ensure_ascii=False))
        else:
            title = value.get("title") or value.get("reason") or ""
            console.print(f"[dim]{r.topic}/{r.partition}@{r.offset}[/] {escape(str(r.key))}  {escape(title[:100])}")


def _delivery(alert: dict) -> str:
    if alert["delivered"]:
        return "delivered"
    return "no webhook configured" if not alert["deliveries"]["targets"] else "NOT delivered"
