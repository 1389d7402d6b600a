"""How an article portrays each entity it mentions: the rule, written once.

The mentions of one entity in one article, taken together: the polarity with more mentions,
neutral when none is polar (a neutral mention is a reference, not a verdict), a tie settled by
the sign of the mean score. The NLP stage writes this as ``Enriched.entities``; the stores keep
it on the entity's first mention in the article (``carriers``), so trend, rank, report and swing
figures count each (article, entity) once with its article-level tone, while mention counts stay
mention counts. (Why this rule: see ``nlp/tagger.py``.)
"""

from __future__ import annotations

from collections.abc import Sequence

from .schemas import Enriched, Sentiment


def entity_label(labels: Sequence[str], scores: Sequence[float]) -> str:
    pos, neg = labels.count("positive"), labels.count("negative")
    if pos != neg:
        return "positive" if pos > neg else "negative"
    mean = sum(scores) / len(scores)
    return "neutral" if pos == 0 or mean == 0 else ("positive" if mean > 0 else "negative")


def combine(sentiments: Sequence[Sentiment]) -> Sentiment | None:
    """The article-level tone from its mentions' sentiments (None when none is scored):
    the label by ``entity_label``, the mean score, the mean confidence of the mentions that agree."""
    if not sentiments:
        return None
    label = entity_label([s.label for s in sentiments], [s.score for s in sentiments])
    agree = [s.confidence for s in sentiments if s.label == label] or [s.confidence for s in sentiments]
    return Sentiment(
        label=label, score=sum(s.score for s in sentiments) / len(sentiments), confidence=sum(agree) / len(agree)
    )


def carriers(e: Enriched) -> dict[str, Sentiment]:
    """Mention id -> the article's tone toward that mention's entity, on one mention per entity:
    the first not used for the government (whose rows rank leaves out), else the first. The tone
    is ``e.entities``' where the stage gave one, else the mentions combined (older messages)."""
    given = {t.entity_id: t.sentiment for t in e.entities}
    by_entity: dict[str, list] = {}
    for m in e.mentions:
        by_entity.setdefault(m.entity_id, []).append(m)
    out: dict[str, Sentiment] = {}
    for entity_id, ms in by_entity.items():
        tone = given[entity_id] if entity_id in given else combine([m.sentiment for m in ms if m.sentiment])
        if tone is not None:
            carrier = next((m for m in ms if m.sense != "government"), ms[0])
            out[carrier.id] = tone
    return out
