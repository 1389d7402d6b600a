"""Helpers for the alert tests: mention records with chosen sentiment written into the real
embedded store, and a webhook receiver on a local HTTP server that records what it got."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timedelta

from records import enriched  # re-exported: the alert tests import it from here
from werkzeug.wrappers import Request, Response

from sinks.duckdb.store import DuckDBStore
from sinoscope.core.schemas import Enriched


def steady(
    entity: str,
    now: datetime,
    days: int = 28,
    per_day: int = 6,
    score: float = 0.3,
    spread: float = 0.2,
    prefix: str = "",
) -> list[Enriched]:
    """Weeks of steady coverage before the current window: per_day articles a day, one mention each."""
    out = []
    for d in range(2, days + 2):
        for k in range(per_day):
            s = score + spread * ((k % 3) - 1)
            out.append(enriched(f"{prefix}{entity}-d{d}-{k}", now - timedelta(days=d, hours=k + 1), [(entity, s)]))
    return out


def window(
    entity: str, now: datetime, n: int, score: float, spread: float = 0.15, prefix: str = "w", hours: float = 40
) -> list[Enriched]:
    """n articles in the last `hours`, one mention each."""
    return [
        enriched(
            f"{prefix}{entity}-{i}",
            now - timedelta(hours=hours * (i + 0.5) / n),
            [(entity, max(-1.0, min(1.0, score + spread * ((i % 3) - 1))))],
        )
        for i in range(n)
    ]


def store(settings, records: list[Enriched]) -> None:
    st = DuckDBStore(settings.path("store.duckdb"))
    try:
        st.write(records)
    finally:
        st.close()


class Receiver:
    """A webhook receiver: answers `fail_first` requests with 500, then 200, and keeps them all."""

    def __init__(self, httpserver, path: str = "/hook", fail_first: int = 0, status: int = 500) -> None:
        self.requests: list[dict] = []
        self.fail_first, self.status = fail_first, status
        self.url = httpserver.url_for(path)
        httpserver.expect_request(path, method="POST").respond_with_handler(self.handle)

    def handle(self, request: Request) -> Response:
        body = request.get_data()
        ok = len(self.requests) >= self.fail_first
        self.requests.append({"body": body, "headers": dict(request.headers), "ok": ok})
        return Response("ok" if ok else "boom", status=200 if ok else self.status)

    @property
    def accepted(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests if r["ok"]]


def stop(proc: subprocess.Popen, grace_s: float = 60) -> None:
    """Stop a `sinoscope serve` (or any child): SIGTERM, and a kill if it has not gone in ``grace_s``."""
    proc.terminate()
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
