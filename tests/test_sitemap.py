"""News sitemaps as a source (``kind: sitemap``) against a local server: a sitemap index and its
Google News sitemaps (one gzipped), titles, times and languages from the news tags, page text
through the fetch guard, the site's robots.txt obeyed, bad XML a clear failure."""

from __future__ import annotations

import gzip

import pytest
from test_http_polling import EN_PAGE, GBK_PAGE, state_of

from ingest.sitemap import SitemapError, parse

pytestmark = pytest.mark.integration

NEWS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"'


def urlset(base: str, items: list[tuple[str, str, str, str]]) -> str:
    """items: (path, title, publication date, language)."""
    urls = "".join(
        f"<url><loc>{base}{path}</loc><news:news><news:publication><news:name>Zaobao</news:name>"
        f"<news:language>{lang}</news:language></news:publication><news:publication_date>{date}</news:publication_date>"
        f"<news:title>{title}</news:title></news:news></url>"
        for path, title, date, lang in items
    )
    return f'<?xml version="1.0" encoding="UTF-8"?><urlset {NEWS}>{urls}</urlset>'


def test_a_sitemap_index_and_its_news_sitemaps_publish_their_articles(httpserver, ingest, settings):
    base = httpserver.url_for("").rstrip("/")
    index = (
        '<?xml version="1.0" encoding="UTF-8"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<sitemap><loc>{base}/news-1.xml</loc><lastmod>2026-11-19T10:00:00Z</lastmod></sitemap>"
        f"<sitemap><loc>/news-2.xml.gz</loc><lastmod>2026-11-18T10:00:00Z</lastmod></sitemap>"
        "</sitemapindex>"
    )
    httpserver.expect_request("/sitemap.xml").respond_with_data(index, content_type="application/xml")
    httpserver.expect_request("/news-1.xml").respond_with_data(
        urlset(base, [("/a/zh", "重庆夜景吸引外国游客", "2026-11-19T08:00:00+08:00", "zh-cn"),
                      ("/private/x", "Members only", "2026-11-19T09:00:00Z", "en")]),
        content_type="application/xml",
    )  # fmt: skip
    httpserver.expect_request("/news-2.xml.gz").respond_with_data(
        gzip.compress(urlset(base, [("/a/en", "Changan opens Thai factory", "2026-11-18T07:30:00Z", "en")]).encode()),
        content_type="application/x-gzip",
    )
    httpserver.expect_request("/robots.txt").respond_with_data("User-agent: *\nDisallow: /private/\n")
    httpserver.expect_request("/a/zh").respond_with_data(GBK_PAGE, content_type="text/html; charset=utf-8")
    httpserver.expect_request("/a/en").respond_with_data(EN_PAGE, content_type="text/html")
    source = {"name": "zaobao-news", "kind": "sitemap", "url": httpserver.url_for("/sitemap.xml"),
              "outlet": "Zaobao", "country": "SG", "language": "en"}  # fmt: skip
    summary, articles = ingest([source])
    by = {a["title"]: a for a in articles}
    assert set(by) == {"重庆夜景吸引外国游客", "Changan opens Thai factory"}  # /private/ left alone
    zh, en = by["重庆夜景吸引外国游客"], by["Changan opens Thai factory"]
    assert zh["language"] == "zh" and en["language"] == "en" and zh["outlet"] == "Zaobao" and zh["country"] == "SG"
    assert zh["published"].startswith("2026-11-19T00:00:00") and en["published"].startswith("2026-11-18T07:30:00")
    assert "重庆以其壮观的夜景" in zh["text"] and "Chongqing-based carmaker" in en["text"]
    assert not any(str(r.path).startswith("/private") for r, _ in httpserver.log)  # never fetched
    assert any(name == "zaobao-news" and "robots.txt" in w for name, w in summary.warnings)
    assert state_of(settings, "zaobao-news").consecutive_failures == 0
    _, again = ingest([source], force=True)
    assert len(again) == 2  # the same sitemap again: nothing new


def test_a_broken_sitemap_is_a_clear_failure(httpserver, ingest, settings):
    httpserver.expect_request("/sitemap.xml").respond_with_data(
        "<html><body>Not here</body></html>", content_type="text/html"
    )
    source = {"name": "broken", "kind": "sitemap", "url": httpserver.url_for("/sitemap.xml"),
              "outlet": "X", "country": "GB", "language": "en"}  # fmt: skip
    _, articles = ingest([source])
    st = state_of(settings, "broken")
    assert articles == [] and st.consecutive_failures == 1
    assert "the root element is <html>, not <urlset> or <sitemapindex>" in st.last_error


def test_the_parser_reads_no_entities_and_no_network():
    evil = (
        b'<?xml version="1.0"?><!DOCTYPE urlset [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>https://x.example/&x;</loc></url></urlset>'
    )
    try:
        kind, rows = parse(evil)
    except SitemapError:
        return  # refused outright is fine too
    assert kind == "urlset" and all("root:" not in (r["loc"] or "") for r in rows)


def test_a_section_page_gives_its_article_links_and_names_the_feed_it_declares(httpserver, ingest, settings):
    """``kind: page``: same-site links that look like articles (a date or a long slug in the path) are
    followed with the anchor text as title; navigation and other sites are not; a declared feed is named."""
    base = httpserver.url_for("").rstrip("/")
    section = (
        '<html><head><link rel="alternate" type="application/rss+xml" href="/china/rss.xml"></head><body>'
        '<nav><a href="/about">About us</a> <a href="/world">World</a></nav>'
        '<a href="/2026/11/19/changan-thai-factory">Changan opens Thai factory in Rayong</a>'
        '<a href="/business/chongqing-night-views-draw-foreign-visitors">Chongqing night views draw visitors</a>'
        '<a href="https://elsewhere.example/2026/11/19/other-story-on-another-site">Elsewhere</a>'
        "</body></html>"
    )
    httpserver.expect_request("/china").respond_with_data(section, content_type="text/html")
    httpserver.expect_request("/2026/11/19/changan-thai-factory").respond_with_data(EN_PAGE, content_type="text/html")
    httpserver.expect_request("/business/chongqing-night-views-draw-foreign-visitors").respond_with_data(
        GBK_PAGE, content_type="text/html; charset=utf-8"
    )
    source = {"name": "section", "kind": "page", "url": httpserver.url_for("/china"), "outlet": "Example Post",
              "country": "GB", "language": "en"}  # fmt: skip
    summary, articles = ingest([source])
    assert sorted(a["title"] for a in articles) == [
        "Changan opens Thai factory in Rayong",
        "Chongqing night views draw visitors",
    ]
    assert all(a["provenance"]["text"].startswith("page extract") for a in articles)
    assert not any(str(r.path) in ("/about", "/world") for r, _ in httpserver.log)
    assert [w for n, w in summary.warnings if "declares a feed" in w] == [
        f"the page declares a feed, steadier than its links: {base}/china/rss.xml"
    ]
