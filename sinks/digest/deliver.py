"""Delivering the digest: to webhook targets (JSON, or Slack's format; signed and retried by the
alerts' sender) and by email over SMTP (STARTTLS, implicit TLS, or none for a local relay; the
password from the environment). Each target is tried on its own: one refusing does not stop the
others, and the answer says what went where (never a credential)."""

from __future__ import annotations

import json
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid

from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from sinks.alerts.run import sender
from sinks.alerts.webhook import DeliveryError, Target
from sinoscope.core.redact import redact

from .render import html, slack, text, title

SMTP_ERRORS = (smtplib.SMTPException, OSError)


def message_id(d: dict) -> str:
    return f"digest-{d['period']}-{d['until'][:16]}"


def body(d: dict, fmt: str) -> bytes:
    payload = slack(d) if fmt == "slack" else {"type": "digest", "id": message_id(d), **d, "text": text(d)}
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def email(settings, d: dict) -> EmailMessage:
    s = settings.digest
    msg = EmailMessage()
    msg["Subject"], msg["From"], msg["To"] = title(d), s.email_from, ", ".join(s.email_to)
    msg["Message-ID"] = make_msgid("sinoscope")
    msg.set_content(text(d))
    msg.add_alternative(html(d), subtype="html")
    return msg


def send_email(settings, msg: EmailMessage) -> None:
    s = settings.digest

    @retry(
        stop=stop_after_attempt(max(1, s.smtp_attempts)),
        wait=wait_exponential(multiplier=2),
        retry=retry_if_exception_type(SMTP_ERRORS),
        reraise=True,
    )
    def attempt() -> None:
        if s.smtp_tls == "ssl":
            smtp = smtplib.SMTP_SSL(
                s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_s, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_s)
        with smtp:
            if s.smtp_tls == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if s.smtp_username:
                smtp.login(s.smtp_username, s.smtp_password.get_secret_value() if s.smtp_password else "")
            smtp.send_message(msg)

    attempt()


def deliver(settings, d: dict, webhooks=None) -> list[dict]:
    """Send the digest to every target; one row per target: {target, ok, error}."""
    out = []
    targets = webhooks if webhooks is not None else settings.digest.webhooks
    targets = settings.alerts.webhooks if targets is None else targets
    if targets:
        post = sender(settings)
        try:
            for t in map(Target.parse, targets):
                try:
                    post.post(t, body(d, t.format), message_id(d), kind="Digest")
                    out.append({"target": redact(t.url), "ok": True, "error": None})
                except DeliveryError as exc:
                    out.append({"target": redact(t.url), "ok": False, "error": str(exc)})
        finally:
            post.close()
    s = settings.digest
    if s.smtp_host and s.email_to:
        where = f"smtp://{s.smtp_host}:{s.smtp_port} to {', '.join(s.email_to)}"
        try:
            send_email(settings, email(settings, d))
            out.append({"target": where, "ok": True, "error": None})
        except SMTP_ERRORS as exc:
            out.append({"target": where, "ok": False, "error": f"{type(exc).__name__}: {exc}"})
    return out
