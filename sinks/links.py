"""Links from feeds, made safe to render.

A feed chooses its entry links, and they reach the report, Slack messages and anything else
that draws a story: only ``http(s)`` links are drawn as links (a feed can carry ``javascript:``,
``data:`` or ``file:`` ones); the rest show as plain text.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def web_url(url: str | None) -> str | None:
    """``url`` when it is an absolute http(s) URL with a host, else None."""
    if not url or any(c in url for c in "\r\n\t\x00"):
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    return url.strip() if parts.scheme.lower() in ("http", "https") and parts.netloc else None
