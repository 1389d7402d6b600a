"""Flows take JSON-able parameters (deployments need them) and rebuild the settings from them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sinoscope.settings import Settings, load_settings


def settings_from(config: str | None, overrides: dict[str, Any] | None) -> Settings:
    return load_settings(Path(config) if config else None, **(overrides or {}))


def overrides_of(settings: Settings, webhooks: list[str] | None = None) -> dict[str, Any]:
    """What a flow run needs to rebuild these settings in another process."""
    out: dict[str, Any] = {"data_dir": str(settings.data_dir), "bus": settings.bus.model_dump(mode="json")}
    if webhooks:
        out["alerts"] = {**settings.alerts.model_dump(mode="json"),
                         "webhooks": list(settings.alerts.webhooks) + list(webhooks)}
    return out
