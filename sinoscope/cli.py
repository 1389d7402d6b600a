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
    config: Path | None = None
    data_dir: Path | None = None
    _settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = load_settings(self.config, data_dir=self.data_dir)
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
) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    state.config, state.data_dir, state._settings = config, data_dir, None


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
) -> None:
    """Poll the feeds, extract and de-duplicate articles, publish them to the bus."""
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
def run(
    once: bool = typer.Option(False, "--once", help="One pass of the whole pipeline, then exit."),
    sources: Optional[Path] = SourcesOpt,
    interval: float = typer.Option(300.0, "--interval", help="Seconds between passes without --once."),
) -> None:
    """Run the whole pipeline (as far as it is built: ingest; NLP and storage come next)."""
    while True:
        summary, settings = _ingest_once(sources, force=False)
        _print_ingest_summary(summary, settings)
        if once:
            return
        time.sleep(interval)


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


# -- bus ----------------------------------------------------------------------------------
bus_app = typer.Typer(help="Look inside the bus: topics, consumer groups, messages.", no_args_is_help=True)
app.add_typer(bus_app, name="bus")


@bus_app.command("topics")
def bus_topics(as_json: bool = typer.Option(False, "--json")) -> None:
    """Topics with message counts, and consumer groups with their lag."""
    from sinoscope.bus import open_bus

    with open_bus(state.settings) as bus:
        topics = []
        for name in bus.topics():
            s = bus.stats(name)
            groups = {}
            for grp, topic in getattr(bus, "groups", lambda: [])():
                if topic == name:
                    groups[grp] = sum(bus.group_lag(grp, name).values())
            topics.append({"topic": name, "partitions": s.partitions, "messages": s.messages, "lag": groups})
    if as_json:
        console.print_json(json.dumps({"topics": topics}))
        return
    t = Table("topic", "partitions", "messages", "consumer groups (lag)")
    for x in topics:
        t.add_row(x["topic"], str(x["partitions"]), str(x["messages"]),
                  ", ".join(f"{g}: {lag}" for g, lag in x["lag"].items()) or "-")
    console.print(t)


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
