"""Feed polling against a real local HTTP server (pytest-httpserver, loopback only): conditional
GET, lying servers, the HTTP statuses a feed reader meets, slow and oversize responses, redirect
loops, and page extraction for summary-only feeds. Each bad case shows a clear recorded error
and no lost or duplicated article."""

from __future__ import annotations

import time
from datetime import timedelta
from email.utils import format_datetime

import pytest
from conftest import src
from werkzeug import Response

from ingest.http import HostThrottle
from ingest.state import IngestState

pytestmark = pytest.mark.integration


def rss(items: list[tuple[str, str]], base: str, full: bool = True) -> str:
    """items: (slug, title). With full=False entries carry only a one-line description."""
    body = []
    for slug, title in items:
        content = (
            (
                f"<content:encoded><![CDATA[<p>{title}. "
                + "This paragraph is the article body. " * 8
                + "</p>]]></content:encoded>"
            )
            if full
            else ""
        )
        body.append(
            f"<item><title>{title}</title><link>{base}/a/{slug}</link><guid>{slug}</guid>"
            f"<pubDate>Mon, 09 Nov 2026 10:00:00 GMT</pubDate><description>{title}.</description>{content}</item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        f"<channel><title>T</title><link>{base}</link><description>d</description>{''.join(body)}</channel></rss>"
    )


def state_of(settings, name):
    st = IngestState(settings.path("ingest.sqlite"))
    try:
        return st.source(name)
    finally:
        st.close()


def ids(articles):
    out = [a["id"] for a in articles]
    assert len(out) == len(set(out)), "an article was published twice"
    return set(out)


def test_conditional_get_persists_validators_between_runs(httpserver, ingest, settings):
    base = httpserver.url_for("").rstrip("/")
    seen_headers = []

    def handler(request):
        seen_headers.append(dict(request.headers))
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(status=304)
        return Response(
            rss([("1", "BYD news"), ("2", "Huawei news")], base),
            content_type="application/rss+xml",
            headers={"ETag": '"v1"', "Last-Modified": "Mon, 09 Nov 2026 10:00:00 GMT"},
        )

    httpserver.expect_request("/feed").respond_with_handler(handler)
    s1, a1 = ingest([src("f", httpserver.url_for("/feed"))])
    assert s1.new_articles == 2
    s2, a2 = ingest([src("f", httpserver.url_for("/feed"))])  # a new runner: validators came from disk
    assert s2.not_modified == 1 and s2.new_articles == 0 and s2.errors == []
    assert "If-None-Match" not in seen_headers[0]
    assert seen_headers[1]["If-None-Match"] == '"v1"'
    assert seen_headers[1]["If-Modified-Since"] == "Mon, 09 Nov 2026 10:00:00 GMT"
    assert seen_headers[0]["User-Agent"].startswith("Sinoscope/")
    assert ids(a2) == ids(a1)


def test_server_that_answers_304_forever_is_caught_by_an_unconditional_fetch(httpserver, ingest, clock, settings):
    base = httpserver.url_for("").rstrip("/")
    items = [("1", "First story")]
    conditional = []

    def handler(request):
        conditional.append("If-None-Match" in request.headers)
        if "If-None-Match" in request.headers:
            return Response(status=304)  # lies: the content below changes
        return Response(rss(items, base), content_type="application/rss+xml", headers={"ETag": '"forever"'})

    httpserver.expect_request("/feed").respond_with_handler(handler)
    feed = [src("liar", httpserver.url_for("/feed"))]
    assert ingest(feed)[0].new_articles == 1
    items.append(("2", "Second story"))
    clock.advance(hours=1)
    assert ingest(feed)[0].new_articles == 0  # the lie holds for now
    clock.advance(hours=settings.ingest.unconditional_refresh_h)
    summary, articles = ingest(feed)
    assert summary.new_articles == 1
    assert conditional == [False, True, False]
    assert {a["title"] for a in articles} == {"First story", "Second story"}
    ids(articles)


def test_same_etag_with_changed_content(httpserver, ingest):
    base = httpserver.url_for("").rstrip("/")
    items = [("1", "First story")]
    httpserver.expect_request("/feed").respond_with_handler(
        lambda r: Response(rss(items, base), content_type="application/rss+xml", headers={"ETag": '"same"'})
    )
    feed = [src("f", httpserver.url_for("/feed"))]
    ingest(feed)
    items.append(("2", "Second story"))
    summary, articles = ingest(feed)
    assert summary.new_articles == 1 and len(ids(articles)) == 2


def test_404_backs_off_then_is_flagged_and_keeps_being_reported(httpserver, ingest, clock, settings):
    httpserver.expect_request("/feed").respond_with_data("nope", status=404)
    feed = [src("missing", httpserver.url_for("/feed"))]
    s1, _ = ingest(feed)
    assert s1.errors and "HTTP 404" in s1.errors[0][1] and "not found" in s1.errors[0][1]
    st = state_of(settings, "missing")
    assert st.consecutive_failures == 1 and st.status == "error"
    assert st.next_poll_after == clock.now + timedelta(seconds=60)

    s2, _ = ingest(feed)  # still backing off: not polled, but reported
    assert s2.polled == 0 and "backing off" in s2.skipped[0][1]
    requests_so_far = len(httpserver.log)

    for n in (2, 3):
        clock.advance(hours=1)
        ingest(feed)
        assert state_of(settings, "missing").consecutive_failures == n
    assert len(httpserver.log) == requests_so_far + 2
    st = state_of(settings, "missing")
    assert st.status == "failing"
    assert st.next_poll_after - clock.now == timedelta(seconds=60 * 4)  # exponential backoff
    s5, _ = ingest(feed)
    assert s5.flagged and s5.flagged[0][0] == "missing" and "failing since" in s5.flagged[0][1]


def test_410_retires_the_source(httpserver, ingest, clock, settings):
    httpserver.expect_request("/feed").respond_with_data("gone", status=410)
    feed = [src("retired", httpserver.url_for("/feed"))]
    s1, _ = ingest(feed)
    assert "410" in s1.errors[0][1] and state_of(settings, "retired").status == "retired"
    clock.advance(days=7)
    s2, _ = ingest(feed, force=True)
    assert s2.polled == 0 and s2.skipped[0][1].startswith("retired")
    assert s2.flagged[0][0] == "retired"
    assert len(httpserver.log) == 1  # never asked again


@pytest.mark.parametrize("retry_after", ["120", "date"])
def test_429_respects_retry_after(httpserver, ingest, clock, settings, retry_after):
    value = format_datetime(clock.now + timedelta(seconds=120), usegmt=True) if retry_after == "date" else retry_after
    calls = []

    def handler(request):
        calls.append(1)
        if len(calls) == 1:
            return Response("slow down", status=429, headers={"Retry-After": value})
        return Response(rss([("1", "A story")], httpserver.url_for("").rstrip("/")), content_type="application/rss+xml")

    httpserver.expect_request("/feed").respond_with_handler(handler)
    feed = [src("limited", httpserver.url_for("/feed"))]
    s1, _ = ingest(feed)
    assert "429" in s1.errors[0][1] and "Retry-After 120s" in s1.errors[0][1]
    assert state_of(settings, "limited").next_poll_after == clock.now + timedelta(seconds=120)
    clock.advance(seconds=60)
    assert ingest(feed)[0].polled == 0
    clock.advance(seconds=61)
    s3, articles = ingest(feed)
    assert s3.new_articles == 1 and len(calls) == 2
    assert state_of(settings, "limited").status == "ok"


def test_500_then_recovery_loses_and_duplicates_nothing(httpserver, ingest, clock):
    base = httpserver.url_for("").rstrip("/")
    mode = {"status": 200, "items": [("1", "One"), ("2", "Two")]}

    def handler(request):
        if mode["status"] != 200:
            return Response("boom", status=mode["status"])
        return Response(rss(mode["items"], base), content_type="application/rss+xml")

    httpserver.expect_request("/feed").respond_with_handler(handler)
    feed = [src("flaky", httpserver.url_for("/feed"))]
    ingest(feed)
    mode.update(status=503, items=[("1", "One"), ("2", "Two"), ("3", "Three")])
    s2, _ = ingest(feed)
    assert "HTTP 503" in s2.errors[0][1] and "server error" in s2.errors[0][1]
    mode["status"] = 200
    clock.advance(minutes=5)
    s3, articles = ingest(feed)
    assert s3.new_articles == 1 and s3.errors == []
    assert {a["title"] for a in articles} == {"One", "Two", "Three"}
    ids(articles)


def test_slow_and_trickling_responses_time_out_without_blocking_other_sources(httpserver, ingest):
    base = httpserver.url_for("").rstrip("/")

    def slow(request):
        time.sleep(2.5)  # longer than the 2 s timeout
        return Response(rss([("s", "Slow")], base), content_type="application/rss+xml")

    def trickle(request):
        def gen():
            yield b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
            for _ in range(12):
                time.sleep(0.25)  # each read is quick, the whole never ends in time
                yield b" "

        return Response(gen(), content_type="application/rss+xml")

    httpserver.expect_request("/slow").respond_with_handler(slow)
    httpserver.expect_request("/trickle").respond_with_handler(trickle)
    httpserver.expect_request("/ok").respond_with_data(rss([("ok", "Fine")], base), content_type="application/rss+xml")
    summary, articles = ingest(
        [
            src("slow", httpserver.url_for("/slow")),
            src("ok", httpserver.url_for("/ok")),
            src("trickle", httpserver.url_for("/trickle")),
        ],
        deadline_s=1.5,
    )
    errors = dict(summary.errors)
    assert "timed out" in errors["slow"]
    assert "no complete response within" in errors["trickle"]
    assert [a["title"] for a in articles] == ["Fine"]


@pytest.mark.parametrize("chunked", [False, True])
def test_oversize_body_is_refused(httpserver, ingest, chunked):
    big = rss([(str(i), f"Story {i}") for i in range(200)], "http://x")
    if chunked:
        httpserver.expect_request("/big").respond_with_handler(
            lambda r: Response(
                (big[i : i + 1000].encode() for i in range(0, len(big), 1000)), content_type="application/rss+xml"
            )
        )
    else:
        httpserver.expect_request("/big").respond_with_data(big, content_type="application/rss+xml")
    summary, articles = ingest([src("big", httpserver.url_for("/big"))], max_feed_bytes=20_000)
    assert articles == []
    assert "exceeds limit 20000 bytes" in summary.errors[0][1]


def test_redirect_loop_is_an_error(httpserver, ingest):
    httpserver.expect_request("/loop").respond_with_handler(
        lambda r: Response(status=302, headers={"Location": httpserver.url_for("/loop")})
    )
    summary, _ = ingest([src("loop", httpserver.url_for("/loop"))])
    assert "more than 5 redirects" in summary.errors[0][1]


def test_permanent_redirect_is_followed_and_reported(httpserver, ingest, settings):
    base = httpserver.url_for("").rstrip("/")
    httpserver.expect_request("/old").respond_with_handler(
        lambda r: Response(status=301, headers={"Location": httpserver.url_for("/new")})
    )
    httpserver.expect_request("/new").respond_with_data(rss([("1", "Moved")], base), content_type="application/rss+xml")
    summary, articles = ingest([src("mover", httpserver.url_for("/old"))])
    assert [a["title"] for a in articles] == ["Moved"]
    assert any("moved permanently" in w for _, w in summary.warnings)
    assert state_of(settings, "mover").moved_to == httpserver.url_for("/new")
    n = len(httpserver.log)
    ingest([src("mover", httpserver.url_for("/old"))])
    assert [str(r.path) for r, _ in httpserver.log[n:]] == ["/new"]


GBK_PAGE = (
    "<html><head><meta charset='utf-8'><title>重庆</title></head><body><nav>首页 | 新闻</nav>"
    "<article><h1>重庆夜景吸引外国游客</h1><p>重庆以其壮观的夜景和麻辣火锅闻名，越来越多的外国游客来到这座山城。"
    "游客们称赞洪崖洞和长江索道，认为重庆是中国最有魅力的城市之一。</p><p>当地旅游部门表示，今年入境游客人数创下历史新高，"
    "免签政策和便利的支付方式起到了重要作用。</p></article><footer>版权所有</footer></body></html>"
)
EN_PAGE = (
    "<html><head><title>Changan</title></head><body><nav>Home | World | Business</nav><article>"
    "<h1>Changan opens Thai factory</h1>"
    + "<p>Changan Automobile opened its first South-East Asian factory in Rayong, "
    "Thailand, on Monday, and the Chongqing-based carmaker said it would export to Australia.</p>"
    * 3
    + "</article><footer>Cookie policy | Contact</footer></body></html>"
)


def test_summary_only_feed_gets_page_text_and_failed_pages_keep_the_summary(httpserver, ingest):
    base = httpserver.url_for("").rstrip("/")
    httpserver.expect_request("/feed").respond_with_data(
        rss(
            [
                ("en", "Changan opens Thai factory"),
                ("gbk", "Chongqing night views"),
                ("err", "Broken page"),
                ("huge", "Huge page"),
            ],
            base,
            full=False,
        ),
        content_type="application/rss+xml",
    )
    httpserver.expect_request("/a/en").respond_with_data(EN_PAGE, content_type="text/html")
    # declared UTF-8 (header and meta) but the bytes are GBK
    httpserver.expect_request("/a/gbk").respond_with_data(
        GBK_PAGE.encode("gbk"), content_type="text/html; charset=utf-8"
    )
    httpserver.expect_request("/a/err").respond_with_data("oops", status=500)
    httpserver.expect_request("/a/huge").respond_with_data("<p>x</p>" * 100_000, content_type="text/html")
    summary, articles = ingest([src("summaries", httpserver.url_for("/feed"))], max_page_bytes=200_000)
    by = {a["title"]: a for a in articles}
    assert len(articles) == 4 and summary.pages_fetched == 4
    en = by["Changan opens Thai factory"]
    assert "Chongqing-based carmaker" in en["text"] and "Cookie policy" not in en["text"]
    assert en["provenance"]["text"].startswith("page extract")
    zh = by["Chongqing night views"]
    assert "重庆以其壮观的夜景" in zh["text"] and "gb" in zh["provenance"]["text"].lower()
    broken = by["Broken page"]
    assert broken["text"] == "Broken page." and "HTTP 500" in broken["notes"][0]
    huge = by["Huge page"]
    assert huge["text"] == "Huge page." and "exceeds limit" in huge["notes"][0]


def test_per_host_throttle_spaces_requests_to_one_host():
    throttle = HostThrottle(0.3)
    t0 = time.monotonic()
    throttle.wait("a.example")
    throttle.wait("b.example")
    assert time.monotonic() - t0 < 0.2  # different hosts do not wait for each other
    throttle.wait("a.example")
    assert time.monotonic() - t0 >= 0.29
