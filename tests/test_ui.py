"""The local web app (``sinoscope ui``), started as the command and driven in Debian's headless
chromium (Selenium): search for a phrase, open an entity, its chart drawn with one point per
bucket and the fired alert marked, the alerts page listing it, CSV links, no console errors.
Screenshots go to test-artifacts/ (SINOSCOPE_TEST_ARTIFACTS)."""

from __future__ import annotations

import csv
import io
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from alerting import steady, store, window
from test_report import ARTIFACTS, _driver
from test_search import ARTICLES, article

from sinoscope.core.settings import load_settings

SINOSCOPE = str(Path(sys.executable).parent / "sinoscope")
pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A store holding the search articles and a planted drop for Chengdu whose alert fired, and
    the web app serving it (the real command, on a free loopback port)."""
    from sinks.alerts.run import alert_pass

    data = tmp_path_factory.mktemp("ui") / "data"
    now = datetime.now(UTC)
    settings = load_settings(data_dir=data)
    store(
        settings, steady("city:chengdu", now) + window("city:chengdu", now, 14, -0.6) + [article(*a) for a in ARTICLES]
    )
    [alert] = alert_pass(settings, now=now).fired
    port = _free_port()
    env = {**os.environ, "SINOSCOPE_DATA_DIR": str(data)}
    proc = subprocess.Popen(
        [SINOSCOPE, "ui", "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            if httpx.get(base + "/sources", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert proc.poll() is None and time.time() < deadline, proc.stdout.read().decode() if proc.stdout else ""
        time.sleep(0.3)
    yield base, alert
    proc.terminate()
    proc.wait(timeout=10)


def test_pages_answer_with_shareable_urls_csv_links_and_clear_errors(site):
    base, alert = site
    page = httpx.get(base + "/", params={"q": '"electric car"'})
    assert (
        page.status_code == 200
        and "1 article<" in page.text
        and "<b>Electric</b>" in page.text.replace("<b>electric</b>", "<b>Electric</b>")
    )
    rows = list(csv.DictReader(io.StringIO(httpx.get(base + "/csv/search", params={"q": "BYD", "country": "DE"}).text)))
    assert [r["article_id"] for r in rows] == ["de1"]
    trend = list(csv.DictReader(io.StringIO(httpx.get(base + "/csv/entity/city:chengdu").text)))
    assert len(trend) == 91 and {"start", "mentions", "sentiment_mean"} <= set(trend[0])  # 90 days and today
    listed = list(csv.DictReader(io.StringIO(httpx.get(base + "/csv/alerts").text)))
    assert [r["id"] for r in listed] == [alert["id"]]
    bad = httpx.get(base + "/", params={"q": "(("})
    assert bad.status_code == 400 and "cannot read the query" in bad.text
    assert httpx.get(base + "/entity/Atlantis").status_code == 400
    # feed text is escaped: a title cannot inject markup
    assert "<script>" not in httpx.get(base + "/", params={"q": "BYD"}).text.split("</nav>", 1)[1]


@pytest.mark.slow
def test_the_web_app_in_a_real_browser(site, tmp_path):
    driver = _driver(tmp_path)
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    base, alert = site
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        driver.set_window_size(1280, 1000)
        driver.get(base + "/")
        box = driver.find_element(By.NAME, "q")
        box.send_keys("“electric car”")  # curly quotes, as typed in a word processor
        box.submit()
        WebDriverWait(driver, 20).until(lambda d: "q=" in d.current_url)
        assert driver.find_element(By.ID, "total").text == "1 article"
        hit = driver.find_element(By.CSS_SELECTOR, ".hit")
        assert "Electric cars in Europe" in hit.text
        assert [b.text.lower() for b in hit.find_elements(By.CSS_SELECTOR, ".snippet b")][:2] == ["electric", "car"]
        driver.save_screenshot(str(ARTIFACTS / "ui-search.png"))
        # open an entity from the hit's mentions, then Chengdu's page with its alert
        hit.find_element(By.LINK_TEXT, "BYD").click()
        WebDriverWait(driver, 20).until(lambda d: "/entity/brand:byd" in d.current_url)
        driver.get(base + "/entity/Chengdu")
        buckets = 91  # 90 days back to today, one bar and one tone point a day
        WebDriverWait(driver, 30).until(
            lambda d: d.execute_script("return document.querySelectorAll('#chart-entity-0 .main-svg').length > 0")
        )
        drawn = driver.execute_script(
            "const g = document.getElementById('chart-entity-0');"
            "return g.data.map(t => [t.name, t.x.length, t.y.filter(v => v !== null).length]);"
        )
        assert ["mentions", buckets, buckets] in drawn
        tone = next(t for t in drawn if t[0] == "mean sentiment")
        assert tone[1] == buckets and 0 < tone[2] < buckets  # days without coverage are gaps, not zeros
        assert any(t[0] == "alert: sentiment_drop" for t in drawn)
        assert len(driver.find_elements(By.CSS_SELECTOR, "#chart-entity-0 .barlayer .point")) == buckets
        driver.save_screenshot(str(ARTIFACTS / "ui-entity.png"))
        driver.get(base + "/alerts")
        rows = driver.find_elements(By.CSS_SELECTOR, "#alerts-table tbody tr")
        assert len(rows) == 1 and "Chengdu" in rows[0].text and "sentiment drop" in rows[0].text
        driver.get(base + "/rank?type=city&since=365d")
        assert driver.find_elements(By.CSS_SELECTOR, "#ranking-table tbody tr")
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
    finally:
        driver.quit()
