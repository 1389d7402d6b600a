"""The bus between stages; ``open_bus`` picks the implementation from the settings."""

from __future__ import annotations

from ..settings import Settings
from .base import Bus, BusError, Consumer, Record, TopicStats


def open_bus(settings: Settings) -> Bus:
    if settings.bus.kind == "embedded":
        from .embedded import EmbeddedBus

        return EmbeddedBus(settings.path("bus.sqlite"), partitions=settings.bus.partitions)
    if settings.bus.kind == "kafka":
        from .kafka import KafkaBus

        b = settings.bus
        return KafkaBus(
            b.bootstrap,
            b.partitions,
            max_poll_interval_ms=b.max_poll_interval_ms,
            session_timeout_ms=b.session_timeout_ms,
            heartbeat_interval_ms=b.heartbeat_interval_ms,
            request_timeout_ms=b.request_timeout_ms,
            batch_bytes=b.batch_bytes,
        )
    raise ValueError(f"unknown bus.kind {settings.bus.kind!r}: use 'embedded' or 'kafka'")


__all__ = ["Bus", "BusError", "Consumer", "Record", "TopicStats", "open_bus"]
