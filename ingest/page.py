"""Section pages as a source kind (``kind: page``): an outlet's "China" or "Asia" page, for sites
with neither a feed nor a news sitemap. The page's links to articles on the same site are taken as
entries (the anchor text as the title, at most ``MAX_LINKS`` in page order) and each article is
fetched for its text, like a feed's links, through the fetch guard. A link looks like an article
when its path carries a date or a long slug (``/2026/11/20/...``, ``/byd-opens-plant-in-szeged``);
navigation (``/about``, ``/world``) does not. Feeds the page declares (``<link rel="alternate">``,
read by trafilatura's feed helper from the page already fetched) are reported: a feed entry is
steadier than scraping the page.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import lxml.html

MAX_LINKS = 60
_DATE = re.compile(r"/(19|20)\d{2}[/-]?(0[1-9]|1[0-2])|/\d{8}")
_SLUG = re.compile(r"[\w]+(?:-[\w]+){3,}")


def _article_like(path: str) -> bool:
    last = path.rstrip("/").rsplit("/", 1)[-1]
    return bool(_DATE.search(path) or _SLUG.search(last) or re.search(r"\d{5,}", last))


def article_links(html: str, base_url: str, limit: int = MAX_LINKS) -> list[tuple[str, str]]:
    """(absolute URL, anchor text) of the page's same-site links that look like articles."""
    try:
        doc = lxml.html.fromstring(html)
    except (ValueError, lxml.etree.ParserError):
        return []
    doc.make_links_absolute(base_url, resolve_base_href=True)
    host = (urlsplit(base_url).hostname or "").removeprefix("www.")
    out: dict[str, str] = {}
    for a in doc.iter("a"):
        href = (a.get("href") or "").split("#", 1)[0]
        parts = urlsplit(href)
        same_site = (parts.hostname or "").removeprefix("www.") == host
        if parts.scheme not in ("http", "https", "file") or not same_site or not _article_like(parts.path):
            continue
        text = " ".join(a.text_content().split())
        if href not in out or len(text) > len(out[href]):
            out[href] = text
        if len(out) >= limit:
            break
    return list(out.items())


def declared_feeds(html: str, base_url: str) -> list[str]:
    """Feeds the page declares in ``<link rel="alternate">`` (trafilatura's helper; no fetching)."""
    from trafilatura.feeds import FeedParameters, determine_feed

    parts = urlsplit(base_url)
    try:
        return determine_feed(html, FeedParameters(f"{parts.scheme}://{parts.netloc}", parts.netloc, base_url))
    except Exception:  # noqa: BLE001 - a page we cannot read for feeds declares none we can use
        return []
