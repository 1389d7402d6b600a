"""The web app command."""

from __future__ import annotations

import typer

from .core import app, console, state

HostOpt = typer.Option("127.0.0.1", "--host", help="Address to bind (default loopback only: pages show all data).")
PortOpt = typer.Option(8765, "--port", help="Port of the web app.")


@app.command()
def ui(host: str = HostOpt, port: int = PortOpt) -> None:
    """The local web app: search, entity pages (trend with alerts, stories, breakdowns), ranking,
    alerts and source health, each with a shareable URL and a CSV link. Ctrl-C stops."""
    from sinoscope.ui.server import server

    console.print(f"Sinoscope web app on http://{host}:{port}/ (store: {state.settings.sink.kind}); Ctrl-C stops")
    server(state.settings, host, port).run()
