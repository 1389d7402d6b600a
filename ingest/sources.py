"""The sources catalogue: which feeds to poll, and who publishes them.

A YAML file of the form::

    sources:
      - {name: bbc-china, url: https://feeds.bbci.co.uk/..., outlet: BBC, country: GB, language: en}
    query_feeds:            # optional: one feed per tracked entity, from a URL template
      - {name: gnews-en, url_template: "https://news.google.com/rss/search?q={query}&hl=en-US",
         outlet: Google News, country: US, language: en, entities: [BYD, Chengdu]}

``url`` may be http(s)://, file://, or a path relative to the YAML file (sample corpora).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from urllib.parse import quote_plus, urlsplit

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from sinoscope.core.errors import SinoscopeError

from .gdelt import DEFAULT_URL as GDELT_URL

PACKAGE_DIR = Path(__file__).parent
SAMPLE_SOURCES = PACKAGE_DIR / "samples" / "sources.yaml"
LIVE_SOURCES = PACKAGE_DIR / "sources.yaml"


class Source(BaseModel):
    name: str
    kind: Literal["rss", "sitemap", "page", "gdelt"] = Field(
        "rss",
        description="rss: a feed (RSS, Atom, RDF); sitemap: a (Google News) sitemap or sitemap index; "
        "page: a section page whose article links are followed; gdelt: GDELT's DOC API article list for `query`.",
    )
    url: str = Field("", description="The feed; for gdelt the DOC API endpoint (default: the public one).")
    outlet: str = ""
    country: str = Field("", description="ISO 3166-1 alpha-2 of the outlet's home country.")
    language: str = Field("", description="ISO 639-1 of the feed's main language.")
    query: str | None = Field(
        None,
        description="The entity a query feed searches for; for gdelt, the GDELT query ('\"Chengdu\" sourcelang:german').",
    )
    entry_outlet: bool = Field(False, description="Aggregator: take the outlet from each entry's <source>.")

    @model_validator(mode="after")
    def _complete(self) -> Source:
        if self.kind == "gdelt":
            if not self.query:
                raise ValueError("a gdelt source needs a query, e.g. '\"Chengdu\" sourcelang:german'")
            if not self.url:
                self.url = GDELT_URL
            return self  # outlet, country and language come with each article
        missing = [f for f in ("url", "outlet", "country", "language") if not getattr(self, f)]
        if missing:
            raise ValueError(f"a feed needs {', '.join(missing)}")
        return self

    @field_validator("country")
    @classmethod
    def _upper(cls, v: str) -> str:
        return v.upper()

    @field_validator("language")
    @classmethod
    def _lower(cls, v: str) -> str:
        return v.lower()


class QueryFeed(BaseModel):
    name: str
    url_template: str
    outlet: str
    country: str
    language: str
    entities: list[str] = Field(default_factory=list)
    entry_outlet: bool = True


class Catalogue(BaseModel):
    sources: list[Source] = Field(default_factory=list)
    query_feeds: list[QueryFeed] = Field(default_factory=list)


class SourcesError(SinoscopeError, ValueError):
    """A sources file that cannot be used; the message names the file and the problem."""


def _resolve(url: str, base: Path) -> str:
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("http", "https", "file"):
        return url
    if scheme and len(scheme) > 1:
        raise ValueError(f"unsupported URL scheme {scheme!r}")
    return (base / url).resolve().as_uri()


def _slug(text: str) -> str:
    return re.sub(r"[^\w]+", "-", text.lower()).strip("-") or "q"


def load_sources(path: Path | None = None, extra_queries: list[str] | None = None) -> list[Source]:
    """Every source of a catalogue, with query feeds expanded per entity."""
    path = Path(path) if path else SAMPLE_SOURCES
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise SourcesError(f"sources file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise SourcesError(f"sources file {path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise SourcesError(f"sources file {path}: expected a mapping with a 'sources' list")
    try:
        cat = Catalogue.model_validate(raw)
    except ValidationError as exc:
        raise SourcesError(f"sources file {path}: {exc}") from exc
    out: list[Source] = []
    for src in cat.sources:
        try:
            out.append(src.model_copy(update={"url": _resolve(src.url, path.parent)}))
        except ValueError as exc:
            raise SourcesError(f"sources file {path}, source {src.name!r}: {exc}") from exc
    for qf in cat.query_feeds:
        for entity in dict.fromkeys([*qf.entities, *(extra_queries or [])]):
            out.append(
                Source(
                    name=f"{qf.name}:{_slug(entity)}",
                    url=qf.url_template.format(query=quote_plus(entity)),
                    outlet=qf.outlet,
                    country=qf.country,
                    language=qf.language,
                    query=entity,
                    entry_outlet=qf.entry_outlet,
                )
            )
    names = [s.name for s in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SourcesError(f"sources file {path}: duplicate source names {dupes}")
    return out
