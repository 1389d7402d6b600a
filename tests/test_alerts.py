"""Swing detection and webhook delivery on the real embedded store, the real alert log and a
real HTTP receiver on loopback (the engine's clock is set, so windows are deterministic)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from alerting import Receiver, steady, store, window

from sinks.alerts.log import AlertLog
from sinks.alerts.run import alert_pass
from sinks.alerts.webhook import SIGNATURE_HEADER, verify
from sinoscope.core.settings import load_settings

pytestmark = pytest.mark.slow  # each test drives detection, the alert log and a webhook receiver (~5 s)

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SECRET = "s3cret-for-tests"


@pytest.fixture
def asettings(tmp_path, monkeypatch):
    monkeypatch.setenv("SINOSCOPE_WEBHOOK_SECRET", SECRET)
    return load_settings(data_dir=tmp_path / "data", alerts={"backoff_s": 0.01, "retry_base_s": 60})


def alerts_in(settings) -> list[dict]:
    log = AlertLog(settings.path("alerts.sqlite"))
    try:
        return log.alerts()
    finally:
        log.close()


def test_a_planted_drop_fires_one_signed_webhook_and_a_stable_city_none(asettings, httpserver):
    store(
        asettings,
        steady("city:chengdu", NOW)
        + window("city:chengdu", NOW, 12, -0.6)
        + steady("city:hangzhou", NOW)
        + window("city:hangzhou", NOW, 12, 0.3),
    )
    rx = Receiver(httpserver)
    out = alert_pass(asettings, [rx.url], now=NOW)
    assert [(a["entity_id"], a["kind"]) for a in out.fired] == [("city:chengdu", "sentiment_drop")]
    assert out.evaluated == 2 and out.delivered == 1
    assert len(rx.requests) == 1
    req = rx.requests[0]
    assert verify(req["body"], req["headers"][SIGNATURE_HEADER], SECRET)
    assert not verify(req["body"], req["headers"][SIGNATURE_HEADER], "another secret")
    body = json.loads(req["body"])
    for key in ("id", "entity_id", "name", "kind", "window", "baseline", "current", "volume", "stories"):
        assert key in body
    assert body["name"] == "Chengdu" and body["volume"] == 12
    assert body["current"]["sentiment_mean"] < -0.5 < 0.2 < body["baseline"]["sentiment_mean"]
    assert body["stories"] and all(s["sentiment"] < 0 and s["url"].startswith("https://") for s in body["stories"])
    [listed] = alerts_in(asettings)
    assert listed["id"] == body["id"] and listed["delivered"] is True


def test_minimum_volume_one_article_and_too_few_mentions_never_fire(asettings):
    # 11 negative mentions: one short of the minimum
    store(asettings, steady("city:chengdu", NOW) + window("city:chengdu", NOW, 11, -0.7))
    assert alert_pass(asettings, now=NOW).fired == []
    # one article mentioning Wuhan 20 times, all negative: one story cannot fire an alert
    from alerting import enriched

    store(
        asettings,
        steady("city:wuhan", NOW)
        + [enriched("one-angry-article", NOW - timedelta(hours=3), [("city:wuhan", -0.8)] * 20)],
    )
    assert alert_pass(asettings, now=NOW).fired == []
    # the twelfth mention from another story makes Chengdu's drop count
    store(asettings, window("city:chengdu", NOW, 1, -0.7, prefix="late"))
    assert [a["entity_id"] for a in alert_pass(asettings, now=NOW).fired] == ["city:chengdu"]


def test_no_baseline_no_alert(asettings):
    """A city never covered before that appears with bad news is news, not a swing."""
    store(asettings, window("city:chengdu", NOW, 20, -0.7))
    assert alert_pass(asettings, now=NOW).fired == []


def test_one_swing_alerts_once_then_cooldown_then_rearms(asettings, httpserver):
    rx = Receiver(httpserver)
    store(asettings, steady("city:chengdu", NOW) + window("city:chengdu", NOW, 14, -0.6))
    assert len(alert_pass(asettings, [rx.url], now=NOW).fired) == 1
    # the same swing, seen on every later pass (every 5 minutes, then hours later): no repeat
    for later in (timedelta(minutes=5), timedelta(hours=6)):
        res = alert_pass(asettings, [rx.url], now=NOW + later)
        assert res.fired == [] and res.suppressed
    assert len(rx.requests) == 1
    # coverage recovers: a pass that no longer sees the drop ends the swing ...
    recovered = NOW + timedelta(days=5)
    store(asettings, window("city:chengdu", recovered, 14, 0.3, prefix="calm"))
    assert alert_pass(asettings, [rx.url], now=recovered).fired == []
    # ... and a new drop after the cooldown alerts again, with a new id
    again = recovered + timedelta(days=1)
    store(asettings, window("city:chengdu", again, 14, -0.7, prefix="again", hours=20))
    fired = alert_pass(asettings, [rx.url], now=again).fired
    assert [a["kind"] for a in fired] == ["sentiment_drop"]
    assert len({json.loads(r["body"])["id"] for r in rx.requests}) == 2


def test_cooldown_holds_even_if_the_swing_ends_and_restarts_quickly(asettings):
    store(asettings, steady("city:chengdu", NOW) + window("city:chengdu", NOW, 14, -0.6))
    assert len(alert_pass(asettings, now=NOW).fired) == 1
    later = NOW + timedelta(days=2, hours=1)  # the window has moved past the drop: swing over
    assert alert_pass(asettings, now=later).fired == []
    store(asettings, window("city:chengdu", later + timedelta(hours=12), 14, -0.7, prefix="b", hours=10))
    # a new drop 36 h after the first alert: inside the 72 h cooldown
    assert alert_pass(asettings, now=later + timedelta(hours=12)).fired == []


def test_rise_and_volume_spike_and_one_alert_per_entity(asettings):
    store(
        asettings,
        steady("city:hangzhou", NOW, score=-0.2)
        + window("city:hangzhou", NOW, 14, 0.6)
        + steady("brand:byd", NOW, per_day=2, score=0.0, spread=0.1)
        + window("brand:byd", NOW, 40, 0.0, spread=0.1)
        + steady("city:wuhan", NOW, per_day=2, score=0.3)
        + window("city:wuhan", NOW, 40, -0.6),
    )
    fired = {a["entity_id"]: a for a in alert_pass(asettings, now=NOW).fired}
    assert fired["city:hangzhou"]["kind"] == "sentiment_rise"
    assert fired["brand:byd"]["kind"] == "volume_spike"
    # Wuhan's coverage turned negative *and* tripled: one alert, the drop, naming both signals
    assert fired["city:wuhan"]["kind"] == "sentiment_drop"
    assert [s["kind"] for s in fired["city:wuhan"]["signals"]] == ["sentiment_drop", "volume_spike"]
    assert len(fired) == 3


def test_thresholds_per_type_and_per_entity(tmp_path):
    s = load_settings(
        data_dir=tmp_path / "d",
        alerts={"overrides": {"city": {"min_mentions": 30}, "city:chengdu": {"min_mentions": 10}}},
    )
    store(
        s,
        steady("city:chengdu", NOW)
        + window("city:chengdu", NOW, 12, -0.6)
        + steady("city:hangzhou", NOW)
        + window("city:hangzhou", NOW, 12, -0.6),
    )
    # cities need 30 mentions now, but Chengdu's own entry (10) wins over its type's
    assert [a["entity_id"] for a in alert_pass(s, now=NOW).fired] == ["city:chengdu"]


def test_a_receiver_that_fails_twice_then_succeeds_gets_the_alert_once(asettings, httpserver):
    rx = Receiver(httpserver, fail_first=2)
    store(asettings, steady("city:chengdu", NOW) + window("city:chengdu", NOW, 12, -0.6))
    res = alert_pass(asettings, [rx.url], now=NOW)
    assert res.delivered == 1 and res.failed == []
    assert [r["ok"] for r in rx.requests] == [False, False, True]
    assert len({r["body"] for r in rx.requests}) == 1  # the same bytes (and id) on every try
    assert len(rx.accepted) == 1
    log = AlertLog(asettings.path("alerts.sqlite"))
    [d] = log.deliveries()
    log.close()
    assert d["status"] == "delivered" and d["attempts"] == 3


def test_a_receiver_down_for_a_pass_gets_it_on_a_later_pass(asettings, httpserver):
    rx = Receiver(httpserver, fail_first=3, status=503)
    store(asettings, steady("city:chengdu", NOW) + window("city:chengdu", NOW, 12, -0.6))
    first = alert_pass(asettings, [rx.url], now=NOW)
    assert len(first.fired) == 1 and first.delivered == 0 and len(first.failed) == 1
    assert alerts_in(asettings)[0]["delivered"] is False
    # too early for the retry: nothing sent
    assert alert_pass(asettings, [rx.url], now=NOW + timedelta(seconds=30)).delivered == 0
    assert len(rx.requests) == 3
    later = alert_pass(asettings, [rx.url], now=NOW + timedelta(minutes=5))
    assert later.fired == [] and later.delivered == 1
    assert len(rx.accepted) == 1 and alerts_in(asettings)[0]["delivered"] is True


def test_a_restart_between_detection_and_delivery_delivers_exactly_once(asettings, httpserver):
    """Detection commits the alert and its queued delivery; the process dies before sending.
    The next process (a new engine, log and sender) sends it once, and does not fire again."""
    from sinks.alerts.engine import AlertEngine
    from sinks.alerts.run import sender, targets
    from sinks.duckdb.alerts import DuckDBAlerts

    rx = Receiver(httpserver)
    store(asettings, steady("city:chengdu", NOW) + window("city:chengdu", NOW, 12, -0.6))
    backend, log = DuckDBAlerts(asettings.path("store.duckdb")), AlertLog(asettings.path("alerts.sqlite"))
    engine = AlertEngine(asettings, log, sender(asettings), {"city:chengdu": "Chengdu"}, backend.stats, backend.stories)
    detected = engine.detect(NOW, targets(asettings, [rx.url]))
    assert len(detected.fired) == 1
    backend.close(), log.close()  # "crash": never delivered
    assert rx.requests == []
    res = alert_pass(asettings, [rx.url], now=NOW + timedelta(minutes=5))
    assert res.fired == [] and res.delivered == 1
    assert [a["id"] for a in rx.accepted] == [detected.fired[0]["id"]]
    assert alert_pass(asettings, [rx.url], now=NOW + timedelta(minutes=10)).delivered == 0
    assert len(rx.requests) == 1


def test_slack_format(asettings, httpserver):
    rx = Receiver(httpserver, path="/slack")
    store(asettings, steady("city:chengdu", NOW) + window("city:chengdu", NOW, 12, -0.6))
    alert_pass(asettings, ["slack+" + rx.url], now=NOW)
    body = json.loads(rx.requests[0]["body"])
    assert body["text"].startswith("Chengdu: sentiment dropped")
    assert body["blocks"][0]["type"] == "section" and "news.example" in body["blocks"][0]["text"]["text"]
    assert verify(rx.requests[0]["body"], rx.requests[0]["headers"][SIGNATURE_HEADER], SECRET)


def test_an_unreachable_receiver_is_given_up_after_the_limit_and_listed(asettings):
    s = asettings.model_copy(update={"alerts": asettings.alerts.model_copy(update={"max_attempts": 3, "timeout_s": 1})})
    store(s, steady("city:chengdu", NOW) + window("city:chengdu", NOW, 12, -0.6))
    res = alert_pass(s, ["http://127.0.0.1:9/nothing-listens-here"], now=NOW)
    assert res.gave_up == 1
    [a] = alerts_in(s)
    assert a["delivered"] is False and a["deliveries"]["failed"] == 1


def test_alerts_test_sends_a_signed_sample(tmp_path, httpserver):
    import os
    import subprocess
    import sys
    from pathlib import Path

    rx = Receiver(httpserver)
    exe = str(Path(sys.executable).parent / "sinoscope")
    proc = subprocess.run(
        [exe, "--data-dir", str(tmp_path / "d"), "alerts", "test", rx.url, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SINOSCOPE_WEBHOOK_SECRET": SECRET},
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"url": rx.url, "format": "json", "attempts": 1, "signed": True}
    [req] = rx.requests
    assert verify(req["body"], req["headers"][SIGNATURE_HEADER], SECRET)
    body = json.loads(req["body"])
    assert body["id"].startswith("test-") and body["test"] is True and body["kind"] == "sentiment_drop"
    # a receiver that refuses: a clear error naming the URL, exit code 2
    bad = subprocess.run(
        [exe, "--data-dir", str(tmp_path / "d"), "alerts", "test", "http://127.0.0.1:9/hook"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
    )
    assert bad.returncode == 2 and "did not accept the sample alert" in bad.stderr


def test_each_sink_batch_runs_detection_for_the_entities_it_wrote(asettings, httpserver):
    """Alerts as a stream: the sink stage hands the entities of each batch it wrote to detection at
    once (the worker under `serve` does this with alerts.stream), so a planted drop is delivered
    by the batch that stored it; entities the batch did not touch are not evaluated."""
    from sinks.stage import store_pass
    from sinoscope.core.bus import open_bus

    rx = Receiver(httpserver)
    store(asettings, steady("city:chengdu", NOW) + steady("city:hangzhou", NOW))
    with open_bus(asettings) as bus:
        for e in window("city:chengdu", NOW, 12, -0.6):
            bus.publish(asettings.bus.topics.enriched, e.article.id, e.to_json())
        bus.flush()
    handed, results = [], []

    def stream(entity_ids: set[str]) -> None:
        handed.append(entity_ids)
        results.append(alert_pass(asettings, [rx.url], now=NOW, entity_ids=entity_ids))

    out = store_pass(asettings, until_idle=True, on_written=stream)
    assert out["written"] == 12 and handed == [{"city:chengdu"}]
    assert results[0].evaluated == 1 and [a["entity_id"] for a in results[0].fired] == ["city:chengdu"]
    assert [a["entity_id"] for a in rx.accepted] == ["city:chengdu"]
    # the scheduled pass afterwards (the safety net) neither fires nor sends it again
    later = alert_pass(asettings, [rx.url], now=NOW + timedelta(minutes=5))
    assert later.fired == [] and len(rx.accepted) == 1


def test_a_delivery_is_claimed_by_the_pass_sending_it(asettings):
    """Two passes side by side (the streaming one and the scheduled one) never both send a
    delivery: the first claims it; a claim left by a pass that died runs out."""
    log = AlertLog(asettings.path("alerts.sqlite"))
    try:
        alert = {
            "id": "alert-x",
            "entity_id": "city:chengdu",
            "name": "Chengdu",
            "type": "city",
            "kind": "sentiment_drop",
            "fired_at": NOW.isoformat(),
            "window": {"start": NOW.isoformat(), "end": NOW.isoformat()},
        }
        assert log.record(alert, ["sentiment_drop"], [("https://hooks.example/a", "json")], NOW)
        assert [d["alert_id"] for d in log.pending(NOW)] == ["alert-x"]
        assert log.pending(NOW + timedelta(seconds=1)) == []  # claimed by the first pass
        assert [d["alert_id"] for d in log.pending(NOW + timedelta(minutes=6))] == ["alert-x"]  # its claim ran out
    finally:
        log.close()
