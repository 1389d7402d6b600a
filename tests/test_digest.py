"""The digest (``sinoscope digest``): its figures from the store, alerts and discovery; drawn as
text, HTML and Slack with feed text escaped; delivered to a real local SMTP server (aiosmtpd,
with authentication) and to local webhook receivers, each target on its own."""

from __future__ import annotations

import email
import json
import socket
from datetime import UTC, datetime, timedelta
from email import policy

import pytest
from alerting import Receiver, steady, store, window
from records import enriched

from sinks.alerts.webhook import SIGNATURE_HEADER, verify
from sinoscope.core.settings import load_settings

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
SECRET = "digest-secret"
HOSTILE = "<script>alert(1)</script> Chengdu *story* <!channel>"


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """Four weeks of warm Chengdu coverage, then a day and a half of bad news (its alert fired),
    one hostile title, and a Chinese company the catalogue lacks named twice."""
    from sinks.alerts.run import alert_pass

    data = tmp_path_factory.mktemp("digest") / "data"
    settings = load_settings(data_dir=data)
    hostile = enriched("hostile", NOW - timedelta(hours=3), [("city:chengdu", -0.9)], title=HOSTILE)
    new_co = [
        enriched(f"nc{i}", NOW - timedelta(hours=5 + i), [("city:chengdu", 0.0)],
                 title="Chinese carmaker Zhoulan Motors opens a plant in Hungary")
        for i in range(2)
    ]  # fmt: skip
    before = window("city:chengdu", NOW - timedelta(days=1), 6, 0.4, prefix="prev", hours=20)  # the day before: warm
    store(
        settings,
        steady("city:chengdu", NOW) + before + window("city:chengdu", NOW, 14, -0.6, hours=20) + [hostile] + new_co,
    )
    [alert] = alert_pass(settings, now=NOW).fired
    return settings, alert


def test_the_digest_holds_movers_stories_alerts_discoveries_and_sources(planted):
    from flows.digest import gather

    settings, alert = planted
    d = gather(settings, "day", now=NOW)
    assert d["period"] == "day" and d["since"] == (NOW - timedelta(days=1)).isoformat()
    [tone] = [m for m in d["tone_movers"] if m["entity_id"] == "city:chengdu"]
    assert tone["change"] < -0.5 and tone["before"] > 0.2  # warm the day before, hostile now
    [vol] = [m for m in d["volume_movers"] if m["entity_id"] == "city:chengdu"]
    assert vol["mentions"] > vol["before"] and vol["change"] == vol["mentions"] - vol["before"]
    [chengdu] = d["entities"]  # the only entity with coverage: the tracked default
    assert chengdu["entity_id"] == "city:chengdu" and chengdu["negative"] and not chengdu["positive"]
    assert chengdu["negative"][0]["sentiment"] <= -0.6
    assert [a["id"] for a in d["alerts"]] == [alert["id"]]
    assert [c["name"] for c in d["discovered"]] == ["Zhoulan Motors"]
    assert d["sources"] == {"counts": {}, "flagged": []}
    week = gather(settings, "week", now=NOW)
    assert week["since"] == (NOW - timedelta(days=7)).isoformat()
    with pytest.raises(ValueError, match="day or week"):
        gather(settings, "month", now=NOW)


def test_text_html_and_slack_escape_feed_text(planted):
    from flows.digest import gather
    from sinks.digest.render import html, slack, text

    settings, _ = planted
    d = gather(settings, "day", now=NOW)
    t, h, s = text(d), html(d), json.dumps(slack(d))
    assert t.startswith("Sinoscope daily digest: 2026-11-19 to 2026-11-20") and "Chengdu" in t and "Zhoulan Motors" in t
    assert "sentiment drop" in t and "<script>" not in h and "&lt;script&gt;" in h
    assert "<!channel>" not in s and "&lt;!channel&gt;" in s


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_server():
    """A real SMTP server on loopback (aiosmtpd) that requires a login and keeps what it receives."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    class Keep:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append((envelope.mail_from, envelope.rcpt_tos, envelope.content, session.authenticated))
            return "250 OK"

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"analyst" and auth_data.password == b"s3cret"
        return AuthResult(success=ok)

    handler = Keep()
    port = _free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticator,
        auth_require_tls=False,
        auth_required=True,
    )
    controller.start()
    yield port, handler
    controller.stop()


# loopback without TLS in the test (smtp_tls: none); aiosmtpd warns about AUTH without TLS
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_delivered_by_email_and_to_webhooks_each_target_on_its_own(
    planted, smtp_server, httpserver, monkeypatch, tmp_path
):
    from flows.digest import gather
    from sinks.digest.deliver import deliver

    settings, _ = planted
    port, inbox = smtp_server
    rx_json, rx_slack = Receiver(httpserver, "/json"), Receiver(httpserver, "/slack")
    monkeypatch.setenv("SINOSCOPE_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("SINOSCOPE_DIGEST__SMTP_PASSWORD", "s3cret")  # a credential from the environment only
    s = load_settings(
        data_dir=settings.data_dir,
        digest={"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_tls": "none", "smtp_username": "analyst",
                "email_to": ["desk@example.org", "pr@example.org"], "email_from": "sinoscope@example.org"},
        alerts={"webhooks": [rx_json.url, {"url": rx_slack.url, "format": "slack"}]},
    )  # fmt: skip
    d = gather(s, "day", now=NOW)
    sent = deliver(s, d)
    assert [x["ok"] for x in sent] == [True, True, True], sent
    assert "s3cret" not in json.dumps(sent)
    [(sender, rcpts, raw, authenticated)] = inbox.messages
    assert sender == "sinoscope@example.org" and rcpts == ["desk@example.org", "pr@example.org"] and authenticated
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert msg["Subject"] == "Sinoscope daily digest: 2026-11-19 to 2026-11-20"
    plain, rich = msg.get_body(("plain",)).get_content(), msg.get_body(("html",)).get_content()
    assert "Zhoulan Motors" in plain and "Chengdu" in rich and "<script>alert" not in rich
    [j] = rx_json.requests
    assert verify(j["body"], j["headers"][SIGNATURE_HEADER], SECRET)
    body = json.loads(j["body"])
    assert body["type"] == "digest" and body["tone_movers"] == json.loads(json.dumps(d["tone_movers"]))
    assert j["headers"]["X-Sinoscope-Digest-Id"] == body["id"]
    assert json.loads(rx_slack.requests[0]["body"])["blocks"][0]["type"] == "section"
    # a mail server that is down: that target fails and says so; the webhooks still get it
    unreachable = {**s.digest.model_dump(), "smtp_port": _free_port(), "smtp_attempts": 1}
    down = load_settings(data_dir=settings.data_dir, digest=unreachable, alerts={"webhooks": [rx_json.url]})
    again = deliver(down, d)
    assert [x["ok"] for x in again] == [True, False] and "ConnectionRefusedError" in again[1]["error"]
    assert "s3cret" not in json.dumps(again)


def test_the_digest_command_writes_html_and_says_when_it_has_nowhere_to_go(planted, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    settings, _ = planted
    cmd = [
        str(Path(sys.executable).parent / "sinoscope"),
        "--data-dir",
        str(settings.data_dir),
        "digest",
        "--period",
        "week",
    ]
    out = tmp_path / "digest.html"
    done = subprocess.run([*cmd, "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>") and "weekly digest" in out.read_text()
    nowhere = subprocess.run([*cmd, "--send"], capture_output=True, text=True, timeout=120)
    assert nowhere.returncode == 2 and "nowhere to go" in nowhere.stderr
