"""The `sinoscope` command as a user runs it: the bundled corpus with no configuration,
settings from YAML and environment, and clear errors naming what is at fault."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SINOSCOPE = str(Path(sys.executable).parent / "sinoscope")


def run(*args, env=None, check=True):
    proc = subprocess.run(
        [SINOSCOPE, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"sinoscope {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_help_names_the_stages():
    out = run("--help").stdout
    for word in ("ingest", "run", "sources", "bus", "--data-dir", "--config"):
        assert word in out


@pytest.mark.slow
def test_bundled_corpus_with_no_configuration_then_nothing_new(tmp_path):
    data = tmp_path / "d"
    first = run("--data-dir", str(data), "ingest", "--once", "--json")
    s1 = json.loads(first.stdout)
    assert s1["sources"] == s1["polled"] == 13
    assert s1["new_articles"] == 24 and s1["errors"] == []
    assert s1["exact_duplicates"] == 1  # the same Guardian story in a second feed (AMP + utm variant)
    assert s1["near_duplicates"] == 1  # the Reuters wire story syndicated by The Straits Times
    assert s1["pages_fetched"] == 2
    second = json.loads(run("--data-dir", str(data), "ingest", "--once", "--json").stdout)
    assert second["new_articles"] == 0 and second["errors"] == []
    peek = run("--data-dir", str(data), "bus", "peek", "articles", "-n", "100", "--json").stdout.splitlines()
    articles = [json.loads(line) for line in peek]
    assert len(articles) == 24 and len({a["id"] for a in articles}) == 24
    dup = [a for a in articles if a["duplicate_of"]]
    assert len(dup) == 1 and dup[0]["outlet"] == "The Straits Times"
    assert {a["id"] for a in articles if a["title"] == dup[0]["title"]} >= {dup[0]["duplicate_of"]}
    ja = next(a for a in articles if a["language"] == "ja")
    assert "ＤＪＩ" in ja["text"] and "cp932" in ja["provenance"]["text"] or "shift" in ja["provenance"]["text"]


@pytest.mark.slow
def test_human_summary_and_sources_health(tmp_path):
    data = tmp_path / "d"
    out = run("--data-dir", str(data), "run", "--once")
    assert "ingest summary" in out.stdout and "new articles published" in out.stdout
    assert "nlp: enriched 24 articles" in out.stdout  # the whole pipeline as far as it is built
    enriched = [
        json.loads(x)
        for x in run("--data-dir", str(data), "bus", "peek", "enriched", "-n", "100", "--json").stdout.splitlines()
    ]
    assert len(enriched) == 24
    ids = {m["entity_id"] for e in enriched for m in e["mentions"]}
    assert {"city:chengdu", "brand:byd", "brand:huawei", "city:shenzhen", "brand:tsingtao", "city:qingdao"} <= ids
    langs = {e["article"]["title"][:20]: e["language"] for e in enriched}
    assert langs["Volkswagen baut Entw"] == "de" and langs["比亚迪在欧洲销量超越特斯拉"[:20]] == "zh"
    again = run("--data-dir", str(data), "run", "--once")
    assert "nlp: enriched 0 articles" in again.stdout
    assert "store: wrote 0 enriched articles; it holds 24 articles" in again.stdout
    trend = json.loads(run("--data-dir", str(data), "trend", "Chungking", "--since", "2026-01-01", "--json").stdout)
    assert trend["entity_id"] == "city:chongqing" and set(trend) >= {"entity_id", "name", "buckets"}
    canton = json.loads(run("--data-dir", str(data), "trend", "广州", "--since", "2026-01-01", "--json").stdout)
    assert sum(b["mentions"] for b in canton["buckets"]) >= 3
    assert all(set(b) >= {"start", "mentions", "sentiment_mean"} for b in canton["buckets"])
    ranking = json.loads(
        run("--data-dir", str(data), "rank", "--type", "city", "--since", "2026-01-01", "--json").stdout
    )
    rows = ranking["rows"]
    assert rows and all(
        set(r) >= {"entity_id", "name", "mentions", "outlets", "countries", "sentiment_mean", "index"} for r in rows
    )
    assert [r["index"] for r in rows] == sorted((r["index"] for r in rows), reverse=True)
    neg = json.loads(run("--data-dir", str(data), "stories", "BYD", "--negative", "--json").stdout)["stories"]
    pos = json.loads(run("--data-dir", str(data), "stories", "BYD", "--json").stdout)["stories"]
    # only stories whose tone toward BYD is labelled so: the sample's BYD coverage is not negative
    assert pos and all(x["sentiment"] > 0 for x in pos) and all(x["sentiment"] < 0 for x in neg)
    assert all(set(x) >= {"article_id", "url", "title", "outlet", "published", "sentiment"} for x in pos + neg)
    assert [x["sentiment"] for x in neg] == sorted(x["sentiment"] for x in neg)
    # search sees what this run stored (another process: the CLI), in the documented shape
    found = json.loads(run("--data-dir", str(data), "search", "“BYD” OR 比亚迪", "--limit", "3", "--json").stdout)
    assert found["total"] >= 3 and len(found["hits"]) == 3
    assert all(
        set(h) >= {"article_id", "url", "title", "outlet", "country", "language", "published", "snippet", "score"}
        and "<b>" in h["snippet"]
        and any(m["entity_id"] == "brand:byd" and set(m) == {"entity_id", "name", "sentiment"} for m in h["mentions"])
        for h in found["hits"]
    )
    assert [h["score"] for h in found["hits"]] == sorted((h["score"] for h in found["hits"]), reverse=True)
    status = json.loads(run("--data-dir", str(data), "status", "--json").stdout)
    articles = next(t for t in status["topics"] if t["topic"] == "articles")
    assert articles["messages"] == 24 and articles["lag"] == {"nlp-enrich": 0}
    assert status["sources"] == {"ok": 13} and status["dead_letters"] == 0
    assert "ingest" in out.stderr  # the progress bar goes to stderr
    health = json.loads(run("--data-dir", str(data), "sources", "--json").stdout)["sources"]
    assert len(health) == 13 and all(s["status"] == "ok" for s in health)
    assert sum(s["articles"] for s in health) == 24


@pytest.mark.slow
def test_sources_file_and_failing_source_is_flagged(tmp_path):
    sources = tmp_path / "s.yaml"
    sources.write_text("sources:\n  - {name: nowhere, url: missing.xml, outlet: X, country: us, language: EN}\n")
    data = tmp_path / "d"
    for _ in range(3):
        out = run("--data-dir", str(data), "ingest", "--once", "--force", "--sources", str(sources))
        assert "error nowhere: HTTP 404" in out.stdout
    assert "FLAGGED nowhere is failing since" in out.stdout
    health = json.loads(run("--data-dir", str(data), "sources", "--json", "--sources", str(sources)).stdout)
    row = health["sources"][0]
    assert row["status"] == "failing" and row["consecutive_failures"] == 3
    assert row["country"] == "US" and row["language"] == "en"


def test_settings_from_yaml_and_environment(tmp_path):
    from sinoscope.core.settings import load_settings

    cfg = tmp_path / "c.yaml"
    cfg.write_text("ingest:\n  timeout_s: 7\n  workers: 3\nbus:\n  partitions: 9\n")
    s = load_settings(cfg)
    assert (s.ingest.timeout_s, s.ingest.workers, s.bus.partitions) == (7, 3, 9)
    os.environ["SINOSCOPE_INGEST__WORKERS"] = "5"
    try:
        s = load_settings(cfg)
        assert s.ingest.workers == 5 and s.ingest.timeout_s == 7  # environment beats the file
    finally:
        del os.environ["SINOSCOPE_INGEST__WORKERS"]
    d = load_settings()
    assert d.bus.kind == "embedded" and d.ingest.sources_file is None  # defaults need no file


@pytest.mark.parametrize(
    "content, expected",
    [
        ("ingest: [not, a, mapping", "invalid settings (config file"),
        ("ingest:\n  timeout_s: soon\n", "timeout_s"),
    ],
)
def test_bad_config_is_a_clear_error(tmp_path, content, expected):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(content)
    out = run("--config", str(cfg), "sources", check=False)
    assert out.returncode == 2
    assert expected in out.stderr and "what to do" in out.stderr


def test_bad_sources_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "s.yaml"
    bad.write_text("sources:\n  - {name: x, url: 'https://a'}\n")
    out = run("--data-dir", str(tmp_path), "ingest", "--once", "--sources", str(bad), check=False)
    assert out.returncode == 2 and f"sources file {bad}" in out.stderr and "outlet" in out.stderr


def test_live_catalogue_is_large_and_complete():
    from ingest.sources import LIVE_SOURCES, load_sources

    sources = load_sources(LIVE_SOURCES)
    feeds = [s for s in sources if s.query is None]
    assert len(feeds) >= 40
    assert len({s.language for s in feeds}) >= 7 and len({s.country for s in feeds}) >= 12
    assert all(s.url.startswith("https://") for s in sources)
    assert {s.query for s in sources if s.query} >= {"Chengdu", "BYD"}
