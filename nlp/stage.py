"""The enrich stage: articles in, articles with mentions and sentiment out.

Consumes topic "articles" in batches (one transformer batch per poll), publishes one
``Enriched`` record per article to topic "enriched", keyed by article id. Poison records
(undecodable, empty, absurdly long) are dead-lettered with their reason and never block the
stream; a failure of the model itself fails the batch (nothing is committed, it is retried).
"""

from __future__ import annotations

from pydantic import ValidationError

from sinoscope.core.bus import Bus, Record
from sinoscope.core.schemas import Article, Enriched, MentionRecord, Sentiment
from sinoscope.core.settings import Settings
from sinoscope.core.stage import BatchResult, Stage

from .tagger import Tagger, entity_tones

GROUP = "nlp-enrich"


def _sentiment(pred) -> Sentiment | None:
    if pred is None:
        return None
    return Sentiment(score=max(-1.0, min(1.0, pred.score)), label=pred.label, confidence=min(1.0, pred.confidence))


def make_processor(tagger: Tagger, settings: Settings):
    out_topic = settings.bus.topics.enriched
    limit = settings.nlp.max_article_chars

    def process(records: list[Record]) -> BatchResult:
        result = BatchResult()
        articles: list[tuple[Record, Article]] = []
        for r in records:
            try:
                article = Article.from_json(r.value)
            except (ValidationError, ValueError, UnicodeDecodeError) as exc:
                result.failures.append((r, f"undecodable article: {str(exc)[:300]}"))
                continue
            size = len(article.title) + len(article.text)
            if not (article.title.strip() or article.text.strip() or article.summary.strip()):
                result.failures.append((r, "empty article: no title and no text"))
            elif size > limit:
                result.failures.append(
                    (r, f"article too long to tag: {size} characters (limit nlp.max_article_chars={limit})")
                )
            else:
                articles.append((r, article))
        tagged = tagger.tag_many([(a.title, a.text or a.summary, None) for _, a in articles])
        for (_, article), t in zip(articles, tagged):
            mentions = [
                MentionRecord(
                    id=f"{article.id}:{f}:{m.start}",
                    entity_id=m.entity_id,
                    name=m.name,
                    type=m.type,
                    text=m.text,
                    field=f,
                    start=m.start,
                    end=m.end,
                    sentence=m.sentence,
                    sentiment=_sentiment(s),
                    sense=m.sense,
                )
                for m, s, f in zip(t.mentions, t.mention_sentiment, t.field_of)
            ]
            enriched = Enriched(
                article=article,
                language=t.language,
                sentiment=_sentiment(t.sentiment),
                mentions=mentions,
                entities=entity_tones(t.mentions, t.mention_sentiment, t.entity_sentiment),
                model=tagger.model_name,
            )
            result.outputs.append((out_topic, article.id, enriched.to_json()))
        return result

    return process


def enrich_stage(bus: Bus, settings: Settings, tagger: Tagger | None = None) -> Stage:
    tagger = tagger or Tagger.shared(settings.nlp)
    return Stage(
        bus,
        name="nlp",
        group=GROUP,
        topic=settings.bus.topics.articles,
        dead_letter_topic=settings.bus.topics.dead_letter,
        process=make_processor(tagger, settings),
        batch_size=settings.nlp.batch_articles,
    )


def enrich_pass(
    settings: Settings, tagger: Tagger | None = None, until_idle: bool = True, signals: bool = False, on_batch=None
) -> dict:
    """Run the enrich stage (drain the articles topic with ``until_idle``)."""
    from sinoscope.core.bus import open_bus

    with open_bus(settings) as bus:
        stage = enrich_stage(bus, settings, tagger)
        if signals:
            stage.install_signal_handlers()
        stats = stage.run(until_idle=until_idle, poll_timeout_s=0.2, on_batch=on_batch)
    return {"enriched": stats.outputs, "batches": stats.batches, "dead_lettered": stats.dead_lettered}
