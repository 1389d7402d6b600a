"""A local Prefect server started by sinoscope itself (imports no Prefect: it must start before
Prefect loads its settings, so that PREFECT_API_URL points at it)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from . import prefect_db


class LocalServer:
    """A Prefect server on loopback with its database in the data directory, stopped with the
    command that started it.

    Two kinds: the full server (``prefect server start``: UI, scheduler) for `sinoscope serve`,
    whose schedules need a server's scheduler; and ``api_only``, the API alone as Prefect's own
    ephemeral mode runs it (same app, same flags), for `sinoscope run`. Started here rather than
    by Prefect on the first flow call, the server's start (seconds; its migrations on a fresh
    data dir) overlaps the command's own imports and the model load: ``spawn`` returns at once,
    ``wait`` (or entering the context) blocks until the API answers."""

    def __init__(self, home, port: int = 4200, startup_s: float = 120, api_only: bool = False) -> None:
        self.home, self.port, self.startup_s, self.api_only = home, port, startup_s, api_only
        self.proc: subprocess.Popen | None = None
        self.fresh = False
        self.url = f"http://127.0.0.1:{port}/api"

    def spawn(self) -> LocalServer:
        """Start the server process and point PREFECT_API_URL at it; does not wait for it."""
        self.fresh = not (Path(self.home) / prefect_db.DB).exists()  # this start migrates a new database
        log_file = open(Path(self.home) / "server.log", "ab")
        env = {**os.environ, "PREFECT_HOME": str(self.home), "PREFECT_API_URL": self.url}
        if self.api_only:  # as prefect.server.api.server.SubprocessASGIServer runs its ephemeral API
            env.update({"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"})
            args = [sys.executable, "-m", "uvicorn", "--factory", "prefect.server.api.server:create_app"]
            args += ["--host", "127.0.0.1", "--port", str(self.port), "--log-level", "error", "--lifespan", "on"]
        else:
            prefect = Path(sys.executable).parent / "prefect"
            args = [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(self.port)]
        self.proc = subprocess.Popen(
            args,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        log_file.close()  # the child holds its own copy
        os.environ["PREFECT_API_URL"] = self.url
        if self.api_only:  # no UI to link runs to (it is off, and the server stops with the command)
            os.environ.setdefault("PREFECT_UI_URL", "")
        return self

    def wait(self) -> None:
        """Block until the API answers; a clear error (and the server stopped) if it never does."""
        import httpx

        assert self.proc is not None, "spawn() first"
        deadline = time.time() + self.startup_s
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"the local Prefect server exited (code {self.proc.returncode}); "
                    f"see {Path(self.home) / 'server.log'} (port {self.port} in use? set --prefect-port)"
                )
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    if self.fresh and self.api_only:  # migrated, and no flow has run yet
                        prefect_db.keep(Path(self.home))
                    return
            except httpx.HTTPError:
                pass
            if time.time() > deadline:
                self.__exit__()
                raise RuntimeError(
                    f"the local Prefect server did not answer within {self.startup_s:.0f}s; "
                    f"see {Path(self.home) / 'server.log'}"
                )
            time.sleep(0.1)

    def __enter__(self) -> LocalServer:
        if self.proc is None:
            self.spawn()
        self.wait()
        return self

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except Exception:  # noqa: BLE001 - a server that will not stop is killed
                self.proc.kill()


def free_port() -> int:
    """A loopback port free now (the OS's choice), for a server started a moment later."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """In the server's process before exec: Linux sends it SIGTERM when its parent dies, so a
    command that is killed (SIGKILL skips ``__exit__``) leaves no orphaned server holding the port."""
    import ctypes
    import signal

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
