"""The bus between stages; ``open_bus`` picks the implementation from the settings."""

from __future__ import annotations

from ..settings import Settings
from .base import Bus, BusError, Consumer, Record, TopicStats


def open_bus(settings: Settings) -> Bus:
    if settings.bus.kind == "embedded":
        from .embedded import EmbeddedBus

        return EmbeddedBus(settings.path("bus.sqlite"), partitions=settings.bus.partitions)
    raise NotImplementedError(
        f"bus.kind={settings.bus.kind!r} is not available in this version; use 'embedded'"
    )


__all__ = ["Bus", "BusError", "Consumer", "Record", "TopicStats", "open_bus"]
