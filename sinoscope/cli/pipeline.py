"""Commands that move articles: ingest, run (one pass of the pipeline as Prefect flows), serve,
worker, sources."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from ..core.settings import ConfigError, Settings
from .core import (
    BootstrapOpt,
    BusOpt,
    _bus_overrides,
    app,
    console,
    err,
    fail,
    state,
)

# -- ingest -----------------------------------------------------------------------------
SourcesOpt = typer.Option(
    None,
    "--sources",
    help="YAML sources file (default: the bundled sample corpus; ingest/sources.yaml lists real overseas feeds).",
)


def _load_sources(path: Path | None):
    from ingest.sources import SourcesError, load_sources

    settings = state.settings
    try:
        return load_sources(path or settings.ingest.sources_file, settings.ingest.query_entities)
    except SourcesError as exc:
        fail(str(exc), "fix the sources file (format: sources: [{name, url, outlet, country, language}])")


def _ingest_once(sources_file: Path | None, force: bool, quiet: bool = False):
    from sinoscope.core.bus import BusError

    try:
        return _ingest_pass(sources_file, force, quiet)
    except BusError as exc:
        fail(
            f"the bus refused the articles: {exc}",
            "check the data directory (disk full? permissions?) "
            "or the broker; nothing was recorded as done, so the next run retries",
            code=1,
        )


def _ingest_pass(sources_file: Path | None, force: bool, quiet: bool):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from ingest.runner import IngestRunner
    from sinoscope.core.bus import open_bus

    settings = state.settings
    sources = _load_sources(sources_file)
    with open_bus(settings) as bus:
        runner = IngestRunner(settings, bus)
        try:
            with Progress(
                TextColumn("ingest"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[last]}"),
                console=err,
                disable=quiet,
                transient=False,
            ) as progress:
                task = progress.add_task("sources", total=len(sources), last="")

                def tick(report):
                    progress.update(task, advance=1, last=f"{report.name}: {report.outcome} (+{report.new})")

                summary = runner.run(sources, force=force, on_source=tick)
        finally:
            runner.close()
    return summary, settings


def _print_ingest_summary(summary, settings: Settings) -> None:
    t = Table(title="ingest summary", show_header=False)
    t.add_row(
        "sources polled",
        f"{summary.polled} of {summary.sources}" + (f" ({len(summary.skipped)} skipped)" if summary.skipped else ""),
    )
    t.add_row("unchanged since last poll", str(summary.not_modified))
    t.add_row("entries", str(summary.entries))
    t.add_row("new articles published", str(summary.new_articles))
    t.add_row("duplicates (same URL)", str(summary.exact_duplicates))
    t.add_row("syndicated copies linked", str(summary.near_duplicates))
    t.add_row("pages fetched for full text", str(summary.pages_fetched))
    t.add_row("links refused by the fetch guard", str(len(summary.blocked)))
    t.add_row("errors", str(len(summary.errors)))
    t.add_row("dead-lettered entries", str(summary.dead_lettered))
    console.print(t)
    for name, msg in summary.errors:  # messages quote feeds and servers: printed as text, not markup
        console.print(f"[red]error[/] {escape(name)}: {escape(msg)}")
    for name, msg in summary.warnings:
        console.print(f"[yellow]warning[/] {escape(name)}: {escape(msg)}")
    for name, why in summary.blocked:
        console.print(f"[yellow]not fetched[/] {escape(name)}: {escape(why)} (entry kept with its feed summary)")
    for name, why in summary.skipped:
        console.print(f"[dim]skipped[/] {escape(name)}: {escape(why)}")
    for name, msg in summary.flagged:
        console.print(f"[bold red]FLAGGED[/] {escape(name)} is {escape(msg)}")
    if summary.dead_lettered:
        console.print(
            f"dead letters are on topic '{summary.dead_letter_topic}' "
            f"(bus: {settings.bus.kind}, data dir {settings.data_dir}); "
            f"see them with: sinoscope bus peek {summary.dead_letter_topic}"
        )


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


@app.command()
def backfill(
    since: str = typer.Option("90d", "--since", help="How far back: 90d, 12w or an ISO date."),
    sources: Optional[Path] = SourcesOpt,
    source: Optional[list[str]] = typer.Option(None, "--source", help="Only this source (repeatable)."),
    bus: Optional[str] = BusOpt,
    bootstrap: Optional[str] = BootstrapOpt,
) -> None:
    """Fetch the past from sitemaps and GDELT (newest first): resumable after a stop, throttled,
    and never publishing what live ingest (or an earlier backfill) already did."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from ingest.backfill import Backfill, BackfillError
    from ingest.runner import IngestRunner
    from sinoscope.core.bus import open_bus

    from .core import _since

    _bus_overrides(bus, bootstrap)
    settings = state.settings
    chosen = _load_sources(sources)
    if source:
        unknown = sorted(set(source) - {s.name for s in chosen})
        if unknown:
            fail(f"no source named {', '.join(unknown)}", "see `sinoscope sources`")
        chosen = [s for s in chosen if s.name in source]
    start = _since(since)
    with open_bus(settings) as b:
        runner = IngestRunner(settings, b)
        try:
            with Progress(
                TextColumn("backfill"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                TextColumn("{task.fields[last]}"), console=err,
            ) as bar:  # fmt: skip
                task = bar.add_task("backfill", total=None, last="")
                published = 0

                def on_unit(unit, done, total, n):
                    nonlocal published
                    published += n
                    bar.update(task, total=total, completed=done, last=f"{unit.source.name} {unit.key}: +{n}")

                report = Backfill(runner).run(chosen, start, on_unit)
        except BackfillError as exc:
            fail(str(exc), "the progress so far is kept: the same command resumes", code=1)
        finally:
            runner.close()
    s = report.summary
    console.print(
        f"backfill since {start:%Y-%m-%d}: {report.units} units read ({report.done_before} done before), "
        f"{s.new_articles} new articles published, {s.exact_duplicates} already seen, "
        f"{s.near_duplicates} syndicated copies linked"
    )
    if report.skipped_sources:
        console.print(f"feeds have no history to walk, left out: {', '.join(report.skipped_sources)}")


WebhookOpt = typer.Option(
    None,
    "--webhook",
    help="Send swing alerts to this URL too (repeatable; "
    "'slack+URL' for Slack's format). Signed with SINOSCOPE_WEBHOOK_SECRET.",
)


def _prefect(settings: Settings, webhooks: list[str] | None = None):
    """Prefect's state lives in the data directory; imported only by the commands that need it.

    Webhook URLs (a Slack one is a credential) reach the flows through this process's
    environment, which flow runs inherit, never as flow parameters, which Prefect stores and shows."""
    import os

    import flows

    flows.configure(settings.data_dir, state.verbose)
    if webhooks:
        known = list(settings.alerts.webhooks)
        os.environ["SINOSCOPE_ALERTS__WEBHOOKS"] = json.dumps(known + [w for w in webhooks if w not in known])
    from flows.settings import overrides_of

    return overrides_of(settings)


def _flow_errors():
    from ingest.sources import SourcesError
    from sinks.base import StoreError
    from sinoscope.core.bus import BusError

    return SourcesError, StoreError, BusError, ConfigError


@app.command()
def run(
    once: bool = typer.Option(False, "--once", help="One pass of the whole pipeline, then exit."),
    sources: Optional[Path] = SourcesOpt,
    interval: float = typer.Option(300.0, "--interval", help="Seconds between passes without --once."),
    webhook: Optional[list[str]] = WebhookOpt,
    as_of: Optional[str] = typer.Option(
        None, "--as-of", hidden=True, help="Detect swings as of this ISO time (replays)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print each pass's summary as JSON."),
    bus: Optional[str] = BusOpt,
    bootstrap: Optional[str] = BootstrapOpt,
) -> None:
    """The whole pipeline as Prefect flows: ingest, the NLP stage, the store, then swing alerts.

    Runs on Prefect's ephemeral API (started here, no server needed) unless PREFECT_API_URL names a
    server; `sinoscope serve` runs it on schedules."""
    import atexit
    import os

    _bus_overrides(bus, bootstrap)
    settings = state.settings
    overrides = _prefect(settings, list(webhook or []))
    server = None
    if not os.environ.get("PREFECT_API_URL"):  # Prefect's ephemeral API, started now so that it starts
        from flows.local_server import LocalServer, free_port  # while the model loads

        server = LocalServer(os.environ["PREFECT_HOME"], free_port(), api_only=True).spawn()
        atexit.register(server.__exit__)  # after Prefect's exit hooks, which send it the last logs and events
    from flows import progress
    from flows.pipeline import pipeline_flow
    from ingest import offload

    offload.warm(settings.ingest.parse_processes)  # the parse workers start beside the model load
    if settings.nlp.sentiment:
        from nlp.tagger import Tagger

        Tagger.shared(settings.nlp).preload()  # the enrich stage in this process finds it loaded
    errors = _flow_errors()
    if server:
        try:
            server.wait()
        except RuntimeError as exc:
            fail(str(exc), "see the server's log named above; PREFECT_API_URL can point at a Prefect server instead")
    while True:
        try:
            with _live_progress(progress):
                out = pipeline_flow(
                    str(state.config) if state.config else None, overrides, str(sources) if sources else None, as_of
                )
        except errors as exc:
            where = getattr(exc, "where", None)
            fail(
                str(exc),
                f"check {where}; nothing was committed, the next run retries"
                if where
                else "fix the file, setting or service named above; the next run retries what did not finish",
                code=1,
            )
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
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.mod = progress_mod
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[last]}"),
            console=err,
        )
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
def worker(
    stage: str = typer.Argument(..., help="enrich or sink"),
    bus: Optional[str] = BusOpt,
    bootstrap: Optional[str] = BootstrapOpt,
) -> None:
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
    console.print(
        f"nlp: enriched {e['enriched']} articles"
        + (
            f", dead-lettered {e['dead_lettered']} (topic '{settings.bus.topics.dead_letter}')"
            if e["dead_lettered"]
            else ""
        )
    )
    _print_store(out["store"], settings)
    _print_alert_pass(out["alerts"])


def _print_alert_pass(a: dict) -> None:
    from sinoscope.core.redact import redact

    fired = ", ".join(f"{x['name']} {x['kind']} ({x['id']})" for x in a["fired"]) or "none"
    console.print(
        f"alerts: {a['evaluated']} entities checked; fired: {fired}; webhooks delivered {a['delivered']}"
        + (f", failed {len(a['failed'])} (retried next pass)" if a["failed"] else "")
        + (f", gave up {a['gave_up']}" if a["gave_up"] else "")
    )
    for f in a["failed"]:
        console.print(f"[yellow]webhook[/] {redact(f['target'])}: {f['error']} (alert {f['alert_id']})")


@app.command()
def serve(
    webhook: Optional[list[str]] = WebhookOpt,
    ingest_every: float = typer.Option(300.0, "--ingest-every", help="Seconds between ingest runs."),
    alerts_every: float = typer.Option(300.0, "--alerts-every", help="Seconds between alert runs."),
    workers: bool = typer.Option(True, "--workers/--no-workers", help="Also run the enrich and sink workers here."),
    prefect_port: int = typer.Option(
        4200, "--prefect-port", help="Port of the local Prefect server started when PREFECT_API_URL is not set."
    ),
    ui_port: int = typer.Option(8765, "--ui-port", help="Port of the web app (on 127.0.0.1); 0: no web app."),
    bus: Optional[str] = BusOpt,
    bootstrap: Optional[str] = BootstrapOpt,
) -> None:
    """Register the flows as Prefect deployments with schedules and run them until stopped, with the
    web app (`sinoscope ui`) on 127.0.0.1:8765.

    With PREFECT_API_URL set they run against that Prefect server (the stack); otherwise a local
    Prefect server is started for them (schedules need a server's scheduler)."""
    import os
    from contextlib import nullcontext

    _bus_overrides(bus, bootstrap)
    settings = state.settings
    overrides = _prefect(settings, list(webhook or []))
    from flows.local_server import LocalServer

    if ui_port:
        from sinoscope.ui.server import start_in_thread

        start_in_thread(settings, "127.0.0.1", ui_port)
        console.print(f"web app on http://127.0.0.1:{ui_port}/")
    server = nullcontext()
    if not os.environ.get("PREFECT_API_URL"):
        server = LocalServer(os.environ["PREFECT_HOME"], prefect_port)
        console.print(
            f"starting a local Prefect server (UI and API on http://127.0.0.1:{prefect_port}, "
            f"state in {os.environ['PREFECT_HOME']}); set PREFECT_API_URL to use your own"
        )
    try:
        with server:
            from flows.serve import serve_all  # Prefect loads its settings here, after PREFECT_API_URL is set

            console.print(
                f"serving: ingest every {ingest_every:g}s, alerts every {alerts_every:g}s, maintenance daily"
                + (", enrich and sink workers" if workers else "")
                + "; Ctrl-C stops"
            )
            serve_all(
                str(state.config) if state.config else None,
                overrides,
                ingest_every_s=ingest_every,
                alerts_every_s=alerts_every,
                workers=workers,
            )
    except RuntimeError as exc:
        fail(str(exc), "free the port or pass --prefect-port, or point PREFECT_API_URL at a Prefect server")


sources_app = typer.Typer(help="The sources: their health, and adding one from a site's URL.")
app.add_typer(sources_app, name="sources")


@sources_app.command("add")
def sources_add(
    url: str = typer.Argument(
        ..., help="A feed, a sitemap, or any page of the site (its feeds and sitemaps are found)."
    ),
    to: Path = typer.Option(..., "--sources", help="The sources file to add the entry to (created if missing)."),
    name: Optional[str] = typer.Option(None, "--name", help="The source's name (default: from the host)."),
    outlet: Optional[str] = typer.Option(None, "--outlet", help="Default: the site's name, else its host."),
    country: Optional[str] = typer.Option(None, "--country", help="ISO code; default: the country-code domain."),
    language: Optional[str] = typer.Option(None, "--language", help="ISO code; default: the page's <html lang>."),
) -> None:
    """Find the best source at a site (a feed it declares, else its news sitemap, else the page) and add it."""
    from ingest.discovery import DiscoveryError, add_to_file, describe, entry
    from ingest.http import Fetcher
    from ingest.sources import SourcesError

    fetcher = Fetcher(state.settings.ingest)
    try:
        new = entry(describe(url, fetcher), name, outlet, country, language)
        add_to_file(to, new)
    except (DiscoveryError, SourcesError) as exc:
        fail(str(exc))
    finally:
        fetcher.close()
    console.print(f"added to {to}: {escape(str(new))}", highlight=False)


@sources_app.callback(invoke_without_command=True)
def sources_cmd(
    ctx: typer.Context,
    sources: Optional[Path] = SourcesOpt,
    as_json: bool = typer.Option(False, "--json"),
    reset: Optional[str] = typer.Option(
        None, "--reset", help="Clear the health record of a source (e.g. to bring back a retired one)."
    ),
) -> None:
    """Health of every source: last success, last error, consecutive failures, entries seen."""
    if ctx.invoked_subcommand:
        return
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
            rows.append(
                {
                    "name": src.name,
                    "outlet": src.outlet,
                    "country": src.country,
                    "language": src.language,
                    "url": s.moved_to or src.url,
                    "status": s.status,
                    "last_success": s.last_success.isoformat() if s.last_success else None,
                    "last_error": s.last_error,
                    "failing_since": s.failing_since.isoformat() if s.failing_since else None,
                    "consecutive_failures": s.consecutive_failures,
                    "entries_seen": s.entries_seen,
                    "articles": s.articles_published,
                    "next_poll_after": s.next_poll_after.isoformat() if s.next_poll_after else None,
                    "warning": s.last_warning,
                }
            )
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
        t.add_row(
            escape(r["name"]),
            escape(r["outlet"]),
            r["language"],
            f"[{colour.get(r['status'], '')}]{r['status']}[/]",
            (r["last_success"] or "never")[:16],
            str(r["consecutive_failures"]),
            str(r["entries_seen"]),
            str(r["articles"]),
            escape((r["last_error"] or "")[:80]),
        )
    console.print(t)


def _store_pass(settings: Settings, until_idle: bool = True) -> None:
    """One sink stage run into the store the settings name (embedded DuckDB or Elasticsearch)."""
    from sinks.base import StoreError
    from sinks.stage import store_pass

    try:
        out = store_pass(settings, until_idle=until_idle, signals=True)
    except StoreError as exc:
        fail(str(exc), f"check {exc.where}; nothing was committed, the next run retries", code=1)
    _print_store(out, settings)


def _print_store(out: dict, settings: Settings) -> None:
    dead = (
        f"; dead-lettered {out['dead_lettered']} (topic '{settings.bus.topics.dead_letter}')"
        if out["dead_lettered"]
        else ""
    )
    if out["store"] == "elasticsearch":
        console.print(f"elasticsearch: wrote {out['written']} enriched articles to {settings.sink.es_url}{dead}")
    else:
        console.print(
            f"store: wrote {out['written']} enriched articles; it holds {out['articles']} articles and "
            f"{out['mentions']} mentions ({settings.path('store.duckdb')}){dead}"
        )
