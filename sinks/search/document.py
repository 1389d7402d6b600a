"""What a search reads and answers about one stored article, built once for both engines: the
text fields (``syntax.FIELDS``), the filter fields, the tone keywords (``syntax.tone_keywords``)
and the mentions a hit shows (one per entity, with the article's tone toward it)."""

from __future__ import annotations

from sinoscope.core.schemas import Enriched
from sinoscope.core.tone import carriers

from .syntax import tone_keywords


def search_document(e: Enriched) -> dict:
    a = e.article
    mention_of = {m.id: m for m in e.mentions}
    tone = {mention_of[mid].entity_id: t.score for mid, t in carriers(e).items()}
    mentions, seen = [], set()
    for m in e.mentions:
        if m.entity_id not in seen:
            seen.add(m.entity_id)
            s = tone.get(m.entity_id)
            mentions.append(
                {"entity_id": m.entity_id, "name": m.name, "sentiment": round(s, 4) if s is not None else None}
            )
    return {
        "article_id": a.id,
        "url": a.url,
        "title": a.title,
        "summary": a.summary,
        "text": a.text,
        "outlet": a.outlet,
        "country": a.country,
        "language": e.language,
        "published": a.published,
        "duplicate_of": a.duplicate_of,
        "entity_ids": sorted(seen),
        "tone_keywords": tone_keywords({eid: tone.get(eid) for eid in seen}),
        "mentions": mentions,
    }
