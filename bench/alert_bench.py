"""Alert latency under ``sinoscope serve``: from the ingest fetch that brings a story to its signed webhook.

    .venv/bin/python bench/alert_bench.py [--bursts 8] [--background 200] [--ingest-every 20] [--keep]

A local HTTP feed server (loopback, allowed through the fetch guard's allowlist) serves one RSS
feed that holds four weeks of warm coverage for several cities; a local receiver takes the
webhooks and checks their signatures. ``sinoscope serve`` runs as a user runs it (its own local
Prefect server, the ingest schedule, the enrich and sink workers with streaming swing detection).
Then, one burst at a time, two days of bad news about the next city are added to the feed (with
``--background`` ordinary stories about other cities, the rest of that tick's news); the
latency of a burst is the time from the first fetch that served it to its ``sentiment_drop``
webhook. Burst 0 rides in the first fetch with the whole backlog (printed apart as start-up);
printed: each burst's latency, the median, p95 and max over the rest.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from alerting import stop  # noqa: E402
from planted import NEGATIVE, POSITIVE, _filler  # noqa: E402  (the test corpus's sentences)

from sinks.alerts.webhook import SIGNATURE_HEADER, verify  # noqa: E402

SINOSCOPE = str(Path(sys.executable).parent / "sinoscope")
CITIES = ["Chengdu", "Wuhan", "Nanjing", "Qingdao", "Xiamen", "Kunming", "Harbin", "Changsha", "Zhengzhou", "Hefei",
          "Guiyang", "Lanzhou", "Nanning", "Shenyang", "Jinan", "Fuzhou"]  # fmt: skip
BACKGROUND = ["Shanghai", "Beijing", "Hangzhou", "Guangzhou", "Tianjin", "Suzhou", "Dalian", "Ningbo"]
SECRET = "bench-secret"


class Feed:
    """One RSS feed whose items grow burst by burst; every GET is logged with the burst it served."""

    def __init__(self, now: datetime, cities: list[str], days: int = 28, per_day: int = 4, window_n: int = 14) -> None:
        self.rng = random.Random(5)
        self.now, self.window_n = now, window_n
        self.items: list[str] = []
        self.n = 0
        self.served = -1  # the last burst added
        self.fetches: list[tuple[float, int]] = []  # (monotonic time, bursts served through)
        self.lock = threading.Lock()
        for city in cities:
            for d in range(days):
                for k in range(per_day):
                    self._add(city, now - timedelta(days=d + 2, hours=3 * k + 1), self.rng.choice(POSITIVE))

    def _add(self, city: str, when: datetime, sentence: str) -> None:
        self.n += 1
        text = f"{sentence.format(c=city)} {_filler(self.rng)}"
        self.items.append(
            f"<item><title>{escape(city)} dispatch {self.n}</title><link>https://bench.example/a/{self.n}</link>"
            f"<guid>https://bench.example/a/{self.n}</guid><pubDate>{format_datetime(when)}</pubDate>"
            f"<description>{escape(text[:60])}</description><content:encoded>{escape(text)}</content:encoded></item>"
        )

    def burst(self, city: str, k: int, background: int = 0) -> None:
        """Two days of bad news about ``city``, dated up to now, among ``background`` ordinary stories
        about other cities (the same tick's other news, which the pipeline works through too)."""
        now = datetime.now(UTC)
        with self.lock:
            for i in range(self.window_n):
                self._add(city, now - timedelta(hours=40 * (i + 0.5) / self.window_n), NEGATIVE[i % len(NEGATIVE)])
            for _ in range(background):
                other = self.rng.choice(BACKGROUND)
                self._add(other, now - timedelta(minutes=self.rng.randint(1, 600)), self.rng.choice(POSITIVE))
            self.served = k

    def body(self) -> tuple[bytes, int]:
        with self.lock:
            xml = (
                '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
                'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>Bench wire</title>'
                "<link>https://bench.example/</link><description>bench</description>"
                + "".join(reversed(self.items))
                + "</channel></rss>"
            )
            return xml.encode("utf-8"), self.served


class Hooks:
    """Webhook arrivals: (monotonic time, entity id, kind), signature checked."""

    def __init__(self) -> None:
        self.got: list[tuple[float, str, str]] = []
        self.unsigned = 0


def servers(feed: Feed, hooks: Hooks) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a) -> None:  # quiet
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body, served = feed.body()
            feed.fetches.append((time.monotonic(), served))
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if verify(body, self.headers.get(SIGNATURE_HEADER, ""), SECRET):
                alert = json.loads(body)
                hooks.got.append((time.monotonic(), alert.get("entity_id", ""), alert.get("kind", "")))
            else:
                hooks.unsigned += 1
            self.send_response(200)
            self.end_headers()

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(hooks: Hooks, entity: str, deadline: float, proc: subprocess.Popen) -> float | None:
    while time.monotonic() < deadline and proc.poll() is None:
        for t, eid, kind in hooks.got:
            if eid == entity and kind == "sentiment_drop":
                return t
        time.sleep(0.2)
    return None


def first_fetch(feed: Feed, k: int) -> float | None:
    return next((t for t, served in feed.fetches if served >= k), None)


def p95(values: list[float]) -> float:
    """Nearest-rank 95th percentile."""
    s = sorted(values)
    return s[max(0, math.ceil(0.95 * len(s)) - 1)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bursts", type=int, default=8, help="Bursts measured after the start-up one.")
    ap.add_argument("--ingest-every", type=float, default=20.0, help="serve's ingest interval (seconds).")
    ap.add_argument("--background", type=int, default=200, help="Other stories fetched with each burst.")
    ap.add_argument("--timeout", type=float, default=240.0, help="Give up on a burst after this long.")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    if args.bursts + 1 > len(CITIES):
        raise SystemExit(f"at most {len(CITIES) - 1} bursts (one city each)")
    cities = CITIES[: args.bursts + 1]
    tmp = Path(tempfile.mkdtemp(prefix="alertbench-"))
    feed, hooks = Feed(datetime.now(UTC), cities), Hooks()
    httpd = servers(feed, hooks)
    host, port = httpd.server_address[:2]
    sources = tmp / "sources.yaml"
    sources.write_text(
        f"sources:\n- name: bench-wire\n  url: http://{host}:{port}/wire.rss\n  outlet: Bench Wire\n"
        "  country: GB\n  language: en\n",
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp / "prefect"),
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "SINOSCOPE_INGEST__SOURCES_FILE": str(sources),
        "SINOSCOPE_INGEST__PRIVATE_NETWORK_ALLOWLIST": '["127.0.0.1/32"]',
        "SINOSCOPE_INGEST__PER_HOST_INTERVAL_S": "0",
        "SINOSCOPE_WEBHOOK_SECRET": SECRET,
    }
    env.pop("PREFECT_API_URL", None)
    feed.burst(cities[0], 0)  # rides in the first fetch, with the backlog
    started = time.monotonic()
    log = (tmp / "serve.log").open("w")
    proc = subprocess.Popen(
        [SINOSCOPE, "--data-dir", str(tmp / "data"), "serve", "--webhook", f"http://{host}:{port}/hook",
         "--prefect-port", str(free_port()), "--ui-port", "0", "--ingest-every", str(args.ingest_every)],
        env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    latencies: list[float] = []
    print(f"\nsinoscope alert latency under serve (ingest every {args.ingest_every:g} s), {os.cpu_count()} CPU cores")
    try:
        for k, city in enumerate(cities):
            if k:
                feed.burst(city, k, args.background)
            got = wait_for(
                hooks, f"city:{city.lower()}", time.monotonic() + args.timeout + (120 if k == 0 else 0), proc
            )
            fetched = first_fetch(feed, k)
            if got is None or fetched is None:
                tail = (tmp / "serve.log").read_text(errors="replace")[-3000:]
                raise SystemExit(f"burst {k} ({city}): no webhook within {args.timeout:.0f} s; serve said:\n{tail}")
            if k == 0:
                print(f"  start-up: serve started -> first fetch {fetched - started:6.1f} s, -> first webhook "
                      f"{got - started:6.1f} s (first fetch: {feed.n:,} articles)")  # fmt: skip
            else:
                latencies.append(got - fetched)
                print(f"  burst {k} ({city:<9}) fetch -> signed webhook {got - fetched:6.1f} s")
    finally:
        stop(proc)
        httpd.shutdown()
        log.close()
    if latencies:
        s = sorted(latencies)
        print(
            f"\n  {len(s)} bursts: median {s[len(s) // 2]:.1f} s, p95 {p95(s):.1f} s, max {s[-1]:.1f} s "
            f"(target: p95 <= 120 s); unsigned or bad signatures: {hooks.unsigned}"
        )
    if args.keep:
        print(f"  kept in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
