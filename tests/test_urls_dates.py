"""Canonical URLs (one story, one id) and the dates real feeds carry."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from ingest.dates import parse_date, published_date
from ingest.urls import canonical_url, repair_file_url
from sinoscope.core.schemas import article_id_for


@pytest.mark.parametrize(
    "variant",
    [
        "https://www.bbc.co.uk/news/world-asia-china-123",
        "http://www.bbc.co.uk/news/world-asia-china-123",
        "https://www.bbc.co.uk/news/world-asia-china-123?at_medium=RSS&at_campaign=KARANGA",
        "https://www.bbc.co.uk/news/world-asia-china-123#comments",
        "https://www.bbc.co.uk/news/world-asia-china-123/",
        "https://WWW.BBC.CO.UK:443/news/world-asia-china-123?utm_source=twitter&utm_medium=social",
        "https://www.bbc.co.uk/news/amp/world-asia-china-123",
        "https://www.bbc.co.uk/news/world-asia-china-123.amp",
        "https://amp.bbc.co.uk/news/world-asia-china-123?fbclid=IwAR0abc",
        "https://www-bbc-co-uk.cdn.ampproject.org/c/s/www.bbc.co.uk/news/world-asia-china-123",
    ],
)
def test_variants_of_one_story_share_one_url_and_id(variant):
    base = "https://www.bbc.co.uk/news/world-asia-china-123"
    assert canonical_url(variant) == canonical_url(base)
    assert article_id_for(canonical_url(variant)) == article_id_for(canonical_url(base))


def test_meaningful_query_parameters_are_kept_and_sorted():
    a = canonical_url("https://example.com/story?id=42&page=2&utm_campaign=x")
    b = canonical_url("https://example.com/story?page=2&id=42")
    assert a == b == "https://example.com/story?id=42&page=2"
    assert canonical_url("https://example.com/story?id=43") != a


def test_non_web_urls_are_refused():
    with pytest.raises(ValueError):
        canonical_url("javascript:alert(1)")
    with pytest.raises(ValueError):
        canonical_url("https:///no-host")


def test_repair_file_url():
    assert repair_file_url("file://work/x/a.html") == "file:///work/x/a.html"
    assert repair_file_url("file:///work/x/a.html") == "file:///work/x/a.html"


FETCHED = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _pub(raw, parsed=None):
    return published_date(raw, parsed, FETCHED, max_future=timedelta(hours=2), oldest_year=1995)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Tue, 03 Nov 2026 15:15:00 HKT", "2026-11-03T07:15:00+00:00"),
        ("Tue, 03 Nov 2026 07:15:00 +0000", "2026-11-03T07:15:00+00:00"),
        ("2026-11-03T15:15:00+08:00", "2026-11-03T07:15:00+00:00"),
        ("2026/11/03 16:15 KST", "2026-11-03T07:15:00+00:00"),
        ("3 Nov 2026 07:15", "2026-11-03T07:15:00+00:00"),
    ],
)
def test_dates_in_real_feed_forms(raw, expected):
    value, how = _pub(raw)
    assert how == "feed"
    assert value.isoformat() == expected


def test_feedparser_struct_time_wins():
    parsed = time.strptime("2026-11-03 07:15:00", "%Y-%m-%d %H:%M:%S")
    assert parse_date("garbage", parsed) == datetime(2026, 11, 3, 7, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    "raw, reason",
    [
        (None, "no date in entry"),
        ("", "no date in entry"),
        ("not a date at all ¯\\_(ツ)_/¯", "unparseable date"),
        ("Fri, 01 Jan 2100 00:00:00 GMT", "date in the future"),
        ("Thu, 01 Jan 1970 00:00:00 GMT", "implausibly old"),
    ],
)
def test_unbelievable_dates_fall_back_to_fetch_time_and_say_so(raw, reason):
    value, how = _pub(raw)
    assert value == FETCHED
    assert how.startswith("fetched:") and reason in how
