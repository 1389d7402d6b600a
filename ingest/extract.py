"""Article text: from feed HTML fragments, or from the article page via trafilatura.

Pages are decoded here rather than by the extractor because declared charsets lie: bytes that
are valid UTF-8 are UTF-8 (random legacy-encoded text almost never is); otherwise a multi-byte
declared charset (GBK, Shift_JIS, EUC-KR, Big5...) is kept if the bytes decode under it; otherwise
charset-normalizer decides. The page size is capped by the fetcher before anything is parsed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import charset_normalizer
import lxml.html
import trafilatura

_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_:.-]+)""", re.I)
_SINGLE_BYTE = {"iso-8859-1", "latin-1", "latin1", "windows-1252", "cp1252", "ascii", "us-ascii", "iso-8859-15"}
_BLOCKS = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "tr", "section", "article"}


def decode_html(body: bytes, content_type: str = "") -> tuple[str, str]:
    """(text, encoding used)."""
    declared = None
    m = re.search(r"charset=([\w:.-]+)", content_type or "", re.I)
    if m:
        declared = m.group(1).lower()
    else:
        m2 = _CHARSET_RE.search(body[:4096])
        if m2:
            declared = m2.group(1).decode("ascii", "ignore").lower()
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    if declared and declared not in _SINGLE_BYTE and declared not in ("utf-8", "utf8"):
        try:
            return body.decode(declared), declared
        except (UnicodeDecodeError, LookupError):
            pass
    best = charset_normalizer.from_bytes(body).best()
    if best is not None:
        return str(best), best.encoding
    return body.decode(declared or "utf-8", errors="replace"), f"{declared or 'utf-8'} (with replacements)"


def html_fragment_to_text(fragment: str) -> str:
    """Plain text of a feed's HTML summary/content, paragraphs kept as lines."""
    if not fragment or "<" not in fragment:
        return _clean(fragment or "")
    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (lxml.etree.ParserError, ValueError):
        return _clean(re.sub(r"<[^>]+>", " ", fragment))
    for el in root.iter():
        if el.tag in _BLOCKS:
            el.tail = "\n" + (el.tail or "")
    return _clean(root.text_content())


def _clean(text: str) -> str:
    lines = [re.sub(r"[ \t\u00a0\u3000]+", " ", line).strip() for line in text.splitlines()]
    return "\n".join(line for line in lines if line)


@dataclass
class Extraction:
    text: str
    title: str | None
    encoding: str
    error: str | None = None


def extract_article(body: bytes, url: str, content_type: str = "") -> Extraction:
    """Main text of an article page; ``error`` says why when there is none."""
    html, encoding = decode_html(body, content_type)
    # the declared charset is now wrong for our str: drop it so lxml does not re-decode
    html = re.sub(r"<meta[^>]+charset[^>]*>", "", html[:8192], flags=re.I) + html[8192:]
    try:
        text = trafilatura.extract(html, url=url, include_comments=False, include_tables=False,
                                   favor_precision=True, deduplicate=False)
        meta = trafilatura.extract_metadata(html, default_url=url)
    except Exception as exc:  # trafilatura raises assorted lxml errors on hostile markup
        return Extraction("", None, encoding, f"extractor failed: {type(exc).__name__}: {exc}")
    if not text or len(text.strip()) < 80:
        return Extraction("", meta.title if meta else None, encoding, "no main text found on the page")
    return Extraction(text.strip(), meta.title if meta else None, encoding)
