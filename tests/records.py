"""One way for every test to build enriched records with chosen sentiment (the store, alert,
report and Elasticsearch tests all write such records)."""

from __future__ import annotations

from datetime import datetime

from sinoscope.core.schemas import Article, Enriched, MentionRecord, Sentiment

NAMES = {"city:chengdu": "Chengdu", "city:hangzhou": "Hangzhou", "city:wuhan": "Wuhan", "brand:byd": "BYD"}


def enriched(
    article_id: str,
    published: datetime,
    mentions: list[tuple[str, float]],
    *,
    duplicate_of: str | None = None,
    outlet: str = "Example Times",
    country: str = "GB",
    url: str | None = None,
    title: str | None = None,
    fetched: datetime | None = None,
    neutral_band: float = 0.2,
) -> Enriched:
    """An English article with one mention per (entity id, score); a score beyond
    ±neutral_band is labelled positive/negative."""
    url = url or f"https://news.example/{article_id}"
    art = Article(
        id=article_id,
        url=url,
        original_url=url,
        source="test",
        outlet=outlet,
        country=country,
        language="en",
        title=title or f"Story {article_id}",
        text="...",
        published=published,
        fetched=fetched or published,
        duplicate_of=duplicate_of,
    )
    ms = []
    for i, (eid, score) in enumerate(mentions):
        label = "positive" if score > neutral_band else "negative" if score < -neutral_band else "neutral"
        name = NAMES.get(eid, eid)
        ms.append(
            MentionRecord(
                id=f"{article_id}:text:{i}",
                entity_id=eid,
                name=name,
                type=eid.split(":")[0],
                text=name,
                field="text",
                start=10 * i,
                end=10 * i + 5,
                sentence=f"A sentence about {name} ({score:+.1f}).",
                sentiment=Sentiment(score=score, label=label, confidence=0.9),
            )
        )
    return Enriched(article=art, language="en", mentions=ms)
