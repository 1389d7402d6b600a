"""`sinoscope status` on a data directory with a failing source, a retired one, a dead-lettered
entry and a fired alert: each shows, in the table and in --json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import SERVER_ALLOWLIST

SINOSCOPE = str(Path(sys.executable).parent / "sinoscope")
FEEDS = Path(__file__).parent / "data" / "feeds"


def cli(data: Path, *args, env=None):
    return subprocess.run(
        [SINOSCOPE, "--data-dir", str(data), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "220", **(env or {})},
    )


@pytest.mark.slow
def test_status_shows_failing_sources_dead_letters_backlog_and_the_last_alert(tmp_path, httpserver):
    from alerting import steady, store, window

    from sinks.alerts.run import alert_pass
    from sinoscope.core.settings import load_settings

    data = tmp_path / "data"
    httpserver.expect_request("/down.rss").respond_with_data("oops", status=500)
    httpserver.expect_request("/gone.rss").respond_with_data("", status=410)
    (tmp_path / "sources.yaml").write_text(
        "sources:\n"
        f"- {{name: broken-site, url: '{httpserver.url_for('/down.rss')}', outlet: Down, country: GB, language: en}}\n"
        f"- {{name: gone-feed, url: '{httpserver.url_for('/gone.rss')}', outlet: Gone, country: GB, language: en}}\n"
        f"- {{name: odd-entries, url: '{(FEEDS / 'entries_missing.xml').as_uri()}', outlet: Odd, country: US, "
        "language: en}\n"
    )
    env = {
        "SINOSCOPE_INGEST__FAILING_AFTER": "1",
        "SINOSCOPE_INGEST__FETCH_FULL_TEXT": "false",
        "SINOSCOPE_INGEST__PRIVATE_NETWORK_ALLOWLIST": json.dumps(SERVER_ALLOWLIST),
    }
    assert cli(data, "ingest", "--once", "--sources", str(tmp_path / "sources.yaml"), env=env).returncode == 0

    now = datetime.now(UTC)
    settings = load_settings(data_dir=data)
    store(settings, steady("city:chengdu", now) + window("city:chengdu", now, 12, -0.6))
    [alert] = alert_pass(settings, now=now).fired

    proc = cli(data, "status", "--json")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    by = {s["name"]: s for s in r["source_health"]}
    assert by["broken-site"]["status"] == "failing" and by["broken-site"]["since"]
    assert "HTTP 500" in by["broken-site"]["error"]
    assert by["gone-feed"]["status"] == "retired"
    assert by["odd-entries"]["status"] == "ok" and by["odd-entries"]["articles"] == 3
    assert r["sources"] == {"failing": 1, "retired": 1, "ok": 1}
    assert {f["name"] for f in r["flagged_sources"]} == {"broken-site", "gone-feed"}
    assert r["dead_letters"] == 1 and "sinoscope bus peek deadletter" in r["dead_letters_where"]
    stages = {s["stage"]: s for s in r["stages"]}
    assert stages["nlp"]["lag"] == 3  # three articles published, none enriched yet
    assert r["alerts"]["last"]["id"] == alert["id"] and r["alerts"]["last"]["kind"] == "sentiment_drop"
    assert r["recent"]["day"]["articles"] >= 1  # the planted records were stored just now
    assert r["stores"]["results"].startswith("embedded ") and r["stores"]["bus"].startswith("embedded ")

    text = cli(data, "status").stdout
    for expected in (
        "broken-site",
        "failing",
        "gone-feed",
        "retired",
        "HTTP 500",
        "dead letters: 1",
        "sinoscope bus peek deadletter",
        "nlp (nlp-enrich on 'articles') 3 waiting",
        "last alert: Chengdu sentiment_drop",
        "no webhook configured",
    ):
        assert expected in text, expected


def test_status_on_an_empty_data_directory_says_so(tmp_path):
    proc = cli(tmp_path / "empty", "status")
    assert proc.returncode == 0, proc.stderr
    assert "none polled yet" in proc.stdout and "alerts: none fired yet" in proc.stdout


def test_status_on_the_stack_shows_no_credential(tmp_path):
    from sinoscope.core.settings import load_settings

    """Elasticsearch's password (in its setting or inside the URL) never reaches status, even
    when the cluster does not answer and the error is shown."""
    from sinoscope.status import gather

    settings = load_settings(
        data_dir=tmp_path / "d",
        sink={
            "kind": "elasticsearch",
            "es_url": "http://elastic:url-pw-31c@127.0.0.1:9",
            "es_username": "elastic",
            "es_password": "setting-pw-82d",
            "es_timeout_s": 2,
        },
    )
    shown = json.dumps(gather(settings), default=str, ensure_ascii=False)
    assert "url-pw-31c" not in shown and "setting-pw-82d" not in shown
    assert "elasticsearch http://127.0.0.1:9/… (indices sinoscope-*)" in shown
    assert "Connection refused" in shown  # the failure itself is still reported
