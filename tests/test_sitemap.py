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


def test_sources_add_finds_a_sites_feed_or_sitemap_and_writes_the_entry(httpserver, settings, tmp_path):
    """``sinoscope sources add URL``: a page declaring a feed gives an rss entry; a site without one but
    with a sitemap in robots.txt gives a sitemap entry; the entry goes into the file, comments kept."""
    from test_http_polling import rss

    from ingest.discovery import DiscoveryError, add_to_file, describe, entry
    from ingest.http import Fetcher
    from ingest.sources import load_sources

    base = httpserver.url_for("").rstrip("/")
    home = ('<html lang="de"><head><meta property="og:site_name" content="Beispiel Zeitung">'
            '<link rel="alternate" type="application/rss+xml" href="/feed.xml"></head><body>Hallo</body></html>')  # fmt: skip
    httpserver.expect_request("/de/").respond_with_data(home, content_type="text/html")
    httpserver.expect_request("/feed.xml").respond_with_data(
        rss([("a", "A story")], base), content_type="application/rss+xml"
    )
    httpserver.expect_request("/plain").respond_with_data(
        "<html><body>No feed here</body></html>", content_type="text/html"
    )
    httpserver.expect_request("/robots.txt").respond_with_data(f"User-agent: *\nSitemap: {base}/news-sitemap.xml\n")
    httpserver.expect_request("/news-sitemap.xml").respond_with_data(
        urlset(base, [("/a/1", "One", "2026-11-19T08:00:00Z", "en")]), content_type="application/xml"
    )
    fetcher = Fetcher(settings.ingest)
    try:
        feed = describe(httpserver.url_for("/de/"), fetcher)
        assert feed == {"kind": "rss", "url": f"{base}/feed.xml", "outlet": "Beispiel Zeitung", "language": "de"}
        site = describe(httpserver.url_for("/plain"), fetcher)
        assert site["kind"] == "sitemap" and site["url"] == f"{base}/news-sitemap.xml"
    finally:
        fetcher.close()
    with pytest.raises(DiscoveryError, match="--country"):
        entry(feed, None, None, None, None)  # 127.0.0.1 tells no country
    path = tmp_path / "sources.yaml"
    path.write_text(
        "# my feeds\nsources:\n- {name: old, url: 'https://x.example/rss', outlet: X, country: GB, language: en}\n"
    )
    add_to_file(path, entry(feed, "beispiel", None, "DE", None))
    add_to_file(path, entry(site, "beispiel-sitemap", "Beispiel", "de", "de"))
    text = path.read_text()
    assert text.startswith("# my feeds\nsources:\n")
    loaded = {s.name: s for s in load_sources(path)}
    assert set(loaded) == {"old", "beispiel", "beispiel-sitemap"}
    assert (loaded["beispiel"].kind, loaded["beispiel"].outlet, loaded["beispiel"].country) == (
        "rss",
        "Beispiel Zeitung",
        "DE",
    )
    assert loaded["beispiel-sitemap"].kind == "sitemap"
    with pytest.raises(DiscoveryError, match="already has"):
        add_to_file(path, entry(feed, "beispiel", None, "DE", None))


def test_the_sources_add_command(httpserver, tmp_path):
    import json as _json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from test_http_polling import rss

    base = httpserver.url_for("").rstrip("/")
    httpserver.expect_request("/feed.xml").respond_with_data(
        rss([("a", "A story")], base), content_type="application/rss+xml"
    )
    env = {**os.environ, "SINOSCOPE_DATA_DIR": str(tmp_path / "d"),
           "SINOSCOPE_INGEST__PRIVATE_NETWORK_ALLOWLIST": _json.dumps(["127.0.0.1/32"])}  # fmt: skip
    cmd = [str(Path(sys.executable).parent / "sinoscope"), "sources", "add", httpserver.url_for("/feed.xml"),
           "--sources", str(tmp_path / "s.yaml"), "--name", "local", "--country", "gb", "--language", "en"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "kind: rss" in (tmp_path / "s.yaml").read_text() and "added to" in done.stdout
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    # the error is wrapped at the terminal's width: compare with the line breaks folded
    assert again.returncode == 2 and "already has a source named 'local'" in " ".join(again.stderr.split())
