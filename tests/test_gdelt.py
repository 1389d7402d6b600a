"""GDELT as a source (``kind: gdelt``) against a local server answering in the DOC 2.0 API's
documented ``mode=artlist&format=json`` format: articles arrive with GDELT's outlet, country,
language and time and the page's full text (fetched through the guard); an empty answer, a
rate-limit answer and malformed JSON are clear failures or nothing, never lost articles."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
from test_http_polling import EN_PAGE, GBK_PAGE, state_of

from ingest.gdelt import country_code, language_code
from ingest.sources import SourcesError, load_sources

pytestmark = pytest.mark.integration


def gdelt_src(url: str, query: str = '"Chengdu" OR "Chongqing"', **kw) -> dict:
    return {"name": "gdelt-cities", "kind": "gdelt", "url": url, "query": query, **kw}


def answer(base: str) -> dict:
    return {
        "articles": [
            {"url": f"{base}/a/en", "url_mobile": "", "title": "Changan opens Thai factory",
             "seendate": "20261119T081500Z", "socialimage": "", "domain": "bangkokpost.com",
             "language": "English", "sourcecountry": "Thailand"},
            {"url": f"{base}/a/zh", "url_mobile": "", "title": "重庆夜景吸引外国游客",
             "seendate": "20261118T230000Z", "socialimage": "", "domain": "zaobao.com.sg",
             "language": "Chinese", "sourcecountry": "Singapore"},
        ]
    }  # fmt: skip


def test_gdelt_articles_arrive_with_their_outlet_country_language_time_and_text(httpserver, ingest):
    base = httpserver.url_for("").rstrip("/")
    asked = []

    def api(request):
        asked.append(parse_qs(request.query_string.decode()))
        import json

        from werkzeug import Response

        return Response(json.dumps(answer(base)), content_type="application/json")

    httpserver.expect_request("/api/v2/doc/doc").respond_with_handler(api)
    httpserver.expect_request("/a/en").respond_with_data(EN_PAGE, content_type="text/html")
    httpserver.expect_request("/a/zh").respond_with_data(GBK_PAGE, content_type="text/html; charset=utf-8")
    summary, articles = ingest([gdelt_src(httpserver.url_for("/api/v2/doc/doc"))])
    assert summary.errors == [] and len(articles) == 2
    q = asked[0]
    assert q["query"] == ['"Chengdu" OR "Chongqing"'] and q["mode"] == ["artlist"] and q["format"] == ["json"]
    by = {a["title"]: a for a in articles}
    en, zh = by["Changan opens Thai factory"], by["重庆夜景吸引外国游客"]
    assert (en["outlet"], en["country"], en["language"]) == ("bangkokpost.com", "TH", "en")
    assert (zh["outlet"], zh["country"], zh["language"]) == ("zaobao.com.sg", "SG", "zh")
    assert en["published"].startswith("2026-11-19T08:15:00") and zh["published"].startswith("2026-11-18T23:00:00")
    assert "Chongqing-based carmaker" in en["text"] and "重庆以其壮观的夜景" in zh["text"]
    assert en["source"] == "gdelt-cities"
    # polled again: the same answer publishes nothing new
    _, again = ingest([gdelt_src(httpserver.url_for("/api/v2/doc/doc"))], force=True)
    assert len(again) == 2


@pytest.mark.parametrize(
    "body, status, content_type, outcome, reason",
    [
        ("{}", 200, "application/json", "ok", None),  # nothing matched
        ("Please limit requests to one every 5 seconds or contact kalev.leetaru5@gmail.com", 200, "text/html",
         "failed", "limit requests"),
        ("Please limit requests to one every 5 seconds", 429, "text/plain", "failed", "HTTP 429"),
        ('{"articles": [{"url": "https://x.example/a", "title": "Broken', 200, "application/json", "failed",
         "malformed JSON"),
    ],
)  # fmt: skip
def test_empty_rate_limited_and_malformed_answers(
    httpserver, ingest, settings, body, status, content_type, outcome, reason
):
    httpserver.expect_request("/doc").respond_with_data(body, status=status, content_type=content_type)
    summary, articles = ingest([gdelt_src(httpserver.url_for("/doc"))])
    assert articles == []
    st = state_of(settings, "gdelt-cities")
    if outcome == "ok":
        assert summary.errors == [] and st.consecutive_failures == 0
    else:
        assert st.consecutive_failures == 1 and reason in (st.last_error or "")


def test_gdelt_entries_are_checked_in_the_sources_file(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("sources:\n  - {name: g, kind: gdelt, query: '\"BYD\" sourcelang:german'}\n")
    [s] = load_sources(f)
    assert s.url == "https://api.gdeltproject.org/api/v2/doc/doc" and s.kind == "gdelt"
    f.write_text("sources:\n  - {name: g, kind: gdelt}\n")
    with pytest.raises(SourcesError, match="query"):
        load_sources(f)
    f.write_text("sources:\n  - {name: r, url: https://x.example/feed}\n")
    with pytest.raises(SourcesError, match="outlet"):
        load_sources(f)


def test_gdelt_names_map_to_codes():
    assert (country_code("United Kingdom"), country_code("Czech Republic"), country_code("Atlantis")) == (
        "GB",
        "CZ",
        "",
    )
    assert (language_code("Chinese"), language_code("German"), language_code("Klingon")) == ("zh", "de", "")


def test_a_host_that_asks_for_a_longer_gap_gets_it():
    import time

    from ingest.http import HostThrottle

    t = HostThrottle(0.0, {"API.gdeltproject.org": 0.3})
    start = time.monotonic()
    for _ in range(3):
        t.wait("api.gdeltproject.org")
        t.wait("feeds.example.org")  # other hosts are not held back
    assert 0.6 <= time.monotonic() - start < 0.9


def test_a_failing_gdelt_query_is_flagged_like_a_failing_feed(httpserver, ingest, settings):
    httpserver.expect_request("/doc").respond_with_data("Please limit requests to one every 5 seconds", status=200)
    for _ in range(settings.ingest.failing_after):
        summary, _ = ingest([gdelt_src(httpserver.url_for("/doc"))], force=True)
    assert state_of(settings, "gdelt-cities").status == "failing"
    assert [name for name, _ in summary.flagged] == ["gdelt-cities"]
