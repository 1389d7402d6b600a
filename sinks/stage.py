"""The sink stage: enriched records in, rows in the store out; offsets are committed only
after the store has the batch (the shared stage loop), and a record that cannot be decoded is
dead-lettered with its reason."""

from __future__ import annotations

import logging
from collections.abc import Callable

from pydantic import ValidationError

from sinoscope.core.bus import Bus, Record
from sinoscope.core.schemas import Enriched
from sinoscope.core.settings import Settings
from sinoscope.core.stage import BatchResult, Stage

from .base import Store, open_store

GROUP = "sink-store"
log = logging.getLogger("sinoscope.sinks")


def sink_stage(bus: Bus, settings: Settings, store: Store, touched: set[str] | None = None) -> Stage:
    """``touched`` gathers the entity ids of every article written (for streaming alerts)."""

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
        if touched is not None:
            touched.update(m.entity_id for e in batch if e.article.id not in seen for m in e.mentions)
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


def store_pass(
    settings: Settings,
    until_idle: bool = True,
    signals: bool = False,
    on_written: Callable[[set[str]], None] | None = None,
    upstream_done: Callable[[], bool] | None = None,
) -> dict:
    """Run the sink stage (drain the enriched topic with ``until_idle``; ``upstream_done`` while
    the enrich stage runs alongside: ``Stage.run``) into the configured store.
    ``on_written`` gets the entity ids each committed batch touched (streaming alerts); its
    failure is logged, never the worker's end. Raises ``StoreError`` (``where`` names the store)
    when the store cannot be used."""
    from sinoscope.core.bus import open_bus

    touched: set[str] = set()

    def after_batch(_stats) -> None:
        if on_written is None or not touched:
            return
        ids = set(touched)
        touched.clear()
        try:
            on_written(ids)
        except Exception:  # noqa: BLE001 (detection has its own schedule as a safety net)
            log.exception("streaming alert pass for %d entities failed; the scheduled pass will retry", len(ids))

    with open_store(settings) as store:
        store.setup()
        with open_bus(settings) as bus:
            stage = sink_stage(bus, settings, store, touched)
            if signals:
                stage.install_signal_handlers()
            stats = stage.run(
                until_idle=until_idle, poll_timeout_s=0.2, on_batch=after_batch, upstream_done=upstream_done
            )
        counts = store.counts() or {}
    return {
        "written": stats.records - stats.dead_lettered,
        "dead_lettered": stats.dead_lettered,
        "store": store.kind,
        "where": store.where,
        "articles": counts.get("articles"),
        "mentions": counts.get("mentions"),
    }
