"""A hook for the CLI to show live progress of flows running in its own process (flow
parameters must be JSON, so a callback cannot be one)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_listeners: list[Callable[[str, dict[str, Any]], None]] = []


def listen(fn: Callable[[str, dict[str, Any]], None]) -> Callable[[], None]:
    _listeners.append(fn)
    return lambda: _listeners.remove(fn)


def emit(event: str, **data: Any) -> None:
    for fn in list(_listeners):
        fn(event, data)
