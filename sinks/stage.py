"""The sink stage: enriched records in, rows in the store out; offsets are committed only
after the store has the batch (the shared stage loop), and a record that cannot be decoded is
dead-lettered with its reason."""

from __future__ import annotations

from pydantic import ValidationError

from sinoscope.bus import Bus, Record
from sinoscope.schemas import Enriched
from sinoscope.settings import Settings
from sinoscope.stage import BatchResult, Stage

GROUP = "sink-store"


def sink_stage(bus: Bus, settings: Settings, store) -> Stage:
    def process(records: list[Record]) -> BatchResult:
        result, batch, record_of = BatchResult(), [], {}
        for r in records:
            try:
                e = Enriched.from_json(r.value)
            except (ValidationError, ValueError) as exc:
                result.failures.append((r, f"undecodable enriched record: {str(exc)[:300]}"))
                continue
            batch.append(e)
            record_of[e.article.id] = r
        written = store.write(batch)  # raises: nothing is committed, the batch is retried
        seen = set()
        for article_id, reason in getattr(written, "failed", []):  # refused for good: dead-letter, go on
            if article_id in record_of and article_id not in seen:
                seen.add(article_id)
                result.failures.append((record_of[article_id], reason))
        return result

    return Stage(bus, name="sink", group=GROUP, topic=settings.bus.topics.enriched,
                 dead_letter_topic=settings.bus.topics.dead_letter, process=process, batch_size=500)
