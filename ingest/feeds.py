"""Turn fetched feed bytes into entries, salvaging what a malformed feed still holds.

feedparser is lenient by design (it falls back to a loose parser on broken XML and guesses
encodings), and it never expands external entities (it turns off external general entities
and rewrites DOCTYPEs). What it only flags in ``bozo`` we turn into visible problems: a
salvaged feed yields its entries *and* a recorded warning; a page that is not a feed at all is
an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import feedparser

from .encoding import declared_charset, decode

# bozo exceptions that mean "parsed, but the feed is not what it claims"
_WARNING_TYPES = ("CharacterEncodingOverride", "CharacterEncodingUnknown", "NonXMLContentType")


@dataclass
class ParsedFeed:
    entries: list[dict[str, Any]]
    title: str = ""
    version: str = ""
    warnings: list[str] = field(default_factory=list)
    error: str | None = None  # set when nothing usable came out


def _transcode(body: bytes, content_type: str) -> tuple[bytes, str, str | None]:
    """Feeds that are not UTF-8 and whose declared charset is missing or unproven are
    detected and re-encoded as UTF-8 before feedparser sees them (it would guess a
    single-byte charset and produce mojibake). Returns (body, content_type, warning)."""
    declared = declared_charset(body, content_type)
    text, used = decode(body, declared)
    if used == declared or (used == "utf-8" and (body.isascii() or declared in (None, "utf8"))):
        return body, content_type, None
    text = re.sub(r"""^(\s*<\?xml[^>]*?encoding\s*=\s*["'])[^"']+""", r"\g<1>utf-8", text, count=1)
    ctype = re.sub(r";\s*charset=[^;]+", "", content_type or "") + "; charset=utf-8"
    return text.encode("utf-8"), ctype, f"bytes are {used}, declared {declared or 'nothing'}: decoded as {used}"


def parse_feed(body: bytes, url: str, content_type: str = "") -> ParsedFeed:
    body, content_type, encoding_warning = _transcode(body, content_type)
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    # only the text of entries is kept (``extract.html_fragment_to_text`` drops scripts and styles):
    # feedparser's HTML sanitiser and relative-link resolution would rewrite markup nobody reads
    parsed = feedparser.parse(body, response_headers=headers, sanitize_html=False, resolve_relative_uris=False)
    entries = list(parsed.entries)
    result = ParsedFeed(entries=entries, title=parsed.feed.get("title", ""), version=parsed.get("version", ""))
    if encoding_warning:
        result.warnings.append(f"wrong or missing encoding ({encoding_warning})")
    if parsed.get("bozo"):
        exc = parsed.get("bozo_exception")
        name = type(exc).__name__ if exc is not None else "unknown"
        detail = f"{name}: {exc}".strip()
        if name in _WARNING_TYPES:
            result.warnings.append(f"encoding/content-type problem ({detail})")
        elif entries:
            result.warnings.append(f"malformed feed, {len(entries)} entries salvaged ({detail})")
    if not result.version and not entries:
        if not body.strip():
            result.error = "empty response body"
        elif _looks_like_html(body, content_type):
            result.error = "not a feed: the URL returned an HTML page"
        else:
            result.error = "not a feed: no RSS/Atom structure could be parsed"
    elif not entries:
        result.warnings.append("feed has no entries")
    return result


def _looks_like_html(body: bytes, content_type: str) -> bool:
    head = body[:2048].lower()
    return "html" in content_type.lower() or b"<html" in head or b"<!doctype html" in head
