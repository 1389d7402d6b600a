"""Article text: from feed HTML fragments, or from the article page via trafilatura.

Pages are decoded here (``encoding.decode``) rather than by the extractor, because declared
charsets lie. The page size is capped by the fetcher before anything is parsed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import lxml.html
import trafilatura

from .encoding import declared_charset, decode

_BLOCKS = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "tr", "section", "article"}
_NOT_TEXT = ("script", "style", "applet", "template", "noscript")  # dropped with their content


def decode_html(body: bytes, content_type: str = "") -> tuple[str, str]:
    """(text, encoding used) of an HTML page."""
    return decode(body, declared_charset(body, content_type))


def html_fragment_to_text(fragment: str) -> str:
    """Plain text of a feed's HTML summary/content, paragraphs kept as lines. Scripts, styles and
    the like go with their content: the feed's HTML reaches here unsanitised (feedparser's own
    sanitiser and link resolution took about a third of its parse time, for markup dropped here)."""
    if not fragment or "<" not in fragment:
        return _clean(fragment or "")
    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (lxml.etree.ParserError, ValueError):
        return _clean(re.sub(r"<[^>]+>", " ", fragment))
    for el in list(root.iter(*_NOT_TEXT)):
        el.drop_tree()
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
        text = trafilatura.extract(
            html, url=url, include_comments=False, include_tables=False, favor_precision=True, deduplicate=False
        )
        meta = trafilatura.extract_metadata(html, default_url=url)
    except Exception as exc:  # trafilatura raises assorted lxml errors on hostile markup
        return Extraction("", None, encoding, f"extractor failed: {type(exc).__name__}: {exc}")
    if not text or len(text.strip()) < 80:
        return Extraction("", meta.title if meta else None, encoding, "no main text found on the page")
    return Extraction(text.strip(), meta.title if meta else None, encoding)
