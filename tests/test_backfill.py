"""Backfill (``sinoscope backfill``) against a local GDELT stand-in answering window by window in
the DOC API's artlist format and a sitemap index: newest first, articles with their real times,
a run stopped half way resumes without loss or repetition, run again it publishes nothing, and
live ingest and backfill never publish one article twice."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import pytest
from conftest import topic_articles
from test_http_polling import EN_PAGE
from test_sitemap import urlset
from werkzeug import Response

from ingest.backfill import Backfill, BackfillError
from ingest.runner import IngestRunner
from ingest.sources import Source
from sinoscope.core.bus.embedded import EmbeddedBus

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


class Gdelt:
    """Two articles per day-window, dated inside it; windows in ``refuse`` get GDELT's rate-limit text."""

    def __init__(self, base: str) -> None:
        self.base, self.asked, self.refuse = base, [], set()

    def __call__(self, request):
        q = parse_qs(request.query_string.decode())
        start = datetime.strptime(q["startdatetime"][0], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
        self.asked.append(start)
        if start in self.refuse:
            return Response("Please limit requests to one every 5 seconds", status=429)
        day = start.strftime("%Y%m%d")
        arts = [
            {"url": f"{self.base}/a/{day}-{k}", "title": f"Story {day}-{k}",
             "seendate": (start + timedelta(hours=k + 1)).strftime("%Y%m%dT%H%M%SZ"),
             "domain": "example.de", "language": "German", "sourcecountry": "Germany"}
            for k in range(2)
        ]  # fmt: skip
        return Response(json.dumps({"articles": arts}), content_type="application/json")


def runner_for(settings, clock):
    bus = EmbeddedBus(settings.path("bus.sqlite"))
    return IngestRunner(settings, bus, clock=clock), bus


def run(settings, clock, sources, since, retries=0):
    runner, bus = runner_for(settings, clock)
    try:
        return Backfill(runner, retries=retries, retry_wait_s=0).run(sources, since)
    finally:
        runner.close()
        bus.close()


def test_gdelt_backfill_walks_back_resumes_and_never_repeats(httpserver, settings, clock):
    clock.now = NOW
    base = httpserver.url_for("").rstrip("/")
    api = Gdelt(base)
    httpserver.expect_request("/doc").respond_with_handler(api)
    httpserver.expect_request(re.compile(r"/a/.+")).respond_with_data(EN_PAGE, content_type="text/html")
    src = Source(name="gdelt-de", kind="gdelt", url=httpserver.url_for("/doc"), query='"Chengdu" sourcelang:german')
    since = NOW - timedelta(days=3)
    # the third window (two days back) is refused: the run stops there, the two before it are kept
    api.refuse = {NOW - timedelta(days=3)}
    with pytest.raises(BackfillError, match="resume"):
        run(settings, clock, [src], since)
    first = topic_articles(settings)
    assert api.asked == [NOW - timedelta(days=1), NOW - timedelta(days=2), NOW - timedelta(days=3)]  # newest first
    assert len(first) == 4
    # resumed: only the window left is asked for, nothing is published twice
    api.refuse, api.asked = set(), []
    report = run(settings, clock, [src], since)
    assert api.asked == [NOW - timedelta(days=3)] and report.done_before == 2 and report.units == 1
    articles = topic_articles(settings)
    assert len(articles) == 6 and len({a["url"] for a in articles}) == 6
    a = next(x for x in articles if x["title"].endswith("-0"))
    assert (a["outlet"], a["country"], a["language"]) == ("example.de", "DE", "de")
    assert min(x["published"] for x in articles) >= since.isoformat()[:10]
    # run again: nothing new
    api.asked = []
    again = run(settings, clock, [src], since)
    assert again.units == 0 and api.asked == [] and len(topic_articles(settings)) == 6


def test_live_ingest_and_backfill_never_publish_one_article_twice(httpserver, settings, clock, ingest):
    clock.now = NOW
    base = httpserver.url_for("").rstrip("/")
    day = (NOW - timedelta(days=1)).strftime("%Y-%m-%dT08:00:00Z")
    news = [("/a/live", "Seen live first", day, "en"), ("/a/old", "Only in the archive", day, "en")]
    httpserver.expect_request("/news.xml").respond_with_data(urlset(base, news), content_type="application/xml")
    for path in ("/a/live", "/a/old"):
        httpserver.expect_request(path).respond_with_data(EN_PAGE, content_type="text/html")
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    live_feed = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>x</link><description>d</description>'
        f"<item><title>Seen live first</title><link>{base}/a/live</link>"
        "<pubDate>Thu, 19 Nov 2026 08:00:00 GMT</pubDate><description>Live.</description></item></channel></rss>"
    )
    httpserver.expect_request("/feed").respond_with_data(live_feed, content_type="application/rss+xml")
    _, live = ingest([{"name": "live", "url": httpserver.url_for("/feed"), "outlet": "X", "country": "GB",
                       "language": "en"}])  # fmt: skip
    assert [a["title"] for a in live] == ["Seen live first"]
    src = Source(name="archive", kind="sitemap", url=httpserver.url_for("/news.xml"), outlet="X", country="GB",
                 language="en")  # fmt: skip
    report = run(settings, clock, [src, Source(name="live", url=httpserver.url_for("/feed"), outlet="X",
                                                country="GB", language="en")], NOW - timedelta(days=7))  # fmt: skip
    titles = [a["title"] for a in topic_articles(settings)]
    assert sorted(titles) == ["Only in the archive", "Seen live first"]  # the live one not again
    via = {a["title"]: a["via"] for a in topic_articles(settings)}
    assert via == {"Seen live first": "live", "Only in the archive": "backfill"}
    assert report.summary.exact_duplicates >= 1 and report.skipped_sources == ["live"]


def test_backfill_on_the_bundled_sample_archive_then_nothing_new(tmp_path):
    """The README's tour: the sample archive (a news sitemap index and a recorded GDELT answer)."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    cmd = [str(Path(sys.executable).parent / "sinoscope"), "--data-dir", str(tmp_path / "d"), "backfill",
           "--since", "2026-01-01", "--sources", str(root / "ingest/samples/backfill.yaml")]  # fmt: skip
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "3 units read (0 done before), 5 new articles published" in " ".join(first.stdout.split())
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "0 new articles published" in " ".join(again.stdout.split())


def test_the_store_tells_backfilled_from_live_articles(tmp_path):
    """Volume honesty: each stored article says how ingest found it, and the period's totals
    (report, rank) count the backfilled ones; a store written before the column existed gains it."""
    import duckdb
    import records

    from sinks.duckdb.queries import DuckDBBackend
    from sinks.duckdb.store import DuckDBStore
    from sinks.query import Queries

    path = tmp_path / "old.duckdb"
    old = duckdb.connect(str(path))  # the articles table as the previous release made it
    old.execute(
        "CREATE TABLE articles (id VARCHAR PRIMARY KEY, url VARCHAR, title VARCHAR, summary VARCHAR, outlet VARCHAR, "
        "country VARCHAR, language VARCHAR, source VARCHAR, published TIMESTAMPTZ, fetched TIMESTAMPTZ, "
        "duplicate_of VARCHAR, sentiment_score DOUBLE, sentiment_label VARCHAR, sentiment_confidence DOUBLE, "
        "mentions INTEGER, model VARCHAR)"
    )
    old.close()
    store = DuckDBStore(path)
    live = records.enriched("live1", NOW - timedelta(days=2), [("city:chengdu", 0.3)])
    past = records.enriched("past1", NOW - timedelta(days=40), [("city:chengdu", -0.3)])
    past.article.via = "backfill"
    recent = records.enriched("past2", NOW - timedelta(days=5), [("city:chengdu", 0.1)])
    recent.article.via = "backfill"
    store.write([live, past, recent])
    q = Queries(DuckDBBackend.open(path))
    totals = q.totals(NOW - timedelta(days=90))
    assert totals["articles"] == 3 and totals["backfilled"] == 2
    assert q.recent(NOW)["published_30d"] == {"articles": 2, "backfilled": 1}  # what `status` shows


def test_days_without_any_stored_article_are_gaps_not_silence(tmp_path):
    import records

    from sinks.duckdb.queries import DuckDBBackend
    from sinks.duckdb.store import DuckDBStore
    from sinks.query import Queries

    store = DuckDBStore(tmp_path / "s.duckdb")
    days = [1, 2, 5, 9]  # stored on these days before NOW; 3-4 and 6-8 empty
    store.write([records.enriched(f"g{d}", NOW - timedelta(days=d), [("city:wuhan", 0.1)]) for d in days])
    gaps = Queries(DuckDBBackend.open(store.path)).gaps(NOW - timedelta(days=9), NOW - timedelta(days=1))
    day = lambda n: (NOW - timedelta(days=n)).replace(hour=0).isoformat()  # noqa: E731
    assert gaps == [
        {"start": day(8), "end": day(6), "days": 3},
        {"start": day(4), "end": day(3), "days": 2},
    ]
