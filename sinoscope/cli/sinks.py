"""Commands on stored results: the sink worker, Kibana set-up, trend, rank, voice, breakdown,
stories and the report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from .core import (
    BootstrapOpt,
    BusOpt,
    _ask,
    _bus_overrides,
    _entity,
    _since,
    app,
    console,
    fail,
    state,
)
from .pipeline import _store_pass

sink_app = typer.Typer(
    help="The sink stage: enriched articles into the store (embedded or Elasticsearch).", no_args_is_help=True
)
app.add_typer(sink_app, name="sink")


@sink_app.command("run")
def sink_run(
    once: bool = typer.Option(False, "--once", help="Drain the enriched topic, then exit."),
    bus: Optional[str] = BusOpt,
    bootstrap: Optional[str] = BootstrapOpt,
) -> None:
    """The sink worker: consume enriched articles and write them to the store (setting sink.kind)."""
    _bus_overrides(bus, bootstrap)
    _store_pass(state.settings, until_idle=once)


kibana_app = typer.Typer(help="Kibana: import the shipped data views and dashboard.", no_args_is_help=True)
app.add_typer(kibana_app, name="kibana")


@kibana_app.command("setup")
def kibana_setup(
    url: Optional[str] = typer.Option(None, "--url", help="Kibana URL (default: setting sink.kibana_url)."),
) -> None:
    """Import the saved objects (data views, visualisations, dashboard) through Kibana's API."""
    from sinks.kibana import KibanaError, import_saved_objects

    s = state.settings.sink
    target = url or s.kibana_url
    try:
        body = import_saved_objects(
            target,
            auth=(s.es_username, s.es_password.get_secret_value() if s.es_password else "") if s.es_username else None,
            api_key=s.es_api_key.get_secret_value() if s.es_api_key else None,
            verify=s.es_verify_certs,
        )
    except KibanaError as exc:
        fail(str(exc), "start Kibana (docker compose up kibana) or pass --url", code=1)
    console.print(
        f"imported {body.get('successCount')} saved objects into {target}; open the dashboard "
        f"'Sinoscope: Chinese cities and brands in overseas media'"
    )


@app.command()
def trend(
    entity: str = typer.Argument(..., help="Entity id or any alias: city:chongqing, Chungking, 重庆."),
    since: str = typer.Option("30d", "--since"),
    interval: str = typer.Option(
        "1d", "--interval", help="Bucket size: Nh, Nd, Nw (6h, 3d, 2w) or calendar 1M, 1q, 1y; every bucket shown."
    ),
    duplicates: bool = typer.Option(False, "--duplicates", help="Count syndicated copies too."),
    tz: str = typer.Option("UTC", "--tz", help="Time zone of the buckets (IANA name: Asia/Shanghai, Europe/Berlin)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Mentions and mean tone of one city or brand per bucket of time (empty buckets shown as such)."""
    e = _entity(entity)
    out = _ask("trend", e.id, e.name, _since(since), interval, duplicates, tz=tz)
    if as_json:
        print(json.dumps(out, ensure_ascii=False))
        return
    t = Table("start", "mentions", "mean sentiment", "positive", "negative", title=f"{e.name} ({e.id}), {tz}")
    for b in out["buckets"]:
        t.add_row(
            b["start"][:16],
            str(b["mentions"]),
            f"{b['sentiment_mean']:+.2f}" if b["sentiment_mean"] is not None else "-",
            str(b["positive"]),
            str(b["negative"]),
        )
    console.print(t if out["buckets"] else f"no mentions of {e.name} since {out['since'][:10]}")


@app.command()
def rank(
    kind: str = typer.Option("city", "--type", help="city or brand"),
    since: str = typer.Option("90d", "--since"),
    limit: int = typer.Option(20, "--limit"),
    duplicates: bool = typer.Option(False, "--duplicates"),
    as_json: bool = typer.Option(False, "--json"),
    rollup: bool = typer.Option(
        False, "--rollup", help="Count sub-brands and platforms for their parent (a WeChat mention counts for Tencent)."
    ),
) -> None:
    """The overseas-influence ranking: presence, breadth, tone and growth combined (see docs/queries.md)."""
    from nlp.entities.catalogue import load_catalogue

    catalogue = load_catalogue(state.settings.nlp.catalogues)
    names = {e.id: e.name for e in catalogue.entities.values()}
    start = _since(since)
    out = _ask(
        "rank",
        names,
        start,
        kind,
        include_duplicates=duplicates,
        limit=limit,
        **({"rollup": catalogue.rollup(kind)} if rollup else {}),
    )
    totals = _ask("totals", start, duplicates)  # volume honesty: how much of the period came from a backfill
    out["coverage"] = {"articles": totals["articles"], "backfilled": totals["backfilled"]}
    if as_json:
        print(json.dumps(out, ensure_ascii=False))
        return
    t = Table("#", "name", "index", "mentions", "outlets", "countries", "tone", "growth", title=f"{kind} ranking")
    for i, r in enumerate(out["rows"], 1):
        t.add_row(
            str(i),
            r["name"],
            f"{r['index']:.1f}",
            str(r["mentions"]),
            str(r["outlets"]),
            str(r["countries"]),
            f"{r['sentiment_mean']:+.2f}" if r["sentiment_mean"] is not None else "-",
            f"{r['growth']:+.2f}",
        )
    console.print(t)
    cov = out["coverage"]
    if cov["backfilled"]:
        console.print(
            f"{cov['backfilled']} of the period's {cov['articles']} articles were backfilled from archives, "
            "the rest seen live (docs/ingest.md#backfill-the-past-feeds-no-longer-carry)"
        )


@app.command()
def voice(
    entities: list[str] = typer.Argument(..., help="Two or more entities (ids or aliases), e.g. BYD Geely Chery."),
    since: str = typer.Option("30d", "--since"),
    duplicates: bool = typer.Option(False, "--duplicates"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Share of voice: each entity's share of the mentions of the entities given."""
    resolved = {e.id: e.name for e in map(_entity, entities)}
    out = _ask("share_of_voice", resolved, _since(since), duplicates)
    if as_json:
        print(json.dumps(out, ensure_ascii=False))
        return
    t = Table("entity", "mentions", "share", title=f"share of voice since {out['since'][:10]}")
    for r in out["entities"]:
        t.add_row(r["name"], str(r["mentions"]), f"{r['share']:.1%}")
    console.print(t)


@app.command()
def breakdown(
    entity: str = typer.Argument(..., help="Entity id or any alias."),
    by: str = typer.Option("outlet", "--by", help="outlet, country or language"),
    since: str = typer.Option("30d", "--since"),
    duplicates: bool = typer.Option(False, "--duplicates"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Mentions and mean sentiment of one city or brand per outlet, country or language."""
    e = _entity(entity)
    out = _ask("breakdown", e.id, _since(since), by, duplicates)
    if as_json:
        print(json.dumps(out, ensure_ascii=False))
        return
    t = Table(by, "mentions", "mean sentiment", title=f"{e.name} by {by}")
    for r in out["rows"]:
        t.add_row(
            escape(str(r["key"])),
            str(r["mentions"]),
            f"{r['sentiment_mean']:+.2f}" if r["sentiment_mean"] is not None else "-",
        )
    console.print(t)


@app.command()
def stories(
    entity: str = typer.Argument(..., help="Entity id or any alias."),
    negative: bool = typer.Option(False, "--negative", help="Most negative first (default: most positive)."),
    since: str = typer.Option("365d", "--since"),
    limit: int = typer.Option(10, "--limit"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The most positive (or negative) stories about a city or brand."""
    e = _entity(entity)
    out = _ask("stories", e.id, _since(since), negative, limit)
    if as_json:
        print(json.dumps(out, ensure_ascii=False))
        return
    t = Table(
        "sentiment", "published", "outlet", "title", title=f"{e.name}: most {'negative' if negative else 'positive'}"
    )
    for st in out["stories"]:
        t.add_row(f"{st['sentiment']:+.2f}", st["published"][:10], escape(st["outlet"]), escape(st["title"]))
    console.print(t)


# -- nlp ------------------------------------------------------------------------------------
@app.command()
def report(
    since: str = typer.Option("90d", "--since", help="Period: 90d, 12w or an ISO date."),
    out: Path = typer.Option(Path("report.html"), "--out", help="The HTML file to write."),
    entity: Optional[list[str]] = typer.Option(
        None, "--entity", help="Show this city or brand (repeatable); default: the top cities and brands."
    ),
    duplicates: bool = typer.Option(False, "--duplicates", help="Count syndicated copies too."),
    as_json: bool = typer.Option(False, "--json", help="Print the data behind the report instead."),
) -> None:
    """One self-contained HTML report (opens offline): the city influence ranking, volume and
    tone over time with the alerts that fired, share of voice, coverage by country and
    language, the most positive and negative stories, and what the figures cover."""
    from nlp.entities.catalogue import load_catalogue
    from sinks.report.data import ReportError, gather

    settings = state.settings
    catalogue = load_catalogue(settings.nlp.catalogues)
    ids = [_entity(e).id for e in entity or []]
    try:
        data = gather(settings, catalogue, _since(since), ids or None, include_duplicates=duplicates)
    except ReportError as exc:
        fail(str(exc))
    if as_json:
        print(json.dumps(data, ensure_ascii=False, default=str))
        return
    from sinks.report.render import render

    html = render(data)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(html, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {out}: {exc}", "choose another --out path")
    t = data["totals"]
    console.print(
        f"wrote {out} ({len(html) // 1024} KB): {len(data['rank']['rows'])} cities ranked, "
        f"{len(data['entities'])} entities charted, {t['articles_with_mentions']} articles, {t['mentions']} "
        f"mentions since {data['since'][:10]}; open it in any browser (works offline)"
    )
