"""``sinoscope sources add URL``: what kind of source a URL is, and the sources-file entry for it.

Tried in order, every fetch through the fetcher and its guard: the URL itself as a feed, then as a
sitemap; a page's declared feeds (``<link rel="alternate">``), then the site's sitemaps (robots.txt
``Sitemap:`` lines, then ``/sitemap.xml``); failing all, the page itself (``kind: page``). Outlet,
country and language come from the options, else from the page (its site name, ``<html lang>``)
and the country-code domain; what cannot be told is asked for.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import yaml

from sinoscope.core.errors import SinoscopeError

from . import page, sitemap
from .extract import decode_html
from .feeds import parse_feed
from .http import Fetcher, FetchError
from .sources import SourcesError, load_sources

GENERIC_TLDS = {"com", "org", "net", "info", "news", "io", "co", "media", "tv"}


class DiscoveryError(SinoscopeError, ValueError):
    """The URL could not be read or described; the message says what to pass."""


def _get(fetcher: Fetcher, url: str, max_bytes: int) -> tuple[bytes, str, str] | None:
    try:
        got = fetcher.get(url, max_bytes=max_bytes)
    except FetchError:
        return None
    return (got.body, got.url, got.content_type) if got.status == 200 else None


def _is_feed(body: bytes, url: str, ctype: str) -> bool:
    parsed = parse_feed(body, url, ctype)
    return not parsed.error and bool(parsed.entries)


def _is_sitemap(body: bytes) -> bool:
    try:
        return bool(sitemap.parse(body)[1])
    except sitemap.SitemapError:
        return False


def describe(url: str, fetcher: Fetcher, max_bytes: int = 5_000_000) -> dict:
    """{kind, url} of the best source at ``url``, plus what the page says of itself (outlet, language)."""
    got = _get(fetcher, url, max_bytes)
    if got is None:
        raise DiscoveryError(f"{url} did not answer with a page, feed or sitemap (blocked, missing or failing)")
    body, final, ctype = got
    if _is_feed(body, final, ctype):
        return {"kind": "rss", "url": final}
    if _is_sitemap(body):
        return {"kind": "sitemap", "url": final}
    html, _ = decode_html(body, ctype)
    hints = _page_hints(html)
    for feed in page.declared_feeds(html, final):
        f = _get(fetcher, feed, max_bytes)
        if f and _is_feed(*f):
            return {"kind": "rss", "url": f[1], **hints}
    parts = urlsplit(final)
    site = f"{parts.scheme}://{parts.netloc}"
    robots = _get(fetcher, urljoin(site, "/robots.txt"), 512_000)
    candidates = []
    if robots:
        rp = RobotFileParser()
        rp.parse(robots[0].decode("utf-8", errors="replace").splitlines())
        candidates += rp.site_maps() or []
    candidates.append(urljoin(site, "/sitemap.xml"))
    for sm in candidates:
        s = _get(fetcher, sm, max_bytes)
        if s and _is_sitemap(s[0]):
            return {"kind": "sitemap", "url": s[1], **hints}
    return {"kind": "page", "url": final, **hints}


def _page_hints(html: str) -> dict:
    out = {}
    m = re.search(r'<meta[^>]+property=["\']og:site_name["\'][^>]+content=["\']([^"\']+)', html, re.I)
    if m:
        out["outlet"] = m.group(1).strip()
    m = re.search(r'<html[^>]+lang=["\']([a-zA-Z]{2})', html, re.I)
    if m:
        out["language"] = m.group(1).lower()
    return out


def entry(found: dict, name: str | None, outlet: str | None, country: str | None, language: str | None) -> dict:
    host = (urlsplit(found["url"]).hostname or "").removeprefix("www.")
    tld = host.rsplit(".", 1)[-1]
    country = country or (tld.upper() if len(tld) == 2 and tld not in GENERIC_TLDS else None)
    values = {
        "name": name or re.sub(r"[^a-z0-9]+", "-", host.lower()).strip("-"),
        "kind": found["kind"],
        "url": found["url"],
        "outlet": outlet or found.get("outlet") or host,
        "country": country,
        "language": language or found.get("language"),
    }
    missing = [k for k in ("country", "language") if not values[k]]
    if missing:
        raise DiscoveryError(
            f"found a {found['kind']} source at {found['url']}, but cannot tell its {' and '.join(missing)}: "
            f"pass {' and '.join('--' + k for k in missing)}"
        )
    return values


def add_to_file(path: Path, new: dict) -> None:
    """Add the entry at the top of the file's ``sources:`` list, keeping the rest of the file as it is
    (comments too); the file is checked by loading it, and left unchanged if that fails."""
    line = yaml.safe_dump(new, default_flow_style=True, sort_keys=False, allow_unicode=True, width=10_000).strip()
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if any(s.name == new["name"] for s in (load_sources(path) if old else [])):
        raise DiscoveryError(f"{path} already has a source named {new['name']!r}: pass --name")
    lines = old.splitlines()
    at = next((i for i, x in enumerate(lines) if re.match(r"sources:\s*(#.*)?$", x)), None)
    if at is None:
        text = (old.rstrip() + "\n" if old.strip() else "") + f"sources:\n  - {line}\n"
    else:
        nxt = next((x for x in lines[at + 1 :] if x.strip() and not x.lstrip().startswith("#")), "  - ")
        indent = re.match(r"\s*", nxt).group() if nxt.lstrip().startswith("-") else "  "
        lines.insert(at + 1, f"{indent}- {line}")
        text = "\n".join(lines) + "\n"
    path.write_text(text, encoding="utf-8")
    try:
        load_sources(path)
    except SourcesError:
        path.write_text(old, encoding="utf-8")
        raise
