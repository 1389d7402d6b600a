"""The sink stage: enriched records in, rows in the store out; offsets are committed only
after the store has the batch (the shared stage loop), and a record that cannot be decoded is
dead-lettered with its reason."""

from __future__ import annotations

from pydantic import ValidationError

from sinoscope.core.bus import Bus, Record
from sinoscope.core.schemas import Enriched
from sinoscope.core.settings import Settings
from sinoscope.core.stage import BatchResult, Stage

from .base import Store, open_store

GROUP = "sink-store"


def sink_stage(bus: Bus, settings: Settings, store: Store) -> Stage:
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
        for article_id, reason in written.failed:  # refused for good: dead-letter, go on
            if article_id in record_of and article_id not in seen:
                seen.add(article_id)
                result.failures.append((record_of[article_id], reason))
        return result

    return Stage(
        bus,
        name="sink",
        group=GROUP,
        topic=settings.bus.topics.enriched,
        dead_letter_topic=settings.bus.topics.dead_letter,
        process=process,
        batch_size=500,
    )


def store_pass(settings: Settings, until_idle: bool = True, signals: bool = False) -> dict:
    """Run the sink stage (drain the enriched topic with ``until_idle``) into the configured store.
    Raises ``StoreError`` (``where`` names the store) when the store cannot be used."""
    from sinoscope.core.bus import open_bus

    with open_store(settings) as store:
        store.setup()
        with open_bus(settings) as bus:
            stage = sink_stage(bus, settings, store)
            if signals:
                stage.install_signal_handlers()
            stats = stage.run(until_idle=until_idle, poll_timeout_s=0.2)
        counts = store.counts() or {}
    return {
        "written": stats.records - stats.dead_lettered,
        "dead_lettered": stats.dead_lettered,
        "store": store.kind,
        "where": store.where,
        "articles": counts.get("articles"),
        "mentions": counts.get("mentions"),
    }
