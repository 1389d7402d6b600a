"""URLs for logs, screens and error messages: credentials stay out.

A webhook URL's path is often its credential (Slack's are), and any URL may carry
``user:password@``. What is shown is the scheme, host and port; a path, query or user part
becomes ``/…``.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def redact(url: str) -> str:
    """``https://hooks.slack.com/services/T/B/x`` -> ``https://hooks.slack.com/…``."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "…"
    if not parts.scheme or not parts.hostname:
        return "…"
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    hidden = parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password
    return f"{parts.scheme}://{host}{f':{port}' if port else ''}" + ("/…" if hidden else "")
