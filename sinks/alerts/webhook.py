"""Webhook delivery: a JSON body (or a Slack-compatible one), signed with HMAC-SHA256 over
the raw body (``X-Sinoscope-Signature: sha256=<hex>``) using the secret from the
environment, retried with exponential backoff inside a pass and again on later passes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass

import httpx
from tenacity import RetryError, retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from sinks.links import web_url
from sinoscope.core.errors import RetryableError

log = logging.getLogger("sinoscope.alerts")

SIGNATURE_HEADER = "X-Sinoscope-Signature"
USER_AGENT = "Sinoscope-Alerts/0.1"


class DeliveryError(RetryableError, RuntimeError):
    """The receiver did not accept the alert (connection error or non-2xx status)."""


@dataclass
class Target:
    url: str
    format: str = "json"  # json | slack

    @classmethod
    def parse(cls, value) -> Target:
        """A URL (Slack incoming webhooks get the Slack format) or ``{url, format}``."""
        if isinstance(value, Target):
            return value
        if isinstance(value, dict):
            return cls(str(value["url"]), value.get("format") or _guess(str(value["url"])))
        value = str(value)
        if value.startswith("slack+"):
            return cls(value[len("slack+") :], "slack")
        return cls(value, _guess(value))


def _guess(url: str) -> str:
    return "slack" if "hooks.slack.com" in url else "json"


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, header: str, secret: str) -> bool:
    """For receivers (and tests): constant-time check of a signature header."""
    return hmac.compare_digest(sign(body, secret), header or "")


def encode(alert: dict, fmt: str = "json") -> bytes:
    """The exact bytes sent: the same for every retry of one alert."""
    payload = slack_payload(alert) if fmt == "slack" else alert
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def headline(alert: dict) -> str:
    kind = {
        "sentiment_drop": "sentiment dropped",
        "sentiment_rise": "sentiment rose",
        "volume_spike": "coverage spiked",
    }.get(alert["kind"], alert["kind"])
    b, c = alert.get("baseline") or {}, alert.get("current") or {}
    if alert["kind"] == "volume_spike":
        detail = (
            f"{c.get('mentions')} mentions in {alert['window']['hours']:g} h vs {b.get('mentions_per_day')}/day before"
        )
    else:
        detail = (
            f"mean sentiment {c.get('sentiment_mean'):+.2f} over {c.get('mentions')} mentions in "
            f"{alert['window']['hours']:g} h vs {b.get('sentiment_mean'):+.2f} before"
        )
    return f"{alert['name']}: {kind} ({detail})"


def slack_text(text: str) -> str:
    """Feed text inside Slack mrkdwn: &, < and > escaped (Slack's rule), so a title cannot open
    a link, mention @channel or close the one it sits in."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(alert: dict) -> dict:
    lines = [f"*{slack_text(headline(alert))}*"]
    for s in alert.get("stories", [])[:5]:
        title = slack_text(s["title"] or s["url"])
        url = web_url(s["url"])
        story = f"<{slack_text(url)}|{title}>" if url else title
        lines.append(f"• {story} ({slack_text(s['outlet'])}, {s['sentiment']:+.2f})")
    return {
        "text": headline(alert),
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}}],
        "sinoscope_alert_id": alert["id"],
    }


class Sender:
    """Posts alerts; ``attempts`` tries per pass with exponential backoff between them."""

    def __init__(
        self,
        secret: str | None,
        timeout_s: float = 10.0,
        attempts: int = 3,
        backoff_s: float = 1.0,
        client: httpx.Client | None = None,
    ) -> None:
        self.secret = secret
        self.attempts = max(1, attempts)
        self.backoff_s = backoff_s
        self.client = client or httpx.Client(
            timeout=timeout_s, follow_redirects=False, headers={"User-Agent": USER_AGENT}
        )
        self._warned = False

    def close(self) -> None:
        self.client.close()

    def _post_once(self, target: Target, body: bytes, message_id: str, kind: str) -> None:
        headers = {"Content-Type": "application/json", f"X-Sinoscope-{kind}-Id": message_id}
        if not self.secret and not self._warned:
            self._warned = True
            log.warning("SINOSCOPE_WEBHOOK_SECRET is not set: webhooks are sent unsigned")
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(body, self.secret)
        try:
            r = self.client.post(target.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
        if not 200 <= r.status_code < 300:
            raise DeliveryError(f"HTTP {r.status_code}: {r.text[:200]}")

    def send(self, target: Target, alert: dict) -> int:
        """Deliver one alert; returns the attempts used, or raises DeliveryError (with
        ``.attempts``) when every attempt of this pass failed."""
        return self.post(target, encode(alert, target.format), alert["id"])

    def post(self, target: Target, body: bytes, message_id: str, kind: str = "Alert") -> int:
        """POST ``body`` (signed, retried as ``send`` says); ``X-Sinoscope-<kind>-Id: message_id``."""
        tries = {"n": 0}

        @retry(
            stop=stop_after_attempt(self.attempts),
            reraise=False,
            wait=wait_exponential(multiplier=self.backoff_s, max=max(self.backoff_s * 8, 0.01)),
            retry=retry_if_exception_type(DeliveryError),
        )
        def attempt() -> None:
            tries["n"] += 1
            self._post_once(target, body, message_id, kind)

        try:
            attempt()
        except RetryError as exc:
            err = DeliveryError(str(exc.last_attempt.exception()))
            err.attempts = tries["n"]  # type: ignore[attr-defined]
            raise err from None
        return tries["n"]


def sample_alert(now) -> dict:
    """What `sinoscope alerts test` sends: the real shape, marked as a test."""
    return {
        "id": f"test-{now:%Y%m%dT%H%M%S}",
        "test": True,
        "entity_id": "city:chengdu",
        "name": "Chengdu",
        "type": "city",
        "kind": "sentiment_drop",
        "direction": "down",
        "fired_at": now.isoformat(),
        "window": {"start": now.isoformat(), "end": now.isoformat(), "hours": 48.0},
        "baseline": {"mentions": 120, "sentiment_mean": 0.21, "mentions_per_day": 4.3, "active_days": 28},
        "current": {"mentions": 14, "stories": 9, "sentiment_mean": -0.48, "mentions_per_day": 7.0},
        "volume": 14,
        "signals": [{"kind": "sentiment_drop", "z": -6.1, "baseline": 0.21, "current": -0.48}],
        "stories": [
            {
                "article_id": "sample",
                "url": "https://example.org/sample",
                "title": "A sample story",
                "outlet": "Example Times",
                "published": now.isoformat(),
                "sentiment": -0.7,
                "sentence": "This is a test alert from Sinoscope.",
            }
        ],
    }
