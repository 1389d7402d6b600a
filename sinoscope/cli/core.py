"""The shared parts of the ``sinoscope`` command: the app, global options, settings, errors and
the helpers several command groups use (entity lookup, periods, the query layer, bus overview)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..core.settings import ConfigError, Settings, load_settings

app = typer.Typer(
    help=(
        "Sinoscope: monitor how overseas media speak of Chinese cities and brands.\n\n"
        "The pipeline: ingest (feeds -> articles) -> nlp (mentions + sentiment) -> sinks (store) "
        "-> trends, reports and alerts. With no configuration everything runs on this machine "
        "on a bundled sample corpus; see docs/ingest.md and docs/operations.md to point it at real feeds or a Kafka/"
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
                self._settings = load_settings(
                    self.config, data_dir=self.data_dir, **({"bus": self.bus} if self.bus else {})
                )
            except ConfigError as exc:
                fail(str(exc), "fix the file or variable named above")
        return self._settings


state = State()


def fail(message: str, hint: str = "", code: int = 2) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}")  # messages quote feeds, URLs, servers: text, not markup
    if hint:
        err.print(f"  what to do: {escape(hint)}")
    raise typer.Exit(code)


@app.callback()
def main(
    config: Optional[Path] = typer.Option(None, "--config", help="YAML settings file (also SINOSCOPE_CONFIG)."),
    data_dir: Optional[Path] = typer.Option(
        None,
        "--data-dir",
        envvar="SINOSCOPE_DATA_DIR",
        help="Where all embedded state lives (bus, store, feed state). Default: a per-user data directory.",
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what each stage does."),
    bus: Optional[str] = typer.Option(None, "--bus", help="embedded (default) or kafka (also SINOSCOPE_BUS__KIND)."),
    bootstrap: Optional[str] = typer.Option(None, "--bootstrap", help="Kafka bootstrap host:port (with --bus kafka)."),
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
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


# -- trends -------------------------------------------------------------------------------
def _entity(query: str):
    from nlp.entities.catalogue import load_catalogue

    e = load_catalogue(state.settings.nlp.catalogues).resolve(query)
    if e is None:
        fail(f"no city or brand called {query!r}", "use an id (city:chongqing) or any alias (Chungking, 重庆)")
    return e


def _queries():
    """The query layer of the configured store (embedded DuckDB or Elasticsearch)."""
    from sinks.query import open_queries

    return open_queries(state.settings)


def _ask(query: str, *args, **kwargs) -> dict:
    """One query on the configured store, opened for it and closed after; a bad argument
    (an unknown interval or breakdown) is a clear error."""
    from sinks.base import StoreError

    store = _queries()
    try:
        return getattr(store, query)(*args, **kwargs)
    except ValueError as exc:
        fail(str(exc))
    except StoreError as exc:
        fail(str(exc), f"is {exc.where} up? (sinoscope status)")
    finally:
        store.close()


def _since(value: str):
    from sinks.query import parse_since

    try:
        return parse_since(value)
    except ValueError:
        fail(f"--since {value!r}", "use 30d, 12h, 8w or an ISO date like 2026-09-01")


def _print_overview(topics: list[dict]) -> None:
    t = Table("topic", "partitions", "messages", "consumer groups (lag)")
    for x in topics:
        t.add_row(
            x["topic"],
            str(x["partitions"]),
            str(x["messages"]),
            ", ".join(f"{g}: {lag}" for g, lag in x["lag"].items()) or "-",
        )
    console.print(t)
