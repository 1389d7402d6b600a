"""One feed entry → one ``Article``, recording where each field came from.

Entries are salvaged whenever they carry anything usable: no link falls back to a URL-like
guid, then to a synthesised ``urn:`` id; no date falls back to the fetch time (marked). Only an
entry with neither link, title nor text is rejected, with the reason.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sinoscope.core.errors import SinoscopeError
from sinoscope.core.schemas import Article, article_id_for
from sinoscope.core.settings import IngestSettings

from .dates import published_date
from .extract import html_fragment_to_text
from .sources import Source
from .urls import canonical_url, repair_file_url


class EntryError(SinoscopeError, ValueError):
    """An entry with nothing that can be salvaged."""


def _entry_url(entry: dict[str, Any]) -> tuple[str | None, str]:
    link = entry.get("link")
    guid = entry.get("id") or entry.get("guid")
    if entry.get("guidislink") and guid and urlsplit(guid).scheme not in ("http", "https"):
        link = None  # feedparser made a "link" out of a non-URL guid; it is not one
    if link and urlsplit(link).scheme in ("http", "https", "file"):
        return repair_file_url(link), "guid" if entry.get("guidislink") and link == guid else "link"
    for alt in entry.get("links", []) or []:
        href = alt.get("href")
        if href and alt.get("rel", "alternate") == "alternate" and urlsplit(href).scheme in ("http", "https"):
            return href, "links[alternate]"
    if guid and urlsplit(guid).scheme in ("http", "https"):
        return guid, "guid"
    return None, ""


def _content_text(entry: dict[str, Any]) -> str:
    best = ""
    for c in entry.get("content", []) or []:
        text = html_fragment_to_text(c.get("value", ""))
        if len(text) > len(best):
            best = text
    return best


def normalize_entry(entry: dict[str, Any], source: Source, fetched: datetime, settings: IngestSettings) -> Article:
    provenance: dict[str, str] = {}
    notes: list[str] = []
    title = html_fragment_to_text(entry.get("title", "") or "")
    summary = html_fragment_to_text(entry.get("summary", "") or "")
    content = _content_text(entry)

    raw_url, url_from = _entry_url(entry)
    if raw_url:
        try:
            url = canonical_url(raw_url)
            provenance["url"] = f"entry {url_from}"
        except ValueError as exc:
            raise EntryError(f"entry link is not a usable URL: {exc}") from exc
    else:
        if not (title or summary or content):
            raise EntryError("entry has no link, no title and no text")
        basis = entry.get("id") or entry.get("guid") or f"{title}\n{summary}"
        url = f"urn:sinoscope:{source.name}:{hashlib.sha1(basis.encode('utf-8')).hexdigest()[:20]}"
        raw_url = url
        provenance["url"] = "synthesised (entry has no link)"
        notes.append("entry has no link; id synthesised from its guid/title")

    if content and len(content) > 1.2 * len(summary) + 40:
        text, provenance["text"] = content, "feed content"
    elif content and len(content) >= len(summary):
        text, provenance["text"] = content, "feed content (teaser)"
    elif summary:
        text, provenance["text"] = summary, "feed summary"
    else:
        text, provenance["text"] = "", "none"

    # read the field the feed has (feedparser warns when published_parsed falls back to updated)
    date_field = next((f for f in ("published", "updated", "created") if f in entry), "published")
    published, provenance["published"] = published_date(
        entry.get(date_field),
        entry.get(f"{date_field}_parsed") if date_field in entry else None,
        fetched,
        max_future=timedelta(hours=settings.max_future_skew_h),
        oldest_year=settings.oldest_plausible_year,
    )
    if provenance["published"] != "feed":
        notes.append(f"published date {provenance['published']}")

    outlet, provenance["outlet"] = source.outlet, "sources catalogue"
    src = entry.get("source") or {}
    if source.entry_outlet and isinstance(src, dict) and src.get("title"):
        outlet, provenance["outlet"] = src["title"], "entry <source>"
    language = source.language
    provenance["language"] = "sources catalogue"
    detail = entry.get("content", [{}])[0] if entry.get("content") else entry.get("title_detail") or {}
    entry_lang = (detail.get("language") or "").split("-")[0].lower()
    if entry_lang and len(entry_lang) == 2:
        language, provenance["language"] = entry_lang, "entry xml:lang"

    authors = [a.get("name", "") for a in entry.get("authors", []) or [] if a.get("name")]
    return Article(
        id=article_id_for(url),
        url=url,
        original_url=raw_url,
        source=source.name,
        outlet=outlet,
        country=source.country,
        language=language,
        title=title or (summary[:120] if summary else ""),
        summary=summary,
        text=text,
        authors=authors,
        published=published,
        fetched=fetched,
        provenance=provenance,
        notes=notes,
    )


def normalize_entries(
    entries: list[tuple[dict[str, Any], Source]], fetched: datetime, settings: IngestSettings
) -> tuple[list[Article], list[tuple[dict[str, Any], str]]]:
    """(articles, rejected entries with the reason) of (entry, its source) pairs."""
    articles, rejected = [], []
    for entry, source in entries:
        try:
            articles.append(normalize_entry(entry, source, fetched, settings))
        except EntryError as exc:
            rejected.append((dict(entry), str(exc)))
    return articles, rejected


def needs_page(article: Article, settings: IngestSettings) -> bool:
    """A feed that gave only a summary (or a teaser as "content"): the page holds the text."""
    return (
        settings.fetch_full_text
        and article.original_url.startswith(("http://", "https://", "file://"))
        and (article.provenance.get("text") != "feed content" or len(article.text) < settings.min_fulltext_chars)
    )
