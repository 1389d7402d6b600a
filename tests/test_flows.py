"""The Prefect flows run for real in Prefect's ephemeral mode (a temporary local Prefect API in
the test process, or in the `sinoscope` subprocess): the whole pass with a planted swing, the
ingest flow's per-source tasks with retries and per-host concurrency limits, maintenance."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alerting import Receiver
from conftest import SERVER_ALLOWLIST
from planted import write_corpus

from sinks.alerts.webhook import SIGNATURE_HEADER, verify

SINOSCOPE = str(Path(sys.executable).parent / "sinoscope")
SECRET = "flow-test-secret"
# credentials a user keeps in the environment: none may reach output, logs, status or Prefect's database
SECRET_ENV = {
    "SINOSCOPE_SINK__ES_PASSWORD": "es-password-7d1c",
    "PREFECT_API_AUTH_STRING": "admin:prefect-pass-4b2e",
    "SINOSCOPE_SINK__ES_URL": "http://elastic:url-password-9a8e@localhost:9200",
}


def cli(*args, data: Path, env=None):
    proc = subprocess.run(
        [SINOSCOPE, "--data-dir", str(data), *args],
        capture_output=True,
        text=True,
        timeout=400,
        env={**os.environ, "COLUMNS": "200", "SINOSCOPE_WEBHOOK_SECRET": SECRET, **SECRET_ENV, **(env or {})},
    )
    assert proc.returncode == 0, f"sinoscope {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def prefect_home(tmp_path_factory):
    """Prefect's state for the in-process flows: a throwaway home, set before Prefect loads."""
    import flows

    home = tmp_path_factory.mktemp("prefect")
    old = os.environ.get("PREFECT_HOME")
    os.environ["PREFECT_HOME"] = str(home)
    flows.configure(home)
    yield home
    if old is None:
        os.environ.pop("PREFECT_HOME", None)
    else:
        os.environ["PREFECT_HOME"] = old


@pytest.mark.slow
def test_run_once_replays_a_planted_drop_into_exactly_one_signed_webhook(tmp_path, httpserver):
    now = datetime.now(UTC)
    sources = write_corpus(tmp_path / "corpus", now)
    rx = Receiver(httpserver)
    data = tmp_path / "data"
    first = cli("run", "--once", "--json", "--sources", str(sources), "--webhook", rx.url, data=data)
    out = json.loads(first.stdout)
    assert out["ingest"]["new_articles"] == 2 * (28 * 4 + 14) and out["ingest"]["errors"] == []
    assert out["store"]["written"] == out["enrich"]["enriched"] == out["ingest"]["new_articles"]
    fired = out["alerts"]["fired"]
    assert [(a["entity_id"], a["kind"]) for a in fired] == [("city:chengdu", "sentiment_drop")]
    assert out["alerts"]["evaluated"] >= 2  # Hangzhou was looked at, and is stable
    assert len(rx.requests) == 1
    req = rx.requests[0]
    assert verify(req["body"], req["headers"][SIGNATURE_HEADER], SECRET)
    body = json.loads(req["body"])
    assert body["id"] == fired[0]["id"] and body["name"] == "Chengdu" and body["volume"] >= 12
    assert body["current"]["sentiment_mean"] < 0 < body["baseline"]["sentiment_mean"]
    assert all(s["url"].startswith("https://planted.example/") for s in body["stories"])

    listed = json.loads(cli("alerts", "list", "--json", data=data).stdout)["alerts"]
    assert [(a["id"], a["entity_id"], a["kind"], a["delivered"]) for a in listed] == [
        (body["id"], "city:chengdu", "sentiment_drop", True)
    ]
    assert {"id", "entity_id", "name", "kind", "fired_at", "delivered"} <= set(listed[0])

    # the next pass sees the same swing: no second alert, no second webhook
    again = json.loads(cli("run", "--once", "--json", "--sources", str(sources), "--webhook", rx.url, data=data).stdout)
    assert again["alerts"]["fired"] == [] and len(rx.requests) == 1
    assert (data / "prefect").is_dir()  # Prefect's ephemeral state stays in the data directory
    # the webhook URL (a credential for Slack) is not stored by Prefect as a flow parameter, and no
    # secret of the environment is in Prefect's database (parameters, logs), the output or status
    stored = b"".join(p.read_bytes() for p in (data / "prefect").rglob("*") if p.is_file())
    secrets = [rx.url, SECRET, "es-password-7d1c", "prefect-pass-4b2e", "url-password-9a8e"]
    assert not [s for s in secrets if s.encode() in stored]
    shown = [first.stdout + first.stderr] + [
        (lambda p: p.stdout + p.stderr)(cli(*args, data=data))
        for args in (["status"], ["status", "--json"], ["alerts", "list"])
    ]
    assert not [s for s in secrets if any(s in text for text in shown)]


@pytest.mark.slow
def test_ingest_flow_tasks_retry_a_5xx_and_hold_a_per_host_limit(prefect_home, tmp_path, httpserver):
    from prefect.client.orchestration import get_client

    from flows.ingest import host_limit, ingest_flow

    feed = (Path(__file__).parent / "data" / "feeds" / "rss_utf8.xml").read_bytes()
    calls = {"n": 0}

    def flaky(request):
        from werkzeug.wrappers import Response

        calls["n"] += 1
        return Response("busy", status=503) if calls["n"] == 1 else Response(feed, content_type="application/rss+xml")

    httpserver.expect_request("/flaky.rss").respond_with_handler(flaky)
    httpserver.expect_request("/gone.rss").respond_with_data("", status=404)
    (tmp_path / "sources.yaml").write_text(
        "sources:\n"
        f"- {{name: flaky, url: '{httpserver.url_for('/flaky.rss')}', outlet: Flaky, country: GB, language: en}}\n"
        f"- {{name: gone, url: '{httpserver.url_for('/gone.rss')}', outlet: Gone, country: GB, language: en}}\n"
    )
    overrides = {
        "data_dir": str(tmp_path / "data"),
        "ingest": {
            "task_retry_delays_s": [0.1, 0.1],
            "per_host_interval_s": 0,
            "fetch_full_text": False,
            "per_host_concurrency": 1,
            "private_network_allowlist": SERVER_ALLOWLIST,
        },
    }
    out = ingest_flow(None, overrides, str(tmp_path / "sources.yaml"))
    assert calls["n"] == 2  # the 503 was retried by Prefect, and the retry got the feed
    assert out["new_articles"] > 0 and out["polled"] == 2
    assert [name for name, _ in out["errors"]] == ["gone"]  # a 404 is not retried in-pass: backoff handles it
    assert len(httpserver.log) == 3
    with get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name(host_limit(httpserver.url_for("/")))
    assert limit.limit == 1 and limit.active_slots == 0  # every slot was given back


@pytest.mark.slow
def test_maintenance_flow_reports_unhealthy_sources_and_prunes_the_store(prefect_home, tmp_path, httpserver):
    from alerting import enriched, store

    from flows.ingest import ingest_flow
    from flows.maintenance import maintenance_flow
    from sinks.duckdb.store import DuckDBStore
    from sinoscope.core.settings import load_settings

    httpserver.expect_request("/gone.rss").respond_with_data("", status=410)
    (tmp_path / "sources.yaml").write_text(
        f"sources:\n- {{name: gone, url: '{httpserver.url_for('/gone.rss')}', outlet: Gone, country: GB, language: en}}\n"
    )
    overrides = {
        "data_dir": str(tmp_path / "data"),
        "sink": {"retention_days": 30},
        "ingest": {"private_network_allowlist": SERVER_ALLOWLIST},
    }
    ingest_flow(None, overrides, str(tmp_path / "sources.yaml"))
    now = datetime.now(UTC)
    settings = load_settings(data_dir=tmp_path / "data")
    store(
        settings,
        [
            enriched("old", now - timedelta(days=90), [("city:chengdu", 0.1)]),
            enriched("new", now - timedelta(days=2), [("city:chengdu", 0.1)]),
        ],
    )
    out = maintenance_flow(None, overrides)
    assert out["health"]["unhealthy"][0]["name"] == "gone" and out["health"]["unhealthy"][0]["status"] == "retired"
    assert out["retention"]["store_pruned"] == {"articles": 1, "mentions": 1}
    st = DuckDBStore(settings.path("store.duckdb"), read_only=True)
    assert st.counts() == {"articles": 1, "mentions": 1}
    st.close()


def test_serve_builds_scheduled_deployments(prefect_home):
    from flows.serve import deployments

    deps = {d.name: d for d in deployments(None, {"data_dir": "/tmp/x"})}
    assert set(deps) == {
        "sinoscope-ingest",
        "sinoscope-alerts",
        "sinoscope-maintenance",
        "sinoscope-enrich",
        "sinoscope-sink",
    }
    alerts = deps["sinoscope-alerts"]
    assert "webhooks" not in alerts.parameters  # webhook URLs (credentials) reach flows through the environment
    assert alerts.schedules[0].schedule.interval == timedelta(minutes=5)
    # the first ingest and alert passes run at start-up, not an interval later
    from datetime import UTC, datetime

    for name in ("sinoscope-ingest", "sinoscope-alerts"):
        anchor = deps[name].schedules[0].schedule.anchor_date
        assert abs((anchor - datetime.now(UTC)).total_seconds()) < 30, name
    assert deps["sinoscope-maintenance"].schedules[0].schedule.cron == "17 3 * * *"
    assert all(d.concurrency_limit == 1 for d in deps.values())
    assert deps["sinoscope-enrich"].concurrency_options.collision_strategy == "CANCEL_NEW"
    assert deps["sinoscope-enrich"].schedules[0].schedule.interval == timedelta(minutes=1)


@pytest.mark.slow
def test_ephemeral_mode_reclaims_a_slot_left_by_a_crashed_run(prefect_home, tmp_path, httpserver):
    """A run that died holding a host's only slot (its lease died with it: ephemeral mode runs
    no repossessor) must not block that host for good: the next pass reclaims the slot."""
    from prefect.client.orchestration import get_client

    from flows.ingest import host_limit, ingest_flow

    feed = (Path(__file__).parent / "data" / "feeds" / "rss_utf8.xml").read_bytes()
    httpserver.expect_request("/feed.rss").respond_with_data(feed, content_type="application/rss+xml")
    name = host_limit(httpserver.url_for("/"))
    with get_client(sync_client=True) as client:
        client.upsert_global_concurrency_limit_by_name(name, 1)
        client.increment_concurrency_slots_with_lease([name], 1, "concurrency", lease_duration=300)  # never released
        assert client.read_global_concurrency_limit_by_name(name).active_slots == 1
    (tmp_path / "sources.yaml").write_text(
        f"sources:\n- {{name: f, url: '{httpserver.url_for('/feed.rss')}', outlet: F, country: GB, language: en}}\n"
    )
    out = ingest_flow(
        None,
        {
            "data_dir": str(tmp_path / "data"),
            "ingest": {
                "per_host_concurrency": 1,
                "task_timeout_s": 20,
                "fetch_full_text": False,
                "private_network_allowlist": SERVER_ALLOWLIST,
            },
        },
        str(tmp_path / "sources.yaml"),
    )
    assert out["errors"] == [] and out["new_articles"] > 0
    with get_client(sync_client=True) as client:
        assert client.read_global_concurrency_limit_by_name(name).active_slots == 0


SERVER_HOLDER = """
import os, sys, time
from prefect.client.orchestration import get_client
from prefect.concurrency.sync import concurrency
with get_client(sync_client=True) as c:
    c.upsert_global_concurrency_limit_by_name(sys.argv[1], 1)
with concurrency(sys.argv[1], occupy=1, lease_duration=60, strict=True):
    print("held", flush=True)
    time.sleep(3600)
"""


@pytest.mark.slow
@pytest.mark.integration
def test_on_a_prefect_server_a_dead_holders_slot_is_released_when_its_lease_expires(tmp_path):
    """The stack's case, against a real `prefect server start`: a worker holding a host's slot
    is SIGKILLed; the server's repossessor frees the slot when the 60 s lease runs out."""
    import socket
    import time

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "server"),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_SERVICES_REPOSSESSOR_LOOP_SECONDS": "2",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    (tmp_path / "server").mkdir()
    prefect = str(Path(sys.executable).parent / "prefect")
    server = subprocess.Popen(
        [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    holder = None
    try:
        deadline = time.time() + 90
        while True:
            try:
                if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.time() < deadline, "prefect server did not start"
            time.sleep(0.5)
        holder = subprocess.Popen(
            [sys.executable, "-c", SERVER_HOLDER, "ingest-host-example-org"], env=env, stdout=subprocess.PIPE, text=True
        )
        assert holder.stdout.readline().strip() == "held"
        holder.kill()  # SIGKILL: no release, no lease renewal
        holder.wait()

        def slots() -> int:
            r = httpx.get(f"{api}/v2/concurrency_limits/ingest-host-example-org", timeout=5)
            return r.json()["active_slots"]

        assert slots() == 1
        deadline = time.time() + 120
        while slots():
            assert time.time() < deadline, "the dead holder's slot was never released"
            time.sleep(2)
    finally:
        if holder and holder.poll() is None:
            holder.kill()
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.integration
def test_serve_runs_the_scheduled_deployments_on_a_local_prefect_server(tmp_path):
    """`sinoscope serve` with no PREFECT_API_URL starts a local Prefect server (schedules need its
    scheduler), registers the deployments and runs them: the bundled corpus gets ingested and
    alert passes run, with no command but `serve`; SIGTERM stops it cleanly (exit 0, no traceback)."""
    import signal
    import socket
    import time

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        ui_port = sock.getsockname()[1]
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update({"PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "1", "COLUMNS": "200"})
    proc = subprocess.Popen(
        [
            SINOSCOPE,
            "--data-dir",
            str(data),
            "serve",
            "--ingest-every",
            "5",
            "--alerts-every",
            "5",
            "--no-workers",
            "--prefect-port",
            str(port),
            "--ui-port",
            str(ui_port),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline, status = time.time() + 150, {}
        while time.time() < deadline:
            time.sleep(3)
            out = subprocess.run(
                [SINOSCOPE, "--data-dir", str(data), "status", "--json"],
                capture_output=True,
                text=True,
                env=env,
                timeout=60,
            )
            if out.returncode == 0:
                status = json.loads(out.stdout)
                if status["sources"].get("ok") == 13 and (data / "alerts.sqlite").exists():
                    break
        assert status.get("sources") == {"ok": 13}, status
        assert next(t for t in status["topics"] if t["topic"] == "articles")["messages"] == 24
        assert (data / "alerts.sqlite").exists()  # an alert pass ran (nothing to fire: no enrich worker here)
        import httpx  # the web app runs beside the flows

        health = httpx.get(f"http://127.0.0.1:{ui_port}/csv/sources", timeout=10)
        assert health.status_code == 200 and health.text.count("\n") == 1 + 13  # a header, then each source
    finally:
        proc.send_signal(signal.SIGTERM)  # what `docker compose stop` and systemd send
        try:
            output = proc.communicate(timeout=60)[0]
        except subprocess.TimeoutExpired:
            proc.kill()
            output = proc.communicate()[0]
    assert "starting a local Prefect server" in output and "sinoscope-ingest" in output
    assert proc.returncode == 0 and "Traceback" not in output, output[-3000:]  # a clean stop
    assert not server_answers(f"http://127.0.0.1:{port}/api/health", within_s=30)  # it stopped with serve


def server_answers(url: str, within_s: float) -> bool:
    """Whether the server still answers after ``within_s``: a serve stopped by SIGKILL (the path
    above when it takes over 60 s to stop) never runs its cleanup, and its server gets SIGTERM
    from the kernel instead, which it takes a moment to act on."""
    import time

    import httpx

    deadline = time.time() + within_s
    while True:
        try:
            httpx.get(url, timeout=2)
        except httpx.HTTPError:
            return False
        if time.time() > deadline:
            return True
        time.sleep(1)


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="the parent-death signal is Linux's")
def test_local_server_does_not_outlive_a_killed_serve(tmp_path):
    """SIGKILL skips LocalServer's cleanup; the server it started must still stop (the kernel's
    parent-death signal), not hold its port with nobody to stop it."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code = (
        "import sys, time\nfrom flows.local_server import LocalServer\n"
        f"with LocalServer({str(tmp_path)!r}, {port}):\n    print('up', flush=True)\n    time.sleep(600)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1]
    )
    try:
        assert proc.stdout.readline().strip() == "up"
    finally:
        proc.kill()
        proc.wait()
    assert not server_answers(f"http://127.0.0.1:{port}/api/health", within_s=30)


@pytest.mark.slow
@pytest.mark.integration
def test_serve_delivers_a_planted_swing_within_two_minutes(tmp_path, httpserver, monkeypatch):
    """`sinoscope serve` as a user runs it (a local Prefect server, the workers, the schedules):
    the first ingest runs at start-up, the sink worker's streaming detection fires, and the signed
    webhook for the planted Chengdu drop arrives within 120 s of the feeds being read."""
    import json
    import socket
    import time
    from datetime import UTC, datetime

    from alerting import Receiver, stop
    from planted import write_corpus

    from sinks.alerts.webhook import SIGNATURE_HEADER

    rx = Receiver(httpserver)
    sources = write_corpus(tmp_path / "corpus", datetime.now(UTC))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "SINOSCOPE_INGEST__SOURCES_FILE": str(sources),
        "SINOSCOPE_WEBHOOK_SECRET": "serve-secret",
        "SINOSCOPE_ALERTS__BACKOFF_S": "0.1",
    }
    env.pop("PREFECT_API_URL", None)
    sinoscope = str(Path(sys.executable).parent / "sinoscope")
    started = time.monotonic()
    proc = subprocess.Popen(
        [sinoscope, "--data-dir", str(tmp_path / "data"), "serve", "--webhook", rx.url, "--prefect-port", str(port),
         "--ui-port", "0"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        while not rx.accepted and time.monotonic() - started < 240 and proc.poll() is None:
            time.sleep(1)
        elapsed = time.monotonic() - started
    finally:
        stop(proc)
    assert rx.accepted, f"no webhook within {elapsed:.0f} s; serve said: {proc.stderr.read()[-2000:]}"
    alert = rx.accepted[0]
    assert alert["entity_id"] == "city:chengdu" and alert["kind"] == "sentiment_drop"
    assert any(k.lower() == SIGNATURE_HEADER.lower() for k in rx.requests[0]["headers"])  # signed
    # serve reads the feeds ~20 s after it starts: the whole path from start-up fits in 125 s
    assert elapsed < 125, f"the webhook took {elapsed:.0f} s from start-up"
    print(json.dumps({"serve_start_to_webhook_s": round(elapsed, 1)}))


def test_a_new_data_dir_starts_from_the_migrated_database_kept_by_the_first(tmp_path, monkeypatch):
    """flows/prefect_db.py: the first local API migrates a new database and keeps it (without
    Prefect's configuration rows) in the cache; a later new data dir starts from a copy, and
    Prefect's API serves it. A database configured elsewhere is left alone."""
    import sqlite3

    import httpx

    from flows import prefect_db
    from flows.local_server import LocalServer, free_port

    monkeypatch.setenv("SINOSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    for name in ("PREFECT_API_URL", "PREFECT_UI_URL"):  # LocalServer points this process at itself:
        monkeypatch.setenv(name, "")  # undone after the test, or later tests would find a dead API
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    assert not prefect_db.seed(first)  # nothing kept yet: this one migrates
    with LocalServer(first, free_port(), api_only=True):
        pass
    template = prefect_db.template_path()
    assert template is not None and template.exists()
    with sqlite3.connect(template) as kept:
        assert kept.execute("SELECT COUNT(*) FROM configuration").fetchone()[0] == 0
        head = kept.execute("SELECT version_num FROM alembic_version").fetchall()
        assert head and kept.execute("SELECT COUNT(*) FROM block_type").fetchone()[0] > 0

    assert prefect_db.seed(second)
    assert not prefect_db.seed(second)  # never over a database that exists
    with LocalServer(second, free_port(), api_only=True) as server:
        assert httpx.post(f"{server.url}/flows/filter", json={}, timeout=10).json() == []
    with sqlite3.connect(second / "prefect.db") as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == head

    monkeypatch.setenv("PREFECT_API_DATABASE_CONNECTION_URL", "postgresql+asyncpg://prefect@db/prefect")
    (tmp_path / "third").mkdir()
    assert not prefect_db.seed(tmp_path / "third") and not (tmp_path / "third" / "prefect.db").exists()
