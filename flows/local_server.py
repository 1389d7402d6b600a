"""A local Prefect server for `sinoscope serve` (imports no Prefect: it must start before Prefect
loads its settings, so that PREFECT_API_URL points at it)."""

from __future__ import annotations


class LocalServer:
    """A Prefect server for `sinoscope serve` on one machine (no PREFECT_API_URL): schedules need
    a server's scheduler, which Prefect's ephemeral mode does not run. Started as a subprocess on
    loopback with its database in the data directory, stopped when serving stops."""

    def __init__(self, home, port: int = 4200, startup_s: float = 120) -> None:
        self.home, self.port, self.startup_s = home, port, startup_s
        self.proc = None
        self.url = f"http://127.0.0.1:{port}/api"

    def __enter__(self) -> LocalServer:
        import os
        import subprocess
        import sys
        import time
        from pathlib import Path

        import httpx

        log_file = open(Path(self.home) / "server.log", "ab")
        env = {**os.environ, "PREFECT_HOME": str(self.home), "PREFECT_API_URL": self.url}
        prefect = Path(sys.executable).parent / "prefect"
        self.proc = subprocess.Popen(
            [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(self.port)],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        deadline = time.time() + self.startup_s
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"the local Prefect server exited (code {self.proc.returncode}); "
                    f"see {Path(self.home) / 'server.log'} (port {self.port} in use? set --prefect-port)"
                )
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline:
                self.__exit__()
                raise RuntimeError(
                    f"the local Prefect server did not answer within {self.startup_s:.0f}s; "
                    f"see {Path(self.home) / 'server.log'}"
                )
            time.sleep(0.5)
        os.environ["PREFECT_API_URL"] = self.url
        return self

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except Exception:  # noqa: BLE001 - a server that will not stop is killed
                self.proc.kill()


def _die_with_parent() -> None:
    """In the server's process before exec: Linux sends it SIGTERM when `serve` dies, so a serve that
    is killed (SIGKILL skips ``__exit__``) leaves no orphaned server holding the port."""
    import ctypes
    import signal

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
