"""Kill a real `sinoscope ingest --once` process with SIGKILL mid-run; a restart completes with
no lost and no duplicated article."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import SERVER_ALLOWLIST, topic_articles
from test_http_polling import rss
from werkzeug import Response

from sinoscope.core.settings import load_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FEEDS, PER_FEED = 12, 10


def _published(bus_path: Path) -> int:
    if not bus_path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{bus_path}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT COUNT(*) FROM messages WHERE topic='articles'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_sigkill_mid_run_then_restart_loses_and_duplicates_nothing(httpserver, tmp_path):
    base = httpserver.url_for("").rstrip("/")

    def feed(request):
        time.sleep(0.4)  # make the pass long enough to be killed in the middle
        n = int(request.path.rsplit("/", 1)[1])
        return Response(
            rss([(f"{n}-{i}", f"Story {n}-{i}") for i in range(PER_FEED)], base), content_type="application/rss+xml"
        )

    for n in range(FEEDS):
        httpserver.expect_request(f"/feed/{n}").respond_with_handler(feed)
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        yaml.safe_dump(
            {
                "sources": [
                    {
                        "name": f"feed-{n}",
                        "url": httpserver.url_for(f"/feed/{n}"),
                        "outlet": "Test",
                        "country": "GB",
                        "language": "en",
                    }
                    for n in range(FEEDS)
                ]
            }
        )
    )
    data = tmp_path / "data"
    env = {
        **os.environ,
        "SINOSCOPE_DATA_DIR": str(data),
        "SINOSCOPE_INGEST__WORKERS": "2",
        "SINOSCOPE_INGEST__PER_HOST_INTERVAL_S": "0",
        "SINOSCOPE_INGEST__PRIVATE_NETWORK_ALLOWLIST": json.dumps(SERVER_ALLOWLIST),
    }
    cmd = [sys.executable, "-m", "sinoscope.cli", "ingest", "--once", "--sources", str(sources)]

    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while _published(data / "bus.sqlite") == 0 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    killed_at = _published(data / "bus.sqlite")
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert 0 < killed_at < FEEDS * PER_FEED, f"kill did not land mid-run ({killed_at} published)"

    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    articles = topic_articles(load_settings(data_dir=data))
    titles = [a["title"] for a in articles]
    assert len(titles) == len(set(titles)), "an article was published twice"
    assert set(titles) == {f"Story {n}-{i}" for n in range(FEEDS) for i in range(PER_FEED)}, "an article was lost"
