"""News sitemaps as a source kind (``kind: sitemap``): many outlets, most non-English ones among
them, publish a Google News sitemap (or a sitemap index of them) rather than a complete feed.

A sitemap index names child sitemaps; the newest (by ``lastmod``) are fetched, at most
``MAX_CHILDREN``, each through the same fetcher and fetch guard as a feed. Each ``<url>`` becomes a
feed entry: its ``<loc>``, the ``<news:title>``, and ``<news:publication_date>`` (else
``<lastmod>``) as its time; the page is then fetched for the text as a feed's links are. The
site's robots.txt is read once per poll (through the guard) and a URL it disallows for our user
agent is left alone, reported with the reason. XML is parsed without entities or network access.
"""

from __future__ import annotations

import gzip
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

from lxml import etree

MAX_CHILDREN = 20  # child sitemaps read per poll, newest first
MAX_URLS = 1000  # entries per poll, newest first
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, recover=False)


class SitemapError(ValueError):
    """Not a sitemap (or an unreadable one)."""


def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _child(el, name: str):
    return next((c for c in el if _local(c.tag) == name), None)


def _text(el, *path: str) -> str | None:
    for name in path:
        el = _child(el, name) if el is not None else None
    return (el.text or "").strip() or None if el is not None else None


def parse(body: bytes) -> tuple[str, list[dict]]:
    """("index", [{loc, lastmod}]) or ("urlset", [{loc, title, published, language, publication}])."""
    if body[:2] == b"\x1f\x8b":  # sitemap.xml.gz
        try:
            body = gzip.decompress(body)
        except OSError as exc:
            raise SitemapError(f"a gzip sitemap that does not decompress: {exc}") from exc
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise SitemapError(f"not XML: {exc}") from exc
    kind = _local(root.tag)
    if kind == "sitemapindex":
        return kind, [
            {"loc": _text(s, "loc"), "lastmod": _text(s, "lastmod")} for s in root if _local(s.tag) == "sitemap"
        ]
    if kind != "urlset":
        raise SitemapError(f"the root element is <{kind}>, not <urlset> or <sitemapindex>")
    out = []
    for u in root:
        if _local(u.tag) != "url" or not _text(u, "loc"):
            continue
        news = _child(u, "news")
        out.append(
            {
                "loc": _text(u, "loc"),
                "title": _text(news, "title") if news is not None else None,
                "published": (_text(news, "publication_date") if news is not None else None) or _text(u, "lastmod"),
                "language": _text(news, "publication", "language") if news is not None else None,
                "publication": _text(news, "publication", "name") if news is not None else None,
            }
        )
    return kind, out


def newest(rows: list[dict], key: str, n: int) -> list[dict]:
    """The ``n`` rows with the latest ``key`` (ISO dates sort as text; undated ones last)."""
    return sorted(rows, key=lambda r: r.get(key) or "", reverse=True)[:n]


def entry(row: dict) -> dict:
    """A sitemap ``<url>`` as a feed entry (what ``normalize_entry`` reads)."""
    out = {"link": row["loc"], "title": row.get("title") or ""}
    return out | ({"published": row["published"]} if row.get("published") else {})


class Robots:
    """robots.txt of each host met in one poll, fetched once through the fetcher (and its guard);
    a missing or unreadable robots.txt allows everything, as the convention says."""

    def __init__(self, fetch, user_agent: str) -> None:
        self.fetch, self.user_agent = fetch, user_agent
        self.rules: dict[str, RobotFileParser] = {}

    def allowed(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            return True
        site = f"{parts.scheme}://{parts.netloc}"
        if site not in self.rules:
            rp = RobotFileParser()
            text = self.fetch(urljoin(site, "/robots.txt"))
            rp.parse(text.splitlines() if text is not None else [])
            self.rules[site] = rp
        return self.rules[site].can_fetch(self.user_agent, url)
