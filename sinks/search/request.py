"""A search as the back-ends receive it: the parsed query and the filters (the CLI, the web app
and exports build one the same way), and a hit as they return it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .syntax import Node, SearchSyntaxError, parse, parse_tone_range, tone_range_keywords

MAX_LIMIT = 10_000


@dataclass(frozen=True)
class SearchRequest:
    query: Node
    text: str = ""
    entity_ids: tuple[str, ...] = ()  # any of them
    entity_type: str | None = None  # city or brand
    outlets: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    tone: tuple[float, float] | None = None  # the article's tone toward the entities (or any entity)
    limit: int = 20
    offset: int = 0

    @classmethod
    def build(
        cls,
        text: str = "",
        *,
        entity_ids=(),
        entity_type: str | None = None,
        outlets=(),
        countries=(),
        languages=(),
        since: datetime | None = None,
        until: datetime | None = None,
        tone: str | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> SearchRequest:
        """Validated: the query parsed, countries upper-case, languages lower-case, the tone range read."""
        if entity_type not in (None, "city", "brand"):
            raise SearchSyntaxError(f"type {entity_type!r}: use city or brand")
        if not 1 <= limit <= MAX_LIMIT or offset < 0:
            raise SearchSyntaxError(f"limit must be 1..{MAX_LIMIT:,} and offset 0 or more")
        return cls(
            query=parse(text),
            text=text,
            entity_ids=tuple(entity_ids),
            entity_type=entity_type,
            outlets=tuple(outlets),
            countries=tuple(c.upper() for c in countries),
            languages=tuple(lang.lower() for lang in languages),
            since=since,
            until=until,
            tone=parse_tone_range(tone) if tone else None,
            limit=limit,
            offset=offset,
        )

    def tone_keywords(self) -> list[str]:
        return tone_range_keywords(*self.tone, self.entity_ids) if self.tone else []

    def keyword_filters(self) -> list[tuple[str, list[str]]]:
        """(field, any of these values) for each keyword filter asked, as both engines apply them."""
        pairs = (
            ("entity_ids", self.entity_ids),
            ("outlet", self.outlets),
            ("country", self.countries),
            ("language", self.languages),
            ("tone_keywords", self.tone_keywords()),
        )
        return [(name, list(values)) for name, values in pairs if values]

    @property
    def empty_tone_range(self) -> bool:
        """A tone range holding no hundredth (e.g. 0.301..0.309): nothing can match."""
        return bool(self.tone) and not self.tone_keywords()


@dataclass
class SearchHits:
    """What a back-end answers: the number of matches and the page asked for, best first; each hit
    is the stored search document's answer fields plus ``score`` and ``snippet`` (HTML, matches in <b>)."""

    total: int
    hits: list[dict] = field(default_factory=list)
