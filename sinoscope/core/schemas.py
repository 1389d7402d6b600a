"""Messages that travel on the bus, defined once and imported by every stage.

Each message is plain JSON carrying ``schema`` (name/version) so that a consumer can refuse
a version it does not understand instead of misreading it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, Field, field_validator

ARTICLE_SCHEMA: Final = "article/1"
ENRICHED_SCHEMA: Final = "enriched/1"
DEAD_LETTER_SCHEMA: Final = "deadletter/1"


def article_id_for(canonical_url: str) -> str:
    """Stable id of an article: the same canonical URL always gives the same id."""
    return hashlib.sha256(canonical_url.encode("utf-8")).hexdigest()[:32]


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class Message(BaseModel):
    """A bus message: JSON bytes with its ``schema`` field under that name."""

    model_config = {"populate_by_name": True, "protected_namespaces": ()}

    def to_json(self) -> bytes:
        return self.model_dump_json(by_alias=True).encode("utf-8")

    @classmethod
    def from_json(cls, raw: bytes | str):
        return cls.model_validate_json(raw)


class Article(Message):
    """One overseas news article, normalised from a feed entry (and its page)."""

    schema_: Literal["article/1"] = Field(ARTICLE_SCHEMA, alias="schema")
    id: str
    url: str = Field(description="Canonical URL (tracking parameters, fragment, AMP removed).")
    original_url: str
    source: str = Field(description="Name of the feed in the sources catalogue.")
    outlet: str
    country: str
    language: str
    title: str = ""
    summary: str = ""
    text: str = ""
    authors: list[str] = Field(default_factory=list)
    published: datetime
    fetched: datetime
    provenance: dict[str, str] = Field(
        default_factory=dict, description="Where each field came from, e.g. text: page-extract."
    )
    notes: list[str] = Field(default_factory=list, description="Recoverable problems met.")
    duplicate_of: str | None = Field(None, description="First copy of a syndicated story.")
    duplicate_similarity: float | None = None
    via: Literal["live", "backfill"] = Field(
        "live", description="How ingest found it: a live poll, or a backfill of the past (sinoscope backfill)."
    )

    @field_validator("published", "fetched")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return _utc(value)


class Sentiment(BaseModel):
    score: float = Field(ge=-1, le=1)
    label: Literal["positive", "neutral", "negative"]
    confidence: float = Field(ge=0, le=1)


class MentionRecord(BaseModel):
    """One mention of a catalogued city or brand, with the sentiment toward it."""

    id: str = Field(description="Stable: article id, field and offset.")
    entity_id: str
    name: str
    type: Literal["city", "brand"]
    text: str
    field: Literal["title", "text"]
    start: int
    end: int
    sentence: str
    sentiment: Sentiment | None = None
    sense: str | None = Field(None, description="'government' when a capital stands for the state.")


class EntityTone(BaseModel):
    """How one article portrays one entity: its mentions taken together (``sinoscope.core.tone``)."""

    entity_id: str
    name: str
    type: Literal["city", "brand"]
    sentiment: Sentiment | None = None
    mentions: int = Field(ge=1, description="Mentions of the entity in the article it rests on.")


class Enriched(Message):
    """An article with its language, overall sentiment and mentions (topic "enriched")."""

    schema_: Literal["enriched/1"] = Field(ENRICHED_SCHEMA, alias="schema")
    article: Article
    language: str
    sentiment: Sentiment | None = None
    mentions: list[MentionRecord] = Field(default_factory=list)
    entities: list[EntityTone] = Field(default_factory=list, description="The article's tone toward each entity.")
    model: str | None = None
    enriched_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class DeadLetter(Message):
    """A record that a stage could not process, with the reason and the original payload."""

    schema_: Literal["deadletter/1"] = Field(DEAD_LETTER_SCHEMA, alias="schema")
    stage: str
    reason: str
    key: str | None = None
    source_topic: str | None = None
    payload: Any = None
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))


def jsonable(value: Any) -> Any:
    """Best-effort JSON form of an arbitrary payload (for dead letters)."""
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return json.loads(json.dumps(value, default=str))
