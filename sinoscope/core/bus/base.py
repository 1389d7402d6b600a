"""The bus seam: Kafka semantics, whatever carries the bytes.

Topics are split into partitions; a message's key picks its partition, and order holds
within a partition. Delivery is at-least-once: ``publish`` may buffer, ``flush`` returns only
when everything published so far is durable (acknowledged); a consumer in a group reads
batches and ``commit``s the offsets it has finished with, so a restart resumes after the last
commit and replays only what was never committed. Downstream writes must therefore be
idempotent (ids derived from article ids).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..errors import RetryableError


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes
    timestamp: float
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TopicStats:
    topic: str
    partitions: int
    messages: int
    end_offsets: dict[int, int]


def next_offsets(records: Iterable[Record]) -> dict[tuple[str, int], int]:
    """The offsets to commit for these records: per (topic, partition), one past the last."""
    out: dict[tuple[str, int], int] = {}
    for r in records:
        k = (r.topic, r.partition)
        out[k] = max(out.get(k, 0), r.offset + 1)
    return out


class BusError(RetryableError, RuntimeError):
    """The bus could not do what was asked (broker down, storage unwritable)."""


class Consumer(ABC):
    """A member of a consumer group reading one or more topics."""

    @abstractmethod
    def poll(self, max_records: int = 500, timeout_s: float = 1.0) -> list[Record]:
        """The next batch (possibly empty) after this consumer's position."""

    @abstractmethod
    def commit(self, records: Iterable[Record] | None = None) -> None:
        """Commit the given records (default: everything polled so far) as processed."""

    def keepalive(self) -> None:
        """Called repeatedly while a polled batch is being processed, so that a slow batch does
        not cost the consumer its group membership (Kafka); a no-op where that cannot happen."""

    def resume(self) -> None:
        """Undo what ``keepalive`` paused, before the next poll."""

    def caught_up(self) -> bool:
        """True when this consumer has partitions and has read to their end (so an empty poll
        means the topic is drained, not that the group is still being joined)."""
        return True

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Consumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Bus(ABC):
    @abstractmethod
    def publish(
        self,
        topic: str,
        key: str | None,
        value: bytes,
        *,
        headers: dict[str, str] | None = None,
        dedup_id: str | None = None,
    ) -> None:
        """Queue a message. ``dedup_id`` lets a bus that can, drop a repeat of the same
        message (an idempotent producer); callers must not rely on it for correctness."""

    @abstractmethod
    def flush(self) -> None:
        """Block until every published message is durable; raise BusError otherwise."""

    @abstractmethod
    def consumer(self, group: str, topics: list[str]) -> Consumer: ...

    @abstractmethod
    def stats(self, topic: str) -> TopicStats | None:
        """Partitions, messages and end offsets of a topic (None if it does not exist)."""

    @abstractmethod
    def group_lag(self, group: str, topic: str) -> dict[int, int]:
        """Messages not yet committed by ``group``, per partition."""

    @abstractmethod
    def topics(self) -> list[str]: ...

    def groups(self) -> list[tuple[str, str]]:
        """(consumer group, topic) pairs with committed offsets."""
        return []

    def prune(self, older_than_s: float, keep_topics: tuple[str, ...] = ()) -> int | None:
        """Retention: drop messages older than ``older_than_s`` seconds (not from ``keep_topics``);
        None where the broker does it itself (Kafka's retention.ms)."""
        return None

    def read(self, topic: str, limit: int | None = None) -> list[Record]:
        """Every message of a topic from the start, without committing (inspection, tests)."""
        with self.consumer(f"__inspect-{id(self)}", [topic]) as consumer:
            out: list[Record] = []
            while True:
                batch = consumer.poll(max_records=1000, timeout_s=0.2)
                if not batch:
                    return out
                out.extend(batch)
                if limit is not None and len(out) >= limit:
                    return out[:limit]

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Bus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
