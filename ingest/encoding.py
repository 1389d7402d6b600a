"""Decode bytes whose declared charset may be missing or wrong (feeds and pages alike).

Bytes that are valid UTF-8 are UTF-8: text in a legacy encoding almost never is. Otherwise a
declared multi-byte charset (GBK, Shift_JIS, EUC-KR, Big5...) is kept if the bytes decode
under it; a declared single-byte charset proves nothing (every byte string decodes as
Latin-1), so charset-normalizer decides, as it does when nothing is declared.
"""

from __future__ import annotations

import re

import charset_normalizer

_SINGLE_BYTE = {
    "iso-8859-1",
    "latin-1",
    "latin1",
    "windows-1252",
    "cp1252",
    "ascii",
    "us-ascii",
    "iso-8859-15",
    "iso-8859-2",
    "windows-1250",
}
_HTTP_CHARSET = re.compile(r"charset=[\"']?([\w:.-]+)", re.I)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_:.-]+)""", re.I)
_XML_DECL = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([a-zA-Z0-9_:.-]+)["']""", re.I)


def declared_charset(body: bytes, content_type: str = "") -> str | None:
    """The charset the HTTP header, XML declaration or HTML meta tag claims, if any."""
    m = _HTTP_CHARSET.search(content_type or "")
    if m:
        return m.group(1).lower()
    head = body[:4096]
    for rx in (_XML_DECL, _META_CHARSET):
        m2 = rx.search(head)
        if m2:
            return m2.group(1).decode("ascii", "ignore").lower()
    return None


def decode(body: bytes, declared: str | None) -> tuple[str, str]:
    """(text, encoding actually used)."""
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    if declared and declared not in _SINGLE_BYTE and declared.replace("-", "") != "utf8":
        try:
            return body.decode(declared), declared
        except (UnicodeDecodeError, LookupError):
            pass
    best = charset_normalizer.from_bytes(body).best()
    if best is not None:
        return str(best), best.encoding
    return body.decode(declared or "utf-8", errors="replace"), f"{declared or 'utf-8'} (with replacements)"
