"""Serving the web app with uvicorn: in the foreground (``sinoscope ui``) or beside ``serve``'s
flows in a thread. Bound to 127.0.0.1 unless a host is given: the pages show everything stored."""

from __future__ import annotations

import threading

from sinoscope.core.settings import Settings


def server(settings: Settings, host: str = "127.0.0.1", port: int = 8765):
    import uvicorn

    from .app import create_app

    return uvicorn.Server(uvicorn.Config(create_app(settings), host=host, port=port, log_level="warning"))


def start_in_thread(settings: Settings, host: str = "127.0.0.1", port: int = 8765) -> threading.Thread:
    """The app in a daemon thread (it ends with the process; uvicorn leaves signals to the main thread)."""
    srv = server(settings, host, port)
    thread = threading.Thread(target=srv.run, name="sinoscope-ui", daemon=True)
    thread.start()
    return thread
