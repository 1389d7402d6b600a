"""Poll one source: fetch (conditionally), parse, normalise, and fetch pages for summaries.

Runs in a worker thread and touches no shared state but read-only lookups: what to write
(articles, new validators, health) is returned as a ``PollResult`` for the runner to commit,
so that nothing is recorded as done before the bus has the articles.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from sinoscope.core.schemas import Article
from sinoscope.core.settings import IngestSettings

from . import dedup, gdelt, offload, page, sitemap
from .extract import decode_html, extract_article
from .guard import file_scope
from .http import Fetcher, FetchError, parse_retry_after
from .normalize import needs_page, normalize_entries
from .sources import Source
from .state import SourceState

FEED_ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"


@dataclass
class PollResult:
    source: Source
    outcome: str  # ok | not-modified | unchanged | failed | retired
    articles: list[Article] = field(default_factory=list)
    rejected: list[tuple[dict[str, Any], str]] = field(default_factory=list)  # (entry, reason)
    entries: int = 0
    already_seen: int = 0
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    error_kind: str | None = None
    retry_after_s: float | None = None
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    conditional: bool = False
    moved_to: str | None = None
    pages_fetched: int = 0
    blocked: list[tuple[str, str]] = field(default_factory=list)  # (link, why the guard refused it)
    signatures: dict[str, bytes | None] = field(default_factory=dict)  # article id -> MinHash (dedup.to_bytes)


def _conditional(state: SourceState, settings: IngestSettings, now: datetime) -> bool:
    """Use validators unless an unconditional refresh is due (servers that lie about 304)."""
    if not (state.etag or state.last_modified):
        return False
    if state.last_unconditional is None:
        return False
    return now - state.last_unconditional < timedelta(hours=settings.unconditional_refresh_h)


def poll_source(
    source: Source,
    state: SourceState,
    fetcher: Fetcher,
    settings: IngestSettings,
    now: datetime,
    is_seen: Callable[[str], bool],
    url: str | None = None,
) -> PollResult:
    """``url``: fetch this instead of the source's own (a backfill's GDELT window or child sitemap)."""
    gdelt_api = source.kind == "gdelt"
    if url is None:
        url = gdelt.request_url(source.url, source.query or "") if gdelt_api else state.moved_to or source.url
    conditional = _conditional(state, settings, now)
    result = PollResult(source=source, outcome="ok", conditional=conditional)
    scope = file_scope(source.url)  # only a file:// source may read files, inside its folder
    try:
        resp = fetcher.get(
            url,
            max_bytes=settings.max_feed_bytes,
            accept="application/json" if gdelt_api else FEED_ACCEPT,
            etag=state.etag if conditional else None,
            last_modified=state.last_modified if conditional else None,
            file_scope=scope,
        )
    except FetchError as exc:
        result.outcome, result.error, result.error_kind = "failed", str(exc), exc.kind
        return result

    result.moved_to = resp.permanent_redirect
    status = resp.status
    if status == 304:
        result.outcome = "not-modified"
        result.etag, result.last_modified, result.body_hash = state.etag, state.last_modified, state.body_hash
        return result
    if status == 410:
        result.outcome, result.error_kind = "retired", "gone"
        result.error = f"HTTP 410 Gone from {url}: the feed was removed; source retired"
        return result
    if status >= 400 or status < 200:
        result.outcome, result.error_kind = "failed", f"http-{status}"
        result.retry_after_s = parse_retry_after(resp.headers.get("retry-after"), now)
        hint = {404: "feed not found (check the URL)", 429: "rate limited", 403: "forbidden"}.get(status, "")
        if status >= 500:
            hint = "server error"
        result.error = f"HTTP {status} from {url}" + (f": {hint}" if hint else "")
        if result.retry_after_s is not None:
            result.error += f" (Retry-After {result.retry_after_s:.0f}s)"
        return result

    result.etag = resp.headers.get("etag")
    result.last_modified = resp.headers.get("last-modified")
    result.body_hash = hashlib.sha256(resp.body).hexdigest()
    if result.body_hash == state.body_hash:
        result.outcome = "unchanged"  # same bytes as last time (or validators ignored): nothing new
        return result

    if gdelt_api:
        try:
            found = gdelt.parse_answer(resp.body)
        except gdelt.GdeltError as exc:
            result.outcome, result.error_kind, result.error = "failed", "not-gdelt", f"{url}: {exc}"
            result.body_hash = None
            return result
        entries = [(gdelt.entry(a, resp.url), gdelt.article_source(source, a)) for a in found]
    elif source.kind == "sitemap":
        try:
            entries = _sitemap_entries(resp, source, fetcher, settings, scope, result)
        except sitemap.SitemapError as exc:
            result.outcome, result.error_kind, result.error = "failed", "not-a-sitemap", f"{url}: {exc}"
            result.body_hash = None
            return result
    elif source.kind == "page":
        html_text, _ = decode_html(resp.body, resp.content_type)
        links = page.article_links(html_text, resp.url)
        result.warnings += [f"the page declares a feed, steadier than its links: {f}" for f in page.declared_feeds(
            html_text, resp.url)]  # fmt: skip
        if not links:
            result.warnings.append("no links to articles found on the page (has its layout changed?)")
        entries = [({"link": link, "title": text}, source) for link, text in links]
    else:
        try:
            warnings, error, result.entries, articles, result.rejected = offload.run(
                settings.parse_processes, settings.parse_timeout_s, offload.parse_articles, resp.body, resp.url,
                resp.content_type, source, now, settings,
            )  # fmt: skip
        except offload.WorkerFailed as exc:
            result.outcome, result.error_kind, result.error = "failed", "parser-failed", f"{url}: {exc}"
            result.body_hash = None
            return result
        result.warnings.extend(warnings)
        if error:
            result.outcome, result.error_kind = "failed", "not-a-feed"
            result.error = f"{url}: {error}"
            result.body_hash = None  # so that a fixed feed is parsed next time
            return result
        return _keep_new(result, articles, fetcher, settings, scope, is_seen)

    result.entries = len(entries)
    articles, result.rejected = normalize_entries(entries, now, settings)
    return _keep_new(result, articles, fetcher, settings, scope, is_seen)


def _keep_new(
    result: PollResult, articles: list[Article], fetcher: Fetcher, settings: IngestSettings, scope, is_seen
) -> PollResult:
    """The articles not seen before, with their pages' text where the feed gave a summary, and
    their near-duplicate signatures (computed here, off the thread that commits)."""
    for article in articles:
        if is_seen(article.url):
            result.already_seen += 1
            continue
        if needs_page(article, settings):
            blocked = _add_page_text(article, fetcher, settings, scope)
            if blocked:
                result.blocked.append((article.original_url, blocked))
            else:
                result.pages_fetched += 1
        result.articles.append(article)
    if result.articles:
        try:
            sigs = offload.run(
                settings.parse_processes,
                settings.parse_timeout_s,
                offload.signatures,
                [dedup.text_of(a) for a in result.articles],
            )
            result.signatures = {a.id: sig for a, sig in zip(result.articles, sigs)}
        except offload.WorkerFailed:
            pass  # the commit computes them (``PollResult.signatures`` is a head start, not a must)
    return result


def _sitemap_entries(resp, source: Source, fetcher: Fetcher, settings: IngestSettings, scope, result) -> list:
    """The newest ``<url>``s of a sitemap (or of the newest child sitemaps of an index) that the
    site's robots.txt allows, as (entry, source) pairs; unreadable children become warnings."""
    kind, rows = sitemap.parse(resp.body)
    if kind == "sitemapindex":
        children, rows = sitemap.newest([r for r in rows if r["loc"]], "lastmod", sitemap.MAX_CHILDREN), []
        for child in children:
            loc = urljoin(resp.url, child["loc"])
            try:
                got = fetcher.get(loc, max_bytes=settings.max_feed_bytes, accept="application/xml", file_scope=scope)
                if got.status != 200:
                    raise FetchError(f"http-{got.status}", f"HTTP {got.status}")
                rows += sitemap.parse(got.body)[1]
            except (FetchError, sitemap.SitemapError) as exc:
                result.warnings.append(f"child sitemap {loc}: {exc}")
    robots = sitemap.Robots(lambda u: _robots_txt(fetcher, u, scope), settings.user_agent)
    out, refused = [], 0
    for row in sitemap.newest(rows, "published", sitemap.MAX_URLS):
        loc = urljoin(resp.url, row["loc"])
        if not robots.allowed(loc):
            refused += 1
            continue
        lang = (row.get("language") or "").split("-")[0].lower()
        src = source.model_copy(update={"language": lang}) if len(lang) == 2 else source
        out.append((sitemap.entry({**row, "loc": loc}), src))
    if refused:
        result.warnings.append(f"{refused} URLs left alone: disallowed by the site's robots.txt")
    return out


def _robots_txt(fetcher: Fetcher, url: str, scope) -> str | None:
    try:
        got = fetcher.get(url, max_bytes=512_000, accept="text/plain", file_scope=scope)
    except FetchError:
        return None
    return got.body.decode("utf-8", errors="replace") if got.status == 200 else None


def _add_page_text(article: Article, fetcher: Fetcher, settings: IngestSettings, scope: Path | None) -> str | None:
    """Replace the summary by the page's main text; keep the summary and say why on failure.
    Returns the guard's reason when it refused the page (the entry is still published)."""
    try:
        resp = fetcher.get(
            article.original_url,
            max_bytes=settings.max_page_bytes,
            accept="text/html,application/xhtml+xml;q=0.9,*/*;q=0.5",
            file_scope=scope,
        )
    except FetchError as exc:
        if exc.kind == "blocked":
            _keep_summary(article, f"page not fetched: {exc}")
            return str(exc)
        _keep_summary(article, f"page fetch failed: {exc}")
        return None
    if resp.status != 200:
        _keep_summary(article, f"page fetch failed: HTTP {resp.status}")
        return None
    ex = extract_article(resp.body, resp.url, resp.content_type)
    if ex.error:
        _keep_summary(article, f"page extraction failed: {ex.error}")
        return None
    if len(ex.text) <= len(article.text):
        _keep_summary(article, "page text no longer than the feed's")
        return None
    article.text = ex.text
    article.provenance["text"] = f"page extract (trafilatura, {ex.encoding})"
    if not article.title and ex.title:
        article.title = ex.title
        article.provenance["title"] = "page"
    return None


def _keep_summary(article: Article, reason: str) -> None:
    article.notes.append(reason)
    article.provenance["text"] = f"{article.provenance.get('text', 'feed summary')} ({reason})"
