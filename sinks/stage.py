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


class SinkUnavailable(RuntimeError):
    """The store the settings name could not take the records; ``where`` names it."""

    def __init__(self, message: str, where: str) -> None:
        super().__init__(message)
        self.where = where


def open_sink(settings: Settings):
    """The store the settings name: (sink, the errors it raises, a description of where it is)."""
    from .store import EmbeddedStore, StoreError

    if settings.sink.kind == "elasticsearch":
        from .elastic import ElasticSink, SinkError

        return (ElasticSink.from_settings(settings.sink), (SinkError,),
                f"Elasticsearch at {settings.sink.es_url} (settings sink.es_*)")
    path = settings.path("store.duckdb")
    return EmbeddedStore(path), (StoreError,), f"the embedded store {path}"


def store_pass(settings: Settings, until_idle: bool = True, signals: bool = False) -> dict:
    """Run the sink stage (drain the enriched topic with ``until_idle``) into the configured store."""
    from sinoscope.bus import open_bus

    from .store import EmbeddedStore

    sink, errors, where = open_sink(settings)
    embedded = isinstance(sink, EmbeddedStore)
    try:
        if not embedded:
            sink.setup()  # lifecycle policy and index templates, idempotent
        with open_bus(settings) as bus:
            stage = sink_stage(bus, settings, sink)
            if signals:
                stage.install_signal_handlers()
            stats = stage.run(until_idle=until_idle, poll_timeout_s=0.2)
        counts = sink.counts() if embedded else None
    except errors as exc:
        raise SinkUnavailable(str(exc), where) from exc
    finally:
        if embedded:
            sink.close()
    return {"written": stats.records - stats.dead_lettered, "dead_lettered": stats.dead_lettered,
            "store": "embedded" if embedded else "elasticsearch", "where": where,
            "articles": counts["articles"] if counts else None, "mentions": counts["mentions"] if counts else None}
