"""The bus on Apache Kafka (kafka-python): what users run when one machine is not enough.

Producer: ``acks=all``, retries, one request in flight per connection (so a retry cannot
reorder a key's messages), and ``flush`` raises unless every message was acknowledged.
Consumers: consumer groups with manual commits only. Slow processing must not get a worker
thrown out of its group (a batch that outlasts ``max_poll_interval_ms`` makes the broker
rebalance and the batch replay): while a stage processes, ``keepalive`` pauses the assigned
partitions and keeps polling, which counts as liveness without fetching anything.
Topics are created with the configured partition count when first used.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError
from kafka.structs import OffsetAndMetadata

from .base import Bus, BusError, Consumer, Record, TopicStats, next_offsets

log = logging.getLogger("sinoscope.core.bus.kafka")


class KafkaBus(Bus):
    def __init__(
        self,
        bootstrap: str,
        partitions: int = 4,
        *,
        max_poll_interval_ms: int = 300_000,
        session_timeout_ms: int = 6_000,
        heartbeat_interval_ms: int = 1_000,
        request_timeout_ms: int = 30_000,
        batch_bytes: int = 262_144,
        flush_timeout_s: float = 120.0,
        client_id: str = "sinoscope",
    ) -> None:
        self.bootstrap = bootstrap
        self.partitions = partitions
        self.client_id = client_id
        self.flush_timeout_s = flush_timeout_s
        self.consumer_config = dict(
            max_poll_interval_ms=max_poll_interval_ms,
            session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=heartbeat_interval_ms,
            request_timeout_ms=request_timeout_ms,
        )
        self.request_timeout_ms = request_timeout_ms
        self.batch_bytes = batch_bytes
        self._producer: KafkaProducer | None = None
        self._admin: KafkaAdminClient | None = None
        self._known: set[str] = set()
        self._futures: list = []  # [(topic, key, value, headers), future or None]
        self.reconnects = 0

    # -- clients, created on first use and retried while the broker is unreachable ------------
    def _connect(self, make, what: str):
        delay, deadline = 0.5, time.monotonic() + self.flush_timeout_s
        while True:
            try:
                return make()
            except KafkaError as exc:
                if time.monotonic() > deadline:
                    raise BusError(f"Kafka at {self.bootstrap} unreachable for {what}: {exc}") from exc
                log.warning("Kafka at %s unreachable (%s); retrying in %.1fs", self.bootstrap, exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 10.0)

    @property
    def producer(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = self._connect(
                lambda: KafkaProducer(
                    bootstrap_servers=self.bootstrap,
                    client_id=self.client_id,
                    acks="all",
                    retries=2_147_483_647,
                    max_in_flight_requests_per_connection=1,
                    linger_ms=5,
                    batch_size=self.batch_bytes,  # one request carries many articles per partition
                    request_timeout_ms=self.request_timeout_ms,
                    delivery_timeout_ms=int(self.flush_timeout_s * 1000),
                    retry_backoff_ms=200,
                ),
                "producing",
            )
        return self._producer

    @property
    def admin(self) -> KafkaAdminClient:
        if self._admin is None:
            self._admin = self._connect(
                lambda: KafkaAdminClient(
                    bootstrap_servers=self.bootstrap,
                    client_id=f"{self.client_id}-admin",
                    request_timeout_ms=self.request_timeout_ms,
                ),
                "admin",
            )
        return self._admin

    def ensure_topic(self, topic: str) -> None:
        if topic in self._known:
            return
        if topic not in self.admin.list_topics():
            try:
                self.admin.create_topics([NewTopic(topic, num_partitions=self.partitions, replication_factor=1)])
            except TopicAlreadyExistsError:
                pass
        self._known.add(topic)

    # -- producing -------------------------------------------------------------------------
    def publish(self, topic, key, value, *, headers=None, dedup_id=None) -> None:
        if not isinstance(value, (bytes, bytearray)):
            raise TypeError("bus values are bytes; encode the message first")
        self._futures.append([(topic, key, bytes(value), headers), None])
        self._send(self._futures[-1])

    def _send(self, item: list) -> None:
        (topic, key, value, headers), _ = item
        try:
            self.ensure_topic(topic)
            hdrs = [(k, v.encode("utf-8")) for k, v in (headers or {}).items()]
            item[1] = self.producer.send(
                topic, key=key.encode("utf-8") if key is not None else None, value=value, headers=hdrs or None
            )
        except KafkaError as exc:  # broker away: flush() retries it
            log.warning(
                "Kafka at %s: could not queue a message for %s (%s); flush will retry", self.bootstrap, topic, exc
            )
            item[1] = None

    def flush(self) -> None:
        """Block until every published message is acknowledged. A broker that is down or was
        restarted is retried with backoff (the producer is rebuilt, unacknowledged messages are
        sent again) for up to ``flush_timeout_s``; only then BusError, and nothing downstream of
        the caller counts as done."""
        if not self._futures:
            return
        pending, self._futures = self._futures, []
        deadline, delay = time.monotonic() + self.flush_timeout_s, 0.5
        while True:
            if self._producer is not None:
                try:
                    self._producer.flush(timeout=max(1.0, deadline - time.monotonic()))
                except KafkaError:
                    pass
            failed = [it for it in pending if it[1] is None or not it[1].succeeded()]
            if not failed:
                return
            first = next((it[1].exception for it in failed if it[1] is not None and it[1].is_done), "not sent")
            if time.monotonic() > deadline:
                raise BusError(
                    f"Kafka at {self.bootstrap}: {len(failed)} of {len(pending)} messages not acknowledged "
                    f"within {self.flush_timeout_s:.0f}s ({first}); nothing was committed, they will be retried"
                )
            log.warning(
                "Kafka at %s: %d messages not acknowledged (%s); rebuilding the producer and retrying in %.1fs",
                self.bootstrap,
                len(failed),
                first,
                delay,
            )
            self.reconnects += 1
            self._reset_clients()
            time.sleep(delay)
            delay = min(delay * 2, 10.0)
            for it in failed:
                self._send(it)
            pending = failed

    def _reset_clients(self) -> None:
        closing: list[tuple[object, dict]] = [(self._producer, {"timeout": 0}), (self._admin, {})]
        for client, kwargs in closing:
            if client is not None:
                try:
                    client.close(**kwargs)  # type: ignore[attr-defined]
                except Exception:  # a client of a dead broker may fail to close; it is dropped anyway
                    pass
        self._producer = self._admin = None
        self._known.clear()

    # -- consuming -------------------------------------------------------------------------
    def consumer(self, group: str, topics: list[str]) -> Consumer:
        for t in topics:
            self.ensure_topic(t)
        return KafkaGroupConsumer(self, group, topics)

    def topics(self) -> list[str]:
        return sorted(t for t in self.admin.list_topics() if not t.startswith("__"))

    def _offsets(self, topic: str) -> tuple[dict[int, int], dict[int, int]] | None:
        probe = KafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            request_timeout_ms=self.request_timeout_ms,
        )
        try:
            parts = probe.partitions_for_topic(topic)
            if not parts:
                return None
            tps = [TopicPartition(topic, p) for p in sorted(parts)]
            begin, end = probe.beginning_offsets(tps), probe.end_offsets(tps)
            return {tp.partition: begin[tp] for tp in tps}, {tp.partition: end[tp] for tp in tps}
        finally:
            probe.close()

    def stats(self, topic: str) -> TopicStats | None:
        if topic not in self.admin.list_topics():
            return None
        offsets = self._offsets(topic)
        if offsets is None:
            return None
        begin, end = offsets
        return TopicStats(topic, len(end), sum(end[p] - begin[p] for p in end), end)

    def group_lag(self, group: str, topic: str) -> dict[int, int]:
        offsets = self._offsets(topic)
        if offsets is None:
            return {}
        _, end = offsets
        listed = self.admin.list_group_offsets(group)
        listed = listed.get(group, {}) if group in listed else listed  # {group: {tp: offset}} in kafka-python 3
        committed = {
            tp.partition: om.offset
            for tp, om in listed.items()
            if tp.topic == topic and om is not None and om.offset >= 0
        }
        return {p: max(0, e - committed.get(p, 0)) for p, e in end.items()}

    def groups(self) -> list[tuple[str, str]]:
        """(consumer group, topic) pairs that have committed offsets."""
        out: set[tuple[str, str]] = set()
        for g in self.admin.list_groups():
            gid = g["group_id"] if isinstance(g, dict) else g[0]
            listed = self.admin.list_group_offsets(gid)
            listed = listed.get(gid, {}) if gid in listed else listed
            out.update((gid, tp.topic) for tp in listed)
        return sorted(out)

    def read(self, topic: str, limit: int | None = None, idle_s: float = 1.5) -> list[Record]:
        """Every message of a topic without joining a group or committing (inspection). Reads
        until nothing arrives for ``idle_s``: end offsets are not trusted here, because some
        Kafka-protocol brokers (tansu 0.6) report the last batch's base offset as the end."""
        offsets = self._offsets(topic)
        if offsets is None:
            return []
        begin, _ = offsets
        c = KafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False)
        try:
            tps = [TopicPartition(topic, p) for p in begin]
            c.assign(tps)
            for tp in tps:
                c.seek(tp, begin[tp.partition])
            out: list[Record] = []
            quiet_since = time.monotonic()
            while time.monotonic() - quiet_since < idle_s:
                batch = [m for msgs in c.poll(timeout_ms=200).values() for m in msgs]
                if batch:
                    out.extend(_record(m) for m in batch)
                    quiet_since = time.monotonic()
                if limit is not None and len(out) >= limit:
                    break
            out.sort(key=lambda r: (r.partition, r.offset))
            return out[:limit] if limit is not None else out
        finally:
            c.close()

    def close(self) -> None:
        try:
            if self._futures:
                self.flush()
        finally:
            if self._producer is not None:
                self._producer.close(timeout=10)
            if self._admin is not None:
                self._admin.close()


def _record(m) -> Record:
    return Record(
        m.topic,
        m.partition,
        m.offset,
        m.key.decode("utf-8") if m.key is not None else None,
        m.value,
        m.timestamp / 1000.0,
        {k: v.decode("utf-8", "replace") for k, v in (m.headers or [])},
    )


class KafkaGroupConsumer(Consumer):
    def __init__(self, bus: KafkaBus, group: str, topics: list[str]) -> None:
        self.bus, self.group = bus, group
        self.consumer = bus._connect(
            lambda: KafkaConsumer(
                *topics,
                bootstrap_servers=bus.bootstrap,
                client_id=f"{bus.client_id}-{group}",
                group_id=group,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                **bus.consumer_config,
            ),
            f"consumer group {group}",
        )
        self._polled: dict[tuple[str, int], int] = {}

    def poll(self, max_records: int = 500, timeout_s: float = 1.0) -> list[Record]:
        batches = self.consumer.poll(timeout_ms=int(timeout_s * 1000), max_records=max_records)
        out = [_record(m) for msgs in batches.values() for m in msgs]
        for k, o in next_offsets(out).items():
            self._polled[k] = max(self._polled.get(k, 0), o)
        return out

    def keepalive(self) -> None:
        """Called while a batch is processed: poll with every assigned partition paused."""
        assigned = self.consumer.assignment()
        if assigned:
            self.consumer.pause(*assigned)
        self.consumer.poll(timeout_ms=0)

    def resume(self) -> None:
        paused = self.consumer.paused()
        if paused:
            self.consumer.resume(*paused)

    def caught_up(self) -> bool:
        assigned = self.consumer.assignment()
        if not assigned:
            return False
        end = self.consumer.end_offsets(list(assigned))
        return all(self.consumer.position(tp) >= end[tp] for tp in assigned)

    def commit(self, records: Iterable[Record] | None = None) -> None:
        if records is None:
            offsets, self._polled = self._polled, {}
        else:
            offsets = next_offsets(records)
        if not offsets:
            return
        try:
            self.consumer.commit(
                offsets={TopicPartition(t, p): OffsetAndMetadata(o, "", -1) for (t, p), o in offsets.items()}
            )
        except KafkaError as exc:
            raise BusError(
                f"commit for group {self.group} refused ({exc}); the batch will be replayed by the "
                "partition's new owner, and downstream ids make the replay harmless"
            ) from exc

    def close(self) -> None:
        self.consumer.close(autocommit=False)
