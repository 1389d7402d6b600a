"""The loop every consuming stage runs, written once (see DESIGN.md):

    poll a batch -> process it -> publish results (or write them) -> flush -> commit offsets

Offsets are committed only after the results are durable downstream, so delivery is
at-least-once and a crash replays the uncommitted batch; downstream ids are derived from
article ids, so the replay changes nothing. A record that cannot be processed goes to the
dead-letter topic with its reason and the batch goes on. SIGTERM/SIGINT finish the batch in
hand, commit, and stop.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .bus import Bus, Record
from .schemas import DeadLetter

log = logging.getLogger("sinoscope.core.stage")


@dataclass
class BatchResult:
    outputs: list[tuple[str, str, bytes]] = field(default_factory=list)  # (topic, key, value)
    failures: list[tuple[Record, str]] = field(default_factory=list)  # (record, reason)


@dataclass
class StageStats:
    batches: int = 0
    records: int = 0
    outputs: int = 0
    dead_lettered: int = 0


class Stage:
    def __init__(
        self,
        bus: Bus,
        *,
        name: str,
        group: str,
        topic: str,
        dead_letter_topic: str,
        process: Callable[[list[Record]], BatchResult],
        batch_size: int = 64,
    ) -> None:
        self.bus, self.name, self.group, self.topic = bus, name, group, topic
        self.dlq, self.process, self.batch_size = dead_letter_topic, process, batch_size
        self.stop_event = threading.Event()
        self.stats = StageStats()
        self.keepalive_interval_s = 1.0

    def install_signal_handlers(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop_event.set())

    def run(
        self,
        *,
        until_idle: bool = False,
        poll_timeout_s: float = 1.0,
        idle_timeout_s: float = 60.0,
        on_batch: Callable[[StageStats], None] | None = None,
        upstream_done: Callable[[], bool] | None = None,
    ) -> StageStats:
        """Consume until stopped (or, with ``until_idle``, until the topic is drained: an empty
        poll with the consumer at the end of its partitions, or nothing for ``idle_timeout_s``).

        ``upstream_done``: the stage feeding this topic runs at the same time (a pass whose stages
        overlap); the topic counts as drained only once it says it has finished, checked before
        the poll that finds the topic empty, so nothing it published last is left behind."""
        with self.bus.consumer(self.group, [self.topic]) as consumer:
            idle_since = time.monotonic()
            while not self.stop_event.is_set():
                finished_upstream = upstream_done is None or upstream_done()
                records = consumer.poll(max_records=self.batch_size, timeout_s=poll_timeout_s)
                if not records:
                    if not finished_upstream:
                        idle_since = time.monotonic()  # waiting on a running stage is not idleness
                    elif until_idle and (consumer.caught_up() or time.monotonic() - idle_since > idle_timeout_s):
                        break
                    continue
                idle_since = time.monotonic()
                result = self._process_keeping_alive(consumer, records)
                for topic, key, value in result.outputs:
                    self.bus.publish(topic, key, value, dedup_id=f"{self.name}:{key}")
                for record, reason in result.failures:
                    log.warning(
                        "%s: dead-lettering %s/%s@%s: %s",
                        self.name,
                        record.topic,
                        record.partition,
                        record.offset,
                        reason,
                    )
                    payload = record.value.decode("utf-8", errors="replace")
                    self.bus.publish(
                        self.dlq,
                        record.key,
                        DeadLetter(
                            stage=self.name,
                            reason=reason,
                            key=record.key,
                            source_topic=record.topic,
                            payload={
                                "partition": record.partition,
                                "offset": record.offset,
                                "value": payload[:100_000],
                            },
                        ).to_json(),
                    )
                self.bus.flush()  # results durable ...
                consumer.commit(records)  # ... before the input counts as done
                self.stats.batches += 1
                self.stats.records += len(records)
                self.stats.outputs += len(result.outputs)
                self.stats.dead_lettered += len(result.failures)
                if on_batch:
                    on_batch(self.stats)
        return self.stats

    def _process_keeping_alive(self, consumer, records: list[Record]) -> BatchResult:
        """Process in a worker thread while this thread keeps the consumer alive in its group
        (a slow model must not trigger a rebalance and a replay)."""
        box: dict = {}

        def work() -> None:
            try:
                box["result"] = self.process(records)
            except BaseException as exc:  # re-raised below, in the stage's thread
                box["error"] = exc

        worker = threading.Thread(target=work, name=f"{self.name}-batch", daemon=True)
        worker.start()
        while worker.is_alive():
            worker.join(timeout=self.keepalive_interval_s)
            if worker.is_alive():
                consumer.keepalive()
        consumer.resume()
        if "error" in box:
            raise box["error"]
        return box["result"]
