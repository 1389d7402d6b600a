"""The HTML report: rendered from the bundled corpus, opened in a real headless Chromium
(Debian's package, driven by Selenium through chromedriver), and checked against the answers of
`trend`, `rank` and `stories` for the same period."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

SINOSCOPE = str(Path(sys.executable).parent / "sinoscope")
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("SINOSCOPE_TEST_ARTIFACTS", ROOT / "test-artifacts"))
SINCE = "2026-10-01"  # the bundled corpus was published 2026-10-23 .. 2026-11-18
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


def cli(data: Path, *args) -> str:
    proc = subprocess.run(
        [SINOSCOPE, "--data-dir", str(data), *args],
        capture_output=True,
        text=True,
        timeout=400,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.returncode == 0, f"sinoscope {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """The bundled corpus through the whole pipeline (`run --once`), once for this module."""
    data = tmp_path_factory.mktemp("report") / "data"
    cli(data, "run", "--once")
    return data


@pytest.fixture(scope="module")
def report(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("html") / "report.html"
    cli(corpus, "report", "--since", SINCE, "--out", str(out))
    data = json.loads(cli(corpus, "report", "--since", SINCE, "--json"))
    return out, data


@pytest.mark.slow
def test_the_report_is_one_offline_file_with_every_part(report):
    out, data = report
    html = out.read_text(encoding="utf-8")
    from html.parser import HTMLParser

    class External(HTMLParser):
        found: list = []

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if (
                (tag == "script" and a.get("src"))
                or (tag == "link" and a.get("href"))
                or (tag in ("img", "iframe") and (a.get("src") or "").startswith("http"))
            ):
                self.found.append((tag, a))

    parser = External()
    parser.feed(html)
    assert parser.found == []  # nothing loaded from elsewhere: plotly.js is inside the file
    assert "Plotly.newPlot" in html
    assert html.count('class="js-plotly-plot"') == 0  # divs get that class only once drawn (browser test)
    assert len(data["rank"]["rows"]) >= 10 and data["entities"]
    assert {e["type"] for e in data["entities"]} == {"city", "brand"}
    for part in (
        "ranking-table",
        "Share of voice",
        "Coverage by outlet country",
        "What these figures cover",
        data["model"]["name"],
        "Most negative",
    ):
        assert part in html
    t = data["totals"]
    assert t["articles"] >= 15 and t["duplicates"] == 1 and t["duplicates_excluded"] is True
    assert f"{t['articles_with_mentions']} articles from {t['outlets']} outlets" in html


@pytest.mark.slow
def test_the_reports_numbers_are_the_query_answers(corpus, report):
    _, data = report
    rank = json.loads(cli(corpus, "rank", "--type", "city", "--since", SINCE, "--limit", "100", "--json"))
    strip = lambda rows: [
        {k: r[k] for k in ("entity_id", "mentions", "outlets", "countries", "sentiment_mean")} for r in rows
    ]  # noqa: E731 (the index's growth term moves with the clock)
    assert strip(data["rank"]["rows"]) == strip(rank["rows"])
    assert [r["entity_id"] for r in data["rank"]["rows"]] == [r["entity_id"] for r in rank["rows"]]
    first = data["entities"][0]  # one entity through the commands; every entity through their query layer
    trend = json.loads(
        cli(corpus, "trend", first["entity_id"], "--since", SINCE, "--interval", data["interval"], "--json")
    )
    assert first["trend"]["buckets"] == trend["buckets"]
    neg = json.loads(
        cli(corpus, "stories", first["entity_id"], "--since", SINCE, "--limit", "5", "--negative", "--json")
    )
    assert first["negative"] == neg["stories"]
    from sinks.query import open_queries, parse_since
    from sinoscope.core.settings import load_settings

    q = open_queries(load_settings(data_dir=corpus))
    try:
        since = parse_since(SINCE)
        for e in data["entities"]:
            trend = q.trend(e["entity_id"], e["name"], since, data["interval"])
            assert e["trend"]["buckets"] == trend["buckets"][: len(e["trend"]["buckets"])]
            assert e["positive"] == q.stories(e["entity_id"], since, limit=5)["stories"]
            assert e["negative"] == q.stories(e["entity_id"], since, negative=True, limit=5)["stories"]
    finally:
        q.close()


def test_report_marks_the_alerts_that_fired(tmp_path):
    """Alerts on the timeline: a planted drop (store-level records), one alert pass, the report."""
    from alerting import steady, store, window

    from nlp.entities.catalogue import load_catalogue
    from sinks.alerts.run import alert_pass
    from sinks.report.data import gather
    from sinks.report.render import render
    from sinoscope.core.settings import load_settings

    now = datetime.now(UTC)
    settings = load_settings(data_dir=tmp_path / "d")
    store(settings, steady("city:chengdu", now) + window("city:chengdu", now, 14, -0.6))
    [alert] = alert_pass(settings, now=now).fired
    from sinks.query import parse_since

    data = gather(settings, load_catalogue(), parse_since("60d", now), now=now)
    [chengdu] = [e for e in data["entities"] if e["entity_id"] == "city:chengdu"]
    assert [a["id"] for a in chengdu["alerts"]] == [alert["id"]]
    assert data["alerts"][0]["kind"] == "sentiment_drop"
    html = render(data)
    assert "alert: sentiment_drop" in html and 'class="alert sentiment_drop"' in html


def _driver(tmp_path):
    """Headless chromium through Selenium; skipped (or failed, where CI requires a browser) without one."""
    if not (CHROMIUM and CHROMEDRIVER):
        if os.environ.get("SINOSCOPE_REQUIRE_BROWSER"):
            pytest.fail("chromium and chromedriver are required (make test installs Debian's packages)")
        pytest.skip("Debian's chromium and chromium-driver are not installed (make test installs them)")
    from selenium import webdriver

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'chromium'}",
        "--window-size=1280,1800",
    ):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))


@pytest.mark.slow
def test_the_report_draws_in_a_real_browser_without_errors(report, tmp_path):
    driver = _driver(tmp_path)
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    out, data = report
    charts = 1 + len(data["entities"]) + 3  # ranking, one per entity, share of voice, country, language
    try:
        driver.get(out.as_uri())
        WebDriverWait(driver, 60).until(
            lambda d: d.execute_script(
                "return document.readyState === 'complete' && "
                "document.querySelectorAll('.js-plotly-plot .main-svg').length >= arguments[0]",
                charts,
            )
        )
        plots = driver.find_elements(By.CSS_SELECTOR, ".js-plotly-plot")
        assert len(plots) == charts
        assert all(p.find_elements(By.CSS_SELECTOR, "svg.main-svg") for p in plots)
        # the charts hold marks: bars in the ranking and per entity, slices in the share of voice
        assert len(driver.find_elements(By.CSS_SELECTOR, "#chart-ranking .barlayer .point")) == min(
            15, len(data["rank"]["rows"])
        )
        assert driver.find_elements(By.CSS_SELECTOR, "#chart-entity-0 .barlayer .point")
        assert driver.find_elements(By.CSS_SELECTOR, "#chart-voice .slice")
        rows = driver.find_elements(By.CSS_SELECTOR, "#ranking-table tbody tr")
        assert len(rows) == len(data["rank"]["rows"])
        assert rows[0].find_elements(By.TAG_NAME, "td")[1].text == data["rank"]["rows"][0]["name"]
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1280, min(height, 12000))
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "report.png"
        assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 50_000
    finally:
        driver.quit()


HOSTILE = [  # (title, link, outlet) as a hostile feed might send them
    ("<script>window.pwned=1</script>Chengdu story", "javascript:window.pwned=2", "Evil <b>Times</b>"),
    ('"><img src=x onerror="window.pwned=3">', "data:text/html,<script>window.pwned=4</script>", "Outlet"),
    ("Plain title", "file:///etc/passwd", "Outlet"),
    ("Good link", "https://news.example/ok?a=1&b=<2>", "Outlet"),
]


def test_hostile_titles_and_links_are_text_and_only_web_links_are_links(tmp_path):
    """Feed text in the report is escaped; a story link is an <a href> only when it is http(s)."""
    from alerting import store
    from lxml import html as lhtml
    from records import enriched

    from nlp.entities.catalogue import load_catalogue
    from sinks.query import parse_since
    from sinks.report.data import gather
    from sinks.report.render import render
    from sinoscope.core.settings import load_settings

    now = datetime.now(UTC)
    settings = load_settings(data_dir=tmp_path / "d")
    records = []
    for i, (title, url, outlet) in enumerate(HOSTILE):
        for sign in (1, -1):
            records.append(
                enriched(
                    f"h{i}{sign}",
                    now - timedelta(days=1, hours=i),
                    [("city:chengdu", (0.5 + 0.1 * i) * sign)],  # a sentence of its own: a story of its own
                    title=title,
                    url=url,
                    outlet=outlet,
                )
            )
    store(settings, records)
    data = gather(settings, load_catalogue(), parse_since("30d", now), entity_ids=["city:chengdu"], now=now)
    page = render(data)
    doc = lhtml.fromstring(page)
    scripts = doc.xpath("//script")
    assert all("window.pwned" not in (s.text or "") for s in scripts)  # only plotly's own scripts
    assert doc.xpath("//img") == [] and doc.xpath("//@*[starts-with(name(), 'on')]") == []
    hrefs = [a.get("href") for a in doc.xpath("//a[@href]")]
    assert hrefs and all(h.startswith(("http://", "https://")) for h in hrefs)
    assert "https://news.example/ok?a=1&b=<2>" in hrefs  # attribute-escaped, same link
    items = [li.text_content() for li in doc.xpath("//section[@data-entity='city:chengdu']//li")]
    assert any("<script>window.pwned=1</script>Chengdu story" in t for t in items)  # shown as text
    assert any('"><img src=x onerror="window.pwned=3">' in t for t in items)
    assert any("Evil <b>Times</b>" in t for t in items)
    assert len(items) == 2 * len(HOSTILE)


def test_slack_messages_escape_feed_text_and_drop_non_web_links():
    from sinks.alerts.webhook import sample_alert, slack_payload

    alert = sample_alert(datetime.now(UTC))
    alert["stories"] = [
        {"url": url, "title": title, "outlet": outlet, "sentiment": -0.5} for title, url, outlet in HOSTILE
    ]
    text = slack_payload(alert)["blocks"][0]["text"]["text"]
    assert "<script>" not in text and "javascript:" not in text.replace("&lt;script&gt;", "")
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;Chengdu story" in text
    assert "<https://news.example/ok?a=1&amp;b=&lt;2&gt;|Good link>" in text
    assert "data:text" not in text and "file:///etc/passwd" not in text
    assert (
        "<!channel>"
        not in slack_payload(
            {
                **alert,
                "stories": [
                    {"url": "https://x.example", "title": "<!channel> buy now", "outlet": "o", "sentiment": 0.1}
                ],
            }
        )["blocks"][0]["text"]["text"]
    )
