"""The ``sinoscope`` command: one entry point for every stage of the pipeline."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from .settings import ConfigError, Settings, load_settings

app = typer.Typer(
    help=(
        "Sinoscope: monitor how overseas media speak of Chinese cities and brands.\n\n"
        "The pipeline: ingest (feeds -> articles) -> nlp (mentions + sentiment) -> sinks (store) "
        "-> trends, reports and alerts. With no configuration everything runs on this machine "
        "on a bundled sample corpus; see README.md to point it at real feeds or a Kafka/"
        "Elasticsearch stack."
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
console = Console()
err = Console(stderr=True)


class State:
    verbose: bool = False
    config: Path | None = None
    data_dir: Path | None = None
    bus: dict = {}
    _settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = load_settings(self.config, data_dir=self.data_dir, **({"bus": self.bus} if self.bus else {}))
            except ConfigError as exc:
                fail(str(exc), "fix the file or variable named above")
        return self._settings


state = State()


def fail(message: str, hint: str = "", code: int = 2) -> "typer.Exit":
    err.print(f"[bold red]error:[/] {message}")
    if hint:
        err.print(f"  what to do: {hint}")
    raise typer.Exit(code)


@app.callback()
def main(
    config: Optional[Path] = typer.Option(None, "--config", help="YAML settings file (also SINOSCOPE_CONFIG)."),
    data_dir: Optional[Path] = typer.Option(
        None, "--data-dir", envvar="SINOSCOPE_DATA_DIR",
        help="Where all embedded state lives (bus, store, feed state). Default: a per-user data directory."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what each stage does."),
    bus: Optional[str] = typer.Option(None, "--bus", help="embedded (default) or kafka (also SINOSCOPE_BUS__KIND)."),
    bootstrap: Optional[str] = typer.Option(None, "--bootstrap", help="Kafka bootstrap host:port (with --bus kafka)."),
) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    state.config, state.data_dir, state._settings = config, data_dir, None
    state.verbose = verbose
    _bus_overrides(bus, bootstrap, reset=True)


def _bus_overrides(bus: str | None, bootstrap: str | None, reset: bool = False) -> None:
    """--bus/--bootstrap, accepted globally and on the commands that move messages."""
    if reset:
        state.bus = {}
    if bus:
        if bus not in ("embedded", "kafka"):
            fail(f"--bus {bus!r}: use embedded or kafka")
        state.bus = {**state.bus, "kind": bus}
    if bootstrap:
        state.bus = {**state.bus, "bootstrap": bootstrap}
    if bus or bootstrap:
        state._settings = None


BusOpt = typer.Option(None, "--bus", help="embedded (default) or kafka.")
BootstrapOpt = typer.Option(None, "--bootstrap", help="Kafka bootstrap host:port (with --bus kafka).")


# -- ingest -----------------------------------------------------------------------------
SourcesOpt = typer.Option(None, "--sources", help="YAML sources file (default: the bundled sample corpus; "
                                                 "ingest/sources.yaml lists real overseas feeds).")


def _load_sources(path: Path | None):
    from ingest.sources import SourcesError, load_sources

    settings = state.settings
    try:
        return load_sources(path or settings.ingest.sources_file, settings.ingest.query_entities)
    except SourcesError as exc:
        fail(str(exc), "fix the sources file (format: sources: [{name, url, outlet, country, language}])")


def _ingest_once(sources_file: Path | None, force: bool, quiet: bool = False):
    from sinoscope.bus import BusError

    try:
        return _ingest_pass(sources_file, force, quiet)
    except BusError as exc:
        fail(f"the bus refused the articles: {exc}", "check the data directory (disk full? permissions?) "
             "or the broker; nothing was recorded as done, so the next run retries", code=1)


def _ingest_pass(sources_file: Path | None, force: bool, quiet: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ingest.runner import IngestRunner
    from sinoscope.bus import open_bus

    settings = state.settings
    sources = _load_sources(sources_file)
    with open_bus(settings) as bus:
        runner = IngestRunner(settings, bus)
        try:
            with Progress(TextColumn("ingest"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          TextColumn("{task.fields[last]}"), console=err, disable=quiet,
                          transient=False) as progress:
                task = progress.add_task("sources", total=len(sources), last="")

                def tick(report):
                    progress.update(task, advance=1, last=f"{report.name}: {report.outcome} (+{report.new})")

                summary = runner.run(sources, force=force, on_source=tick)
        finally:
            runner.close()
    return summary, settings


def _print_ingest_summary(summary, settings: Settings) -> None:
    t = Table(title="ingest summary", show_header=False)
    t.add_row("sources polled", f"{summary.polled} of {summary.sources}"
              + (f" ({len(summary.skipped)} skipped)" if summary.skipped else ""))
    t.add_row("unchanged since last poll", str(summary.not_modified))
    t.add_row("entries", str(summary.entries))
    t.add_row("new articles published", str(summary.new_articles))
    t.add_row("duplicates (same URL)", str(summary.exact_duplicates))
    t.add_row("syndicated copies linked", str(summary.near_duplicates))
    t.add_row("pages fetched for full text", str(summary.pages_fetched))
    t.add_row("errors", str(len(summary.errors)))
    t.add_row("dead-lettered entries", str(summary.dead_lettered))
    console.print(t)
    for name, msg in summary.errors:
        console.print(f"[red]error[/] {name}: {msg}")
    for name, msg in summary.warnings:
        console.print(f"[yellow]warning[/] {name}: {msg}")
    for name, why in summary.skipped:
        console.print(f"[dim]skipped[/] {name}: {why}")
    for name, msg in summary.flagged:
        console.print(f"[bold red]FLAGGED[/] {name} is {msg}")
    if summary.dead_lettered:
        console.print(f"dead letters are on topic '{summary.dead_letter_topic}' "
                      f"(bus: {settings.bus.kind}, data dir {settings.data_dir}); "
                      f"see them with: sinoscope bus peek {summary.dead_letter_topic}")


@app.command()
def ingest(
    once: bool = typer.Option(False, "--once", help="Poll every source once, then exit."),
    sources: Optional[Path] = SourcesOpt,
    force: bool = typer.Option(False, "--force", help="Poll sources that are backing off after errors."),
    interval: float = typer.Option(300.0, "--interval", help="Seconds between passes without --once."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    bus: Optional[str] = BusOpt,
    bootstrap: Optional[str] = BootstrapOpt,
) -> None:
    """Poll the feeds, extract and de-duplicate articles, publish them to the bus."""
    _bus_overrides(bus, bootstrap)
    while True:
        summary, settings = _ingest_once(sources, force, quiet=as_json)
        if as_json:
            console.print_json(json.dumps(summary.as_dict(), default=str))
        else:
            _print_ingest_summary(summary, settings)
        if once:
            return
        time.sleep(interval)


WebhookOpt = typer.Option(None, "--webhook", help="Send swing alerts to this URL too (repeatable; "
                                                    "'slack+URL' for Slack's format). Signed with SINOSCOPE_WEBHOOK_SECRET.")


def _prefect(settings: Settings):
    """Prefect's state lives in the data directory; imported only by the commands that need it."""
    import flows

    flows.configure(settings.data_dir, state.verbose)
    from flows.settings import overrides_of

    return overrides_of(settings)


def _flow_errors():
    from ingest.sources import SourcesError
    from sinks.stage import SinkUnavailable
    from sinoscope.bus import BusError

    return SourcesError, SinkUnavailable, BusError, ConfigError


@app.command()
def run(
    once: bool = typer.Option(False, "--once", help="One pass of the whole pipeline, then exit."),
    sources: Optional[Path] = SourcesOpt,
    interval: float = typer.Option(300.0, "--interval", help="Seconds between passes without --once."),
    webhook: Optional[list[str]] = WebhookOpt,
    as_of: Optional[str] = typer.Option(None, "--as-of", hidden=True, help="Detect swings as of this ISO time (replays)."),
    as_json: bool = typer.Option(False, "--json", help="Print each pass's summary as JSON."),
    bus: Optional[str] = BusOpt,
    bootstrap: Optional[str] = BootstrapOpt,
) -> None:
    """The whole pipeline as Prefect flows: ingest, the NLP stage, the store, then swing alerts.

    Runs in Prefect's ephemeral mode (no server needed); `sinoscope serve` runs it on schedules."""
    _bus_overrides(bus, bootstrap)
    settings = state.settings
    overrides = _prefect(settings)
    from flows import progress
    from flows.pipeline import pipeline_flow

    errors = _flow_errors()
    while True:
        try:
            with _live_progress(progress):
                out = pipeline_flow(str(state.config) if state.config else None, overrides,
                                    str(sources) if sources else None, list(webhook or []), as_of)
        except errors as exc:
            where = getattr(exc, "where", None)
            fail(str(exc), f"check {where}; nothing was committed, the next run retries" if where else
                 "fix the file, setting or service named above; the next run retries what did not finish", code=1)
        if as_json:
            print(json.dumps(out, default=str, ensure_ascii=False))
        else:
            _print_pass(out, settings)
        if once:
            return
        time.sleep(interval)


class _live_progress:
    """Live counters on stderr while a pass runs in this process."""

    def __init__(self, progress_mod) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.mod = progress_mod
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("{task.fields[last]}"), console=err)
        self.tasks: dict[str, int] = {}

    def __enter__(self):
        self.progress.start()
        self.stop = self.mod.listen(self.on)
        return self

    def on(self, event: str, data: dict) -> None:
        p = self.progress
        if event == "sources":
            self.tasks["ingest"] = p.add_task("ingest", total=data["total"], last="")
        elif event == "source" and "ingest" in self.tasks:
            p.update(self.tasks["ingest"], advance=1, last=f"{data['name']}: {data['outcome']} (+{data['new']})")
        elif event == "enrich":
            if "nlp" not in self.tasks:
                self.tasks["nlp"] = p.add_task("nlp", total=None, last="")
            p.update(self.tasks["nlp"], completed=data["enriched"], last=f"{data['enriched']} articles enriched")

    def __exit__(self, *exc) -> None:
        self.stop()
        self.progress.stop()


@app.command()
def worker(stage: str = typer.Argument(..., help="enrich or sink"),
           bus: Optional[str] = BusOpt, bootstrap: Optional[str] = BootstrapOpt) -> None:
    """Run a stage as a Prefect-supervised long-running worker (restarted by the flow's retries
    if it crashes; visible in Prefect's UI when PREFECT_API_URL is set). Start several with
    --bus kafka: they share the partitions as one consumer group."""
    if stage not in ("enrich", "sink"):
        fail(f"no worker {stage!r}", "use enrich or sink")
    _bus_overrides(bus, bootstrap)
    settings = state.settings
    overrides = _prefect(settings)
    from flows.workers import enrich_worker_flow, sink_worker_flow

    flow = enrich_worker_flow if stage == "enrich" else sink_worker_flow
    out = flow(str(state.config) if state.config else None, overrides, False)
    console.print(f"{stage} worker stopped: {out}")


def _print_pass(out: dict, settings: Settings) -> None:
    from ingest.runner import IngestSummary

    summary = IngestSummary(**out["ingest"])
    _print_ingest_summary(summary, settings)
    e = out["enrich"]
    console.print(f"nlp: enriched {e['enriched']} articles"
                  + (f", dead-lettered {e['dead_lettered']} (topic '{settings.bus.topics.dead_letter}')"
                     if e["dead_lettered"] else ""))
    _print_store(out["store"], settings)
    _print_alert_pass(out["alerts"])


def _print_alert_pass(a: dict) -> None:
    fired = ", ".join(f"{x['name']} {x['kind']} ({x['id']})" for x in a["fired"]) or "none"
    console.print(f"alerts: {a['evaluated']} entities checked; fired: {fired}; webhooks delivered {a['delivered']}"
                  + (f", failed {len(a['failed'])} (retried next pass)" if a["failed"] else "")
                  + (f", gave up {a['gave_up']}" if a["gave_up"] else ""))
    for f in a["failed"]:
        console.print(f"[yellow]webhook[/] {f['target']}: {f['error']} (alert {f['alert_id']})")


@app.command()
def serve(
    webhook: Optional[list[str]] = WebhookOpt,
    ingest_every: float = typer.Option(300.0, "--ingest-every", help="Seconds between ingest runs."),
    alerts_every: float = typer.Option(300.0, "--alerts-every", help="Seconds between alert runs."),
    workers: bool = typer.Option(True, "--workers/--no-workers", help="Also run the enrich and sink workers here."),
    bus: Optional[str] = BusOpt,
    bootstrap: Optional[str] = BootstrapOpt,
) -> None:
    """Register the flows as Prefect deployments with schedules and run them until stopped.

    With PREFECT_API_URL set they appear in that Prefect server's UI (the stack); otherwise a
    local Prefect server runs inside this process."""
    _bus_overrides(bus, bootstrap)
    settings = state.settings
    overrides = _prefect(settings)
    from flows.serve import serve_all

    console.print(f"serving: ingest every {ingest_every:g}s, alerts every {alerts_every:g}s, maintenance daily"
                  + (", enrich and sink workers" if workers else "") + "; Ctrl-C stops")
    serve_all(str(state.config) if state.config else None, overrides, list(webhook or []),
              ingest_every_s=ingest_every, alerts_every_s=alerts_every, workers=workers)


@app.command("sources")
def sources_cmd(
    sources: Optional[Path] = SourcesOpt,
    as_json: bool = typer.Option(False, "--json"),
    reset: Optional[str] = typer.Option(None, "--reset", help="Clear the health record of a source "
                                                                "(e.g. to bring back a retired one)."),
) -> None:
    """Health of every source: last success, last error, consecutive failures, entries seen."""
    from ingest.state import IngestState, SourceState

    settings = state.settings
    catalogue = _load_sources(sources)
    st = IngestState(settings.path("ingest.sqlite"))
    try:
        if reset:
            st.save_source(SourceState(name=reset))
            console.print(f"health of {reset} cleared")
            return
        rows = []
        for src in catalogue:
            s = st.source(src.name)
            rows.append({
                "name": src.name, "outlet": src.outlet, "country": src.country, "language": src.language,
                "url": s.moved_to or src.url, "status": s.status,
                "last_success": s.last_success.isoformat() if s.last_success else None,
                "last_error": s.last_error, "failing_since": s.failing_since.isoformat() if s.failing_since else None,
                "consecutive_failures": s.consecutive_failures, "entries_seen": s.entries_seen,
                "articles": s.articles_published,
                "next_poll_after": s.next_poll_after.isoformat() if s.next_poll_after else None,
                "warning": s.last_warning,
            })
    finally:
        st.close()
    if as_json:
        console.print_json(json.dumps({"sources": rows}))
        return
    t = Table(title=f"{len(rows)} sources")
    for col in ("name", "outlet", "lang", "status", "last success", "fails", "entries", "articles", "last error"):
        t.add_column(col, overflow="fold")
    colour = {"ok": "green", "error": "yellow", "failing": "red", "retired": "red", "new": "dim"}
    for r in rows:
        t.add_row(r["name"], r["outlet"], r["language"], f"[{colour.get(r['status'], '')}]{r['status']}[/]",
                  (r["last_success"] or "never")[:16], str(r["consecutive_failures"]), str(r["entries_seen"]),
                  str(r["articles"]), (r["last_error"] or "")[:80])
    console.print(t)


sink_app = typer.Typer(help="The sink stage: enriched articles into the store (embedded or Elasticsearch).",
                       no_args_is_help=True)
app.add_typer(sink_app, name="sink")


@sink_app.command("run")
def sink_run(once: bool = typer.Option(False, "--once", help="Drain the enriched topic, then exit."),
             bus: Optional[str] = BusOpt, bootstrap: Optional[str] = BootstrapOpt) -> None:
    """The sink worker: consume enriched articles and write them to the store (setting sink.kind)."""
    _bus_overrides(bus, bootstrap)
    _store_pass(state.settings, until_idle=once)


kibana_app = typer.Typer(help="Kibana: import the shipped data views and dashboard.", no_args_is_help=True)
app.add_typer(kibana_app, name="kibana")


@kibana_app.command("setup")
def kibana_setup(url: Optional[str] = typer.Option(None, "--url", help="Kibana URL (default: setting sink.kibana_url).")) -> None:
    """Import the saved objects (data views, visualisations, dashboard) through Kibana's API."""
    from sinks.kibana import KibanaError, import_saved_objects

    s = state.settings.sink
    target = url or s.kibana_url
    try:
        body = import_saved_objects(
            target, auth=(s.es_username, s.es_password.get_secret_value() if s.es_password else "") if s.es_username else None,
            api_key=s.es_api_key.get_secret_value() if s.es_api_key else None, verify=s.es_verify_certs)
    except KibanaError as exc:
        fail(str(exc), "start Kibana (docker compose up kibana) or pass --url", code=1)
    console.print(f"imported {body.get('successCount')} saved objects into {target}; open the dashboard "
                  f"'Sinoscope: Chinese cities and brands in overseas media'")


def _store_pass(settings: Settings, until_idle: bool = True) -> None:
    """One sink stage run into the store the settings name (embedded DuckDB or Elasticsearch)."""
    from sinks.stage import SinkUnavailable, store_pass

    try:
        out = store_pass(settings, until_idle=until_idle, signals=True)
    except SinkUnavailable as exc:
        fail(str(exc), f"check {exc.where}; nothing was committed, the next run retries", code=1)
    _print_store(out, settings)


def _print_store(out: dict, settings: Settings) -> None:
    dead = f"; dead-lettered {out['dead_lettered']} (topic '{settings.bus.topics.dead_letter}')" if out["dead_lettered"] else ""
    if out["store"] == "elasticsearch":
        console.print(f"elasticsearch: wrote {out['written']} enriched articles to {settings.sink.es_url}{dead}")
    else:
        console.print(f"store: wrote {out['written']} enriched articles; it holds {out['articles']} articles and "
                      f"{out['mentions']} mentions ({settings.path('store.duckdb')}){dead}")


# -- trends -------------------------------------------------------------------------------
def _entity(query: str):
    from nlp.entities.catalogue import load_catalogue

    e = load_catalogue(state.settings.nlp.catalogues).resolve(query)
    if e is None:
        fail(f"no city or brand called {query!r}", "use an id (city:chongqing) or any alias (Chungking, 重庆)")
    return e


def _queries():
    """The query layer of the configured store (embedded DuckDB or Elasticsearch)."""
    from sinks.elastic_queries import open_queries

    return open_queries(state.settings)


def _since(value: str):
    from sinks.queries import parse_since

    try:
        return parse_since(value)
    except ValueError:
        fail(f"--since {value!r}", "use 30d, 12h, 8w or an ISO date like 2026-09-01")


@app.command()
def trend(entity: str = typer.Argument(..., help="Entity id or any alias: city:chongqing, Chungking, 重庆."),
          since: str = typer.Option("30d", "--since"), interval: str = typer.Option("1d", "--interval"),
          duplicates: bool = typer.Option(False, "--duplicates", help="Count syndicated copies too."),
          as_json: bool = typer.Option(False, "--json")) -> None:
    """Mentions and mean sentiment of one city or brand per hour, day or week."""

    e = _entity(entity)
    store = _queries()
    try:
        out = store.trend(e.id, e.name, _since(since), interval, duplicates)
    except ValueError as exc:
        fail(str(exc))
    finally:
        store.close()
    if as_json:
        print(json.dumps(out, ensure_ascii=False))
        return
    t = Table("start", "mentions", "mean sentiment", "positive", "negative", title=f"{e.name} ({e.id})")
    for b in out["buckets"]:
        t.add_row(b["start"][:16], str(b["mentions"]), f"{b['sentiment_mean']:+.2f}" if b["sentiment_mean"] is not None
                  else "-", str(b["positive"]), str(b["negative"]))
    console.print(t if out["buckets"] else f"no mentions of {e.name} since {out['since'][:10]}")


@app.command()
def rank(kind: str = typer.Option("city", "--type", help="city or brand"),
         since: str = typer.Option("90d", "--since"), limit: int = typer.Option(20, "--limit"),
         duplicates: bool = typer.Option(False, "--duplicates"), as_json: bool = typer.Option(False, "--json")) -> None:
    """The overseas-influence ranking: presence, breadth, tone and growth combined (see README)."""
    from nlp.entities.catalogue import load_catalogue

    names = {e.id: e.name for e in load_catalogue(state.settings.nlp.catalogues).entities.values()}
    store = _queries()
    try:
        out = store.rank(names, _since(since), kind, include_duplicates=duplicates, limit=limit)
    finally:
        store.close()
    if as_json:
        print(json.dumps(out, ensure_ascii=False))
        return
    t = Table("#", "name", "index", "mentions", "outlets", "countries", "tone", "growth", title=f"{kind} ranking")
    for i, r in enumerate(out["rows"], 1):
        t.add_row(str(i), r["name"], f"{r['index']:.1f}", str(r["mentions"]), str(r["outlets"]), str(r["countries"]),
                  f"{r['sentiment_mean']:+.2f}" if r["sentiment_mean"] is not None else "-", f"{r['growth']:+.2f}")
    console.print(t)


@app.command()
def voice(entities: list[str] = typer.Argument(..., help="Two or more entities (ids or aliases), e.g. BYD Geely Chery."),
          since: str = typer.Option("30d", "--since"), duplicates: bool = typer.Option(False, "--duplicates"),
          as_json: bool = typer.Option(False, "--json")) -> None:
    """Share of voice: each entity's share of the mentions of the entities given."""

    resolved = {e.id: e.name for e in map(_entity, entities)}
    store = _queries()
    try:
        out = store.share_of_voice(resolved, _since(since), duplicates)
    finally:
        store.close()
    if as_json:
        print(json.dumps(out, ensure_ascii=False))
        return
    t = Table("entity", "mentions", "share", title=f"share of voice since {out['since'][:10]}")
    for r in out["entities"]:
        t.add_row(r["name"], str(r["mentions"]), f"{r['share']:.1%}")
    console.print(t)


@app.command()
def breakdown(entity: str = typer.Argument(..., help="Entity id or any alias."),
              by: str = typer.Option("outlet", "--by", help="outlet, country or language"),
              since: str = typer.Option("30d", "--since"), duplicates: bool = typer.Option(False, "--duplicates"),
              as_json: bool = typer.Option(False, "--json")) -> None:
    """Mentions and mean sentiment of one city or brand per outlet, country or language."""

    e = _entity(entity)
    store = _queries()
    try:
        out = store.breakdown(e.id, _since(since), by, duplicates)
    except ValueError as exc:
        fail(str(exc))
    finally:
        store.close()
    if as_json:
        print(json.dumps(out, ensure_ascii=False))
        return
    t = Table(by, "mentions", "mean sentiment", title=f"{e.name} by {by}")
    for r in out["rows"]:
        t.add_row(str(r["key"]), str(r["mentions"]), f"{r['sentiment_mean']:+.2f}" if r["sentiment_mean"] is not None else "-")
    console.print(t)


@app.command()
def stories(entity: str = typer.Argument(..., help="Entity id or any alias."),
            negative: bool = typer.Option(False, "--negative", help="Most negative first (default: most positive)."),
            since: str = typer.Option("365d", "--since"), limit: int = typer.Option(10, "--limit"),
            as_json: bool = typer.Option(False, "--json")) -> None:
    """The most positive (or negative) stories about a city or brand."""

    e = _entity(entity)
    store = _queries()
    try:
        out = store.stories(e.id, _since(since), negative, limit)
    finally:
        store.close()
    if as_json:
        print(json.dumps(out, ensure_ascii=False))
        return
    t = Table("sentiment", "published", "outlet", "title", title=f"{e.name}: most {'negative' if negative else 'positive'}")
    for st in out["stories"]:
        t.add_row(f"{st['sentiment']:+.2f}", st["published"][:10], st["outlet"], st["title"])
    console.print(t)


# -- nlp ------------------------------------------------------------------------------------
@app.command()
def report(since: str = typer.Option("90d", "--since", help="Period: 90d, 12w or an ISO date."),
           out: Path = typer.Option(Path("report.html"), "--out", help="The HTML file to write."),
           entity: Optional[list[str]] = typer.Option(None, "--entity", help="Show this city or brand (repeatable); "
                                                      "default: the top cities and brands."),
           duplicates: bool = typer.Option(False, "--duplicates", help="Count syndicated copies too."),
           as_json: bool = typer.Option(False, "--json", help="Print the data behind the report instead.")) -> None:
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
    console.print(f"wrote {out} ({len(html) // 1024} KB): {len(data['rank']['rows'])} cities ranked, "
                  f"{len(data['entities'])} entities charted, {t['articles_with_mentions']} articles, {t['mentions']} "
                  f"mentions since {data['since'][:10]}; open it in any browser (works offline)")


def _read_input(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    p = Path(path)
    if not p.is_file():
        fail(f"no such file: {p}", "give a plain-text file, or - to read standard input")
    raw = p.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        from ingest.encoding import decode

        return decode(raw, None)[0]


def _tagger(sentiment: bool = True):
    from nlp.tagger import Tagger

    settings = state.settings
    try:
        return Tagger(extra_catalogues=settings.nlp.catalogues, sentiment=sentiment and settings.nlp.sentiment,
                      threads=settings.nlp.threads)
    except Exception as exc:  # a broken user catalogue names itself
        fail(str(exc), "check the files listed in the setting nlp.catalogues")


@app.command()
def tag(
    file: str = typer.Argument(..., help="A plain-text article (first line: headline), or - for standard input."),
    as_json: bool = typer.Option(False, "--json", help="Print exactly one JSON object."),
    language: Optional[str] = typer.Option(None, "--language", help="Skip detection: ISO 639-1 code."),
    no_sentiment: bool = typer.Option(False, "--no-sentiment", help="Mentions only (no model)."),
) -> None:
    """Show the cities and brands a text mentions, and how it speaks of each."""
    text = _read_input(file)
    tagger = _tagger(sentiment=not no_sentiment)
    result = tagger.tag(text, language=language).as_dict()
    for m in result["mentions"]:
        m.pop("field", None)
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
        return
    s = result["sentiment"]
    console.print(f"language: {result['language']}   article sentiment: "
                  + (f"{s['label']} ({s['score']:+.2f}, confidence {s['confidence']:.2f})" if s else "n/a"))
    t = Table("entity", "type", "text", "at", "sentiment", "sentence")
    for m in result["mentions"]:
        ms = m["sentiment"]
        t.add_row(f"{m['name']} [dim]{m['entity_id']}[/]", m["type"], m["text"], str(m["start"]),
                  f"{ms['label']} {ms['score']:+.2f}" if ms else "-", m["sentence"][:90])
    console.print(t if result["mentions"] else "no city or brand mentioned")


nlp_app = typer.Typer(help="The NLP stage: tagging worker, the sentiment model (train, eval), the catalogue.",
                      no_args_is_help=True)
app.add_typer(nlp_app, name="nlp")


@nlp_app.command("run")
def nlp_run(once: bool = typer.Option(False, "--once", help="Drain the articles topic, then exit."),
            bus: Optional[str] = BusOpt, bootstrap: Optional[str] = BootstrapOpt) -> None:
    """The enrich worker: consume articles, publish articles with mentions and sentiment.

    Start several with --bus kafka: they share the partitions as one consumer group."""
    _bus_overrides(bus, bootstrap)
    from nlp.stage import enrich_stage
    from sinoscope.bus import open_bus

    settings = state.settings
    with open_bus(settings) as bus:
        stage = enrich_stage(bus, settings, _tagger())
        stage.install_signal_handlers()
        stats = stage.run(until_idle=once)
    console.print(f"enriched {stats.outputs} articles in {stats.batches} batches; dead-lettered {stats.dead_lettered}")


@nlp_app.command("targets")
def nlp_targets(file: str = typer.Argument(..., help="JSON Lines with sentence, from, to (NewsMTSC format), or -.")) -> None:
    """Score given targets: one JSON line out per line in, with "sentiment" added."""
    from nlp.sentiment.model import TargetSentimentModel

    rows = []
    for n, line in enumerate(_read_input(file).splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            s, a, b = row["sentence"], int(row["from"]), int(row["to"])
            if not (0 <= a < b <= len(s)):
                raise ValueError(f"offsets {a}:{b} outside the sentence")
        except (ValueError, KeyError, TypeError) as exc:
            fail(f"{file}, line {n}: {exc}", "each line needs sentence, from and to (end exclusive)")
        rows.append(row)
    model = TargetSentimentModel(threads=state.settings.nlp.threads)
    preds = model.predict([(r["sentence"], int(r["from"]), int(r["to"])) for r in rows])
    for row, p in zip(rows, preds):
        print(json.dumps({**row, "sentiment": p.as_dict()}, ensure_ascii=False))


@nlp_app.command("train")
def nlp_train(
    data: Optional[Path] = typer.Option(None, "--data", help="NewsMTSC directory (default ../shared/data/newsmtsc)."),
    epochs: int = typer.Option(2, "--epochs"),
    lr: float = typer.Option(8e-5, "--lr"),
    seeds: list[int] = typer.Option([14], "--seed", help="One ensemble member per seed (repeat the option)."),
    train_embeddings: bool = typer.Option(True, "--train-embeddings/--freeze-embeddings",
                                          help="Fine-tune the word embeddings too (only changed rows are stored)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Artefact directory (default: replace the committed one)."),
) -> None:
    """Fine-tune the target-sentiment model on NewsMTSC and replace the artefact in place.

    The defaults reproduce the committed artefact (about 10 minutes on 2 CPU cores)."""
    from nlp.sentiment.model import ARTEFACT_DIR
    from nlp.sentiment.train import train

    meta = train(data or state.settings.nlp.newsmtsc_dir, out or ARTEFACT_DIR, epochs=epochs, lr=lr,
                 seeds=tuple(seeds), freeze_embeddings=not train_embeddings,
                 threads=state.settings.nlp.threads, log=lambda m: err.print(m))
    console.print(f"saved to {out or ARTEFACT_DIR}: rw-dev macro-F1 {meta['rw_dev_macro_f1']}, "
                  f"rw-test macro-F1 {meta['rw_test_macro_f1']}")


@nlp_app.command("eval")
def nlp_eval(
    data: Optional[Path] = typer.Option(None, "--data", help="NewsMTSC directory (default ../shared/data/newsmtsc)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """One table: entity precision/recall per type, mention sentiment per language, NewsMTSC scores."""
    from nlp.evaluate import evaluate, render

    report = evaluate(_tagger(), data or state.settings.nlp.newsmtsc_dir)
    if as_json:
        print(json.dumps(report, ensure_ascii=False, indent=1))
    else:
        console.print(render(report))


@nlp_app.command("entities")
def nlp_entities(
    query: Optional[str] = typer.Argument(None, help="An id or alias to look up (e.g. Chungking, 重庆)."),
    kind: Optional[str] = typer.Option(None, "--type", help="city or brand"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The catalogue of tracked cities and brands (or one entry)."""
    tagger = _tagger(sentiment=False)
    cat = tagger.catalogue
    if query:
        e = cat.resolve(query)
        if e is None:
            fail(f"no city or brand called {query!r}", "try an English name, pinyin, a Chinese name or an id")
        entities = [e]
    else:
        entities = [e for e in cat.entities.values() if kind in (None, e.type)]
    if as_json:
        print(json.dumps([e.as_dict() for e in entities], ensure_ascii=False))
        return
    t = Table("id", "name", "type", "aliases")
    for e in entities:
        t.add_row(e.id, e.name, e.type, ", ".join(a.text for a in e.aliases[:8]))
    console.print(t)
    console.print(f"{len(entities)} entities")


# -- bus ----------------------------------------------------------------------------------
bus_app = typer.Typer(help="Look inside the bus: topics, consumer groups, messages.", no_args_is_help=True)
app.add_typer(bus_app, name="bus")


def _bus_overview(bus) -> list[dict]:
    topics = []
    pairs = bus.groups()
    for name in bus.topics():
        s = bus.stats(name)
        lag = {grp: sum(bus.group_lag(grp, name).values()) for grp, topic in pairs if topic == name}
        topics.append({"topic": name, "partitions": s.partitions if s else 0, "messages": s.messages if s else 0,
                       "lag": lag})
    return topics


def _print_overview(topics: list[dict]) -> None:
    t = Table("topic", "partitions", "messages", "consumer groups (lag)")
    for x in topics:
        t.add_row(x["topic"], str(x["partitions"]), str(x["messages"]),
                  ", ".join(f"{g}: {lag}" for g, lag in x["lag"].items()) or "-")
    console.print(t)


@bus_app.command("topics")
def bus_topics(as_json: bool = typer.Option(False, "--json")) -> None:
    """Topics with message counts, and consumer groups with their lag."""
    from sinoscope.bus import open_bus

    with open_bus(state.settings) as bus:
        topics = _bus_overview(bus)
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
            t.add_row(x["name"], f"[{colour}]{x['status']}[/]", (x["since"] or "")[:16], (x["last_success"] or "-")[:16],
                      str(x["articles"]), (x["error"] or "")[:70])
        console.print(t if r["source_health"] else "sources: none polled yet (sinoscope run --once)")
    rec = r["recent"]
    if "error" in rec:
        console.print(f"[red]results store unreachable ({st['results']}): {rec['error']}[/]")
    else:
        console.print(f"arrived: last hour {rec['hour']['articles']} articles / {rec['hour']['mentions']} mentions; "
                      f"last day {rec['day']['articles']} articles / {rec['day']['mentions']} mentions")
    if r.get("bus_error"):
        console.print(f"[red]bus unreachable ({st['bus']}): {r['bus_error']}[/]")
    else:
        _print_overview(r["topics"])
        console.print("backlog: " + "; ".join(f"{x['stage']} ({x['group']} on '{x['topic']}') {x['lag']} waiting"
                                              for x in r["stages"]))
        console.print((f"[yellow]dead letters: {r['dead_letters']}[/] on {r['dead_letters_where']}")
                      if r["dead_letters"] else "dead letters: none")
    a = r["alerts"]
    if a is None or (isinstance(a, dict) and a.get("last") is None and "error" not in a):
        console.print("alerts: none fired yet")
    elif "error" in a:
        console.print(f"[red]alert log unreadable ({st['alert_log']}): {a['error']}[/]")
    else:
        last = a["last"]
        console.print(f"last alert: {last['name']} {last['kind']} at {last['fired_at'][:16]} "
                      f"({'delivered' if last['delivered'] else 'no webhook configured' if not last['deliveries']['targets'] else 'NOT delivered'}; {a['total']} in all"
                      + (f", {a['deliveries_pending']} deliveries pending" if a["deliveries_pending"] else "")
                      + (f", {a['deliveries_failed']} given up: sinoscope alerts list" if a["deliveries_failed"] else "")
                      + ")")


alerts_app = typer.Typer(help="Sentiment-swing alerts: history, a pass on demand, a test webhook.",
                         no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")


@alerts_app.command("list")
def alerts_list(since: Optional[str] = typer.Option(None, "--since", help="Only alerts fired since (30d, ISO date)."),
                entity: Optional[str] = typer.Option(None, "--entity", help="Only this city or brand (id or alias)."),
                as_json: bool = typer.Option(False, "--json")) -> None:
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
        t.add_row(a["fired_at"][:16], f"{a['name']} [dim]{a['entity_id']}[/]", a["kind"],
                  _fmt(b.get("sentiment_mean")), _fmt(c.get("sentiment_mean")), str(a["volume"]),
                  "yes" if a["delivered"] else (f"{d['delivered']}/{d['targets']}, {d['failed']} failed" if d["targets"]
                                                else "no webhook"), a["id"])
    console.print(t if rows else "no alerts have fired")


def _fmt(v) -> str:
    return f"{v:+.2f}" if isinstance(v, (int, float)) else "-"


@alerts_app.command("run")
def alerts_run(webhook: Optional[list[str]] = WebhookOpt,
               as_of: Optional[str] = typer.Option(None, "--as-of", help="Detect as of this ISO time (replays)."),
               as_json: bool = typer.Option(False, "--json")) -> None:
    """One alert pass now: detect swings in the store, record them, deliver pending webhooks."""
    from datetime import datetime

    from sinks.alerts.run import alert_pass

    try:
        out = alert_pass(state.settings, list(webhook or []),
                         now=datetime.fromisoformat(as_of) if as_of else None).as_dict()
    except Exception as exc:  # the store or a bad time: say which
        fail(f"alert pass failed: {exc}", "run `sinoscope run --once` first so the store exists; --as-of takes ISO time")
    if as_json:
        print(json.dumps(out, ensure_ascii=False))
    else:
        _print_alert_pass(out)


@alerts_app.command("test")
def alerts_test(url: str = typer.Argument(..., help="Webhook URL ('slack+URL' for Slack's format)."),
                as_json: bool = typer.Option(False, "--json")) -> None:
    """Send a sample alert (kind sentiment_drop, entity city:chengdu, id starting 'test-') to URL."""
    from datetime import datetime, timezone

    from sinks.alerts.run import sender
    from sinks.alerts.webhook import DeliveryError, Target, sample_alert

    target = Target.parse(url)
    send = sender(state.settings)
    try:
        attempts = send.send(target, sample_alert(datetime.now(timezone.utc)))
    except DeliveryError as exc:
        fail(f"{target.url} did not accept the sample alert: {exc}", "check the URL and that the receiver answers 2xx")
    finally:
        send.close()
    signed = state.settings.webhook_secret is not None
    if as_json:
        print(json.dumps({"url": target.url, "format": target.format, "attempts": attempts, "signed": signed}))
    else:
        console.print(f"sent a sample alert to {target.url} ({target.format}, {attempts} attempt(s), "
                      + ("signed" if signed else "UNSIGNED: set SINOSCOPE_WEBHOOK_SECRET") + ")")


@bus_app.command("peek")
def bus_peek(topic: str, limit: int = typer.Option(5, "--limit", "-n"),
             as_json: bool = typer.Option(False, "--json", help="One JSON message per line.")) -> None:
    """Print the first messages of a topic (does not commit anything)."""
    from sinoscope.bus import open_bus

    with open_bus(state.settings) as bus:
        if topic not in bus.topics():
            fail(f"no topic {topic!r}; topics: {', '.join(bus.topics()) or 'none yet'}",
                 "run `sinoscope ingest --once` first, or check the name")
        records = bus.read(topic, limit=limit)
    for r in records:
        value = json.loads(r.value)
        if as_json:
            print(json.dumps(value, ensure_ascii=False))
        else:
            title = value.get("title") or value.get("reason") or ""
            console.print(f"[dim]{r.topic}/{r.partition}@{r.offset}[/] {r.key}  {title[:100]}")


if __name__ == "__main__":  # pragma: no cover
    app()
