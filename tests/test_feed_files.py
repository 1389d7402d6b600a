"""Real feed files, well-formed and malformed, in several encodings, through a whole ingest
pass: every salvageable entry is published once, every problem is recorded and visible."""

from __future__ import annotations

import json
from html import escape

from conftest import FEEDS, src

from ingest.state import IngestState
from sinoscope.core.bus.embedded import EmbeddedBus


def feed(name: str) -> dict:
    return src(name.split(".")[0], (FEEDS / name).as_uri())


def events(settings, source):
    st = IngestState(settings.path("ingest.sqlite"))
    try:
        return st.events(source=source), st.source(source)
    finally:
        st.close()


def test_well_formed_rss_and_atom(ingest):
    summary, articles = ingest([feed("rss_utf8.xml"), feed("atom_utf8.xml")])
    assert summary.errors == [] and summary.new_articles == 5
    by_title = {a["title"]: a for a in articles}
    byd = by_title["BYD opens plant in Hungary"]
    assert byd["url"] == "https://news.example.com/a/1"  # tracking parameter removed
    assert byd["original_url"].endswith("?utm_source=rss")
    assert byd["published"] == "2026-11-09T10:00:00Z"
    assert byd["outlet"] == "Test Outlet" and byd["country"] == "GB"
    assert by_title["成都举办科技展"]["text"] == "成都市今天举办国际科技展览会。"
    huawei = by_title["Huawei unveils chip"]
    assert huawei["provenance"]["text"] == "feed content"
    assert "export controls" in huawei["text"]
    assert by_title["Chengdu hosts tech fair"]["published"] == "2026-11-10T00:30:00Z"


def test_second_pass_publishes_nothing_new(ingest):
    first, articles = ingest([feed("rss_utf8.xml"), feed("atom_utf8.xml")])
    second, again = ingest([feed("rss_utf8.xml"), feed("atom_utf8.xml")])
    assert second.new_articles == 0
    assert len(again) == len(articles) == 5


def test_declared_and_undeclared_legacy_encodings(ingest, settings):
    summary, articles = ingest(
        [feed("rss_gb2312.xml"), feed("rss_wrong_encoding.xml"), feed("rss_sjis_undeclared.xml")]
    )
    titles = {a["title"] for a in articles}
    assert {
        "深圳无人机企业回应美国限制",
        "重庆火锅吸引外国游客",
        "Überraschung: BYD überholt Tesla",
        "比亚迪销量超越特斯拉",
        "深センのドローン大手が反発",
    } == titles
    warned = {name for name, _ in summary.warnings}
    assert warned == {"rss_wrong_encoding", "rss_sjis_undeclared"}
    ev, st = events(settings, "rss_sjis_undeclared")
    assert any("encoding" in e["message"] for e in ev)
    assert "encoding" in st.last_warning and st.status == "ok"


def test_broken_xml_is_salvaged_with_a_visible_warning(ingest, settings):
    summary, articles = ingest([feed("rss_broken.xml")])
    titles = {a["title"] for a in articles}
    assert {"Tencent & NetEase report results", "Geely expands in Europe", "Truncated item"} == titles
    assert summary.errors == []
    assert any("malformed feed, 3 entries salvaged" in w for _, w in summary.warnings)
    _, st = events(settings, "rss_broken")
    assert "malformed" in st.last_warning


def test_html_instead_of_a_feed_is_an_error(ingest, settings):
    summary, articles = ingest([feed("html_page.html")])
    assert articles == []
    assert summary.errors and "HTML page" in summary.errors[0][1]
    _, st = events(settings, "html_page")
    assert st.consecutive_failures == 1 and "HTML page" in st.last_error


def test_empty_feeds(ingest):
    summary, articles = ingest([feed("empty_channel.xml"), feed("empty_body.xml")])
    assert articles == []
    assert ("empty_channel", "feed has no entries") in summary.warnings
    assert [n for n, _ in summary.errors] == ["empty_body"]
    assert "empty response body" in summary.errors[0][1]


def test_entries_without_links_or_dates_are_salvaged_and_the_empty_one_dead_lettered(ingest, settings):
    summary, articles = ingest([feed("entries_missing.xml")])
    by_title = {a["title"]: a for a in articles}
    assert by_title["No link but a URL guid"]["url"] == "https://missing.example.com/guid-url"
    assert by_title["No link but a URL guid"]["provenance"]["url"] == "entry guid"
    nolink = by_title["No link, plain guid, no date"]
    assert nolink["url"].startswith("urn:sinoscope:entries_missing:")
    assert nolink["provenance"]["published"] == "fetched: no date in entry"
    assert nolink["published"] == nolink["fetched"]
    assert "Normal entry" in by_title
    assert summary.dead_lettered == 1
    bus = EmbeddedBus(settings.path("bus.sqlite"))
    dead = [json.loads(r.value) for r in bus.read(settings.bus.topics.dead_letter)]
    bus.close()
    assert len(dead) == 1 and "no link, no title and no text" in dead[0]["reason"]
    assert dead[0]["stage"] == "ingest"


def test_odd_dates(ingest):
    _, articles = ingest([feed("dates.xml")])
    got = {a["title"]: (a["published"], a["provenance"]["published"]) for a in articles}
    assert got["HKT zone"] == ("2026-11-03T07:15:00Z", "feed")
    assert got["EDT zone"] == ("2026-11-03T07:15:00Z", "feed")
    assert got["ISO 8601"] == ("2026-11-03T07:15:00Z", "feed")
    assert got["Single digit day, no seconds"] == ("2026-11-03T07:15:00Z", "feed")
    for title, why in [
        ("Future date", "future"),
        ("Epoch date", "implausibly old"),
        ("Garbage date", "unparseable"),
        ("No date", "no date"),
    ]:
        assert got[title][0] == "2026-11-20T12:00:00Z", title  # the fetch time (test clock)
        assert why in got[title][1], title


def test_external_entities_are_never_expanded(ingest, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-TOKEN")
    xxe = tmp_path / "xxe.xml"
    xxe.write_text((FEEDS / "xxe.xml").read_text().replace("file://SECRET_PATH", secret.as_uri()))
    summary, articles = ingest([src("xxe", xxe.as_uri()), feed("billion_laughs.xml")])
    dump = json.dumps(articles)
    assert "TOP-SECRET-TOKEN" not in dump
    assert "lollollol" not in dump  # no entity expansion bomb either
    assert len(articles) == 2  # the entries themselves are still salvaged


def test_scripts_and_styles_in_feed_html_never_reach_the_text(ingest, tmp_path):
    """Feed HTML is read as text without feedparser's sanitiser: script, style, noscript and
    template elements go with their content, in RSS CDATA and in Atom's escaped HTML alike."""
    hostile = (
        "<p>BYD opened a plant in Szeged.</p><script>steal('cookie')</script>"
        "<style>p { color: red }</style><noscript>Enable JavaScript</noscript>"
        '<template><b>hidden</b></template><p onclick="evil()">Output will double.</p>'
    )
    rss = tmp_path / "hostile.xml"
    rss.write_text(
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>H</title>'
        "<link>https://h.example/</link><item><title>BYD <script>x()</script>plant</title>"
        "<link>https://h.example/a/1</link><pubDate>Thu, 19 Nov 2026 10:00:00 GMT</pubDate>"
        f"<content:encoded><![CDATA[{hostile}]]></content:encoded></item></channel></rss>",
        encoding="utf-8",
    )
    atom = tmp_path / "hostile-atom.xml"
    atom.write_text(
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>'
        "<id>urn:a</id><updated>2026-11-19T10:00:00Z</updated><entry><title>Plant in Szeged</title>"
        '<id>urn:a:1</id><link href="https://h.example/b/1"/><updated>2026-11-19T10:00:00Z</updated>'
        f'<content type="html">{escape(hostile)}</content></entry></feed>',
        encoding="utf-8",
    )
    summary, articles = ingest([src("hostile", rss.as_uri()), src("hostile-atom", atom.as_uri())])
    assert summary.errors == [] and len(articles) == 2
    for a in articles:
        assert a["text"] == "BYD opened a plant in Szeged.\nOutput will double.", a["text"]
    assert {a["title"] for a in articles} == {"BYD plant", "Plant in Szeged"}


def test_missing_file_source_is_a_recorded_failure(ingest, settings, tmp_path):
    summary, _ = ingest([src("gone", (tmp_path / "nope.xml").as_uri())])
    assert summary.errors == [
        ("gone", f"HTTP 404 from {(tmp_path / 'nope.xml').as_uri()}: feed not found (check the URL)")
    ]
