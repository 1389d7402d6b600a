"""Flows take JSON-able parameters (deployments need them) and rebuild the settings from them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sinoscope.core.settings import Settings, load_settings


def settings_from(config: str | None, overrides: dict[str, Any] | None) -> Settings:
    return load_settings(Path(config) if config else None, **(overrides or {}))


def overrides_of(settings: Settings) -> dict[str, Any]:
    """What a flow run needs to rebuild these settings in another process (webhook URLs are not
    among them: they travel in the environment, never in flow parameters that Prefect stores)."""
    return {"data_dir": str(settings.data_dir), "bus": settings.bus.model_dump(mode="json")}
