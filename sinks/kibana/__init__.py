"""Kibana saved objects shipped with Sinoscope (``saved_objects.ndjson``: data views on the
mention and article indices, volume and sentiment over time per city and per brand, top cities,
the most negative mentions, and a dashboard holding them) and their import through Kibana's
saved objects API (``sinoscope kibana setup``)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from sinoscope.core.errors import SinoscopeError

SAVED_OBJECTS = Path(__file__).parent / "saved_objects.ndjson"


class KibanaError(SinoscopeError, RuntimeError):
    """Kibana refused the import; the message lists what it said."""


def load_objects(path: Path = SAVED_OBJECTS) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def import_saved_objects(
    url: str,
    auth: tuple[str, str] | None = None,
    api_key: str | None = None,
    verify: bool = True,
    timeout_s: float = 30.0,
    path: Path = SAVED_OBJECTS,
) -> dict:
    """POST the objects to /api/saved_objects/_import?overwrite=true (idempotent: ids are fixed)."""
    headers = {"kbn-xsrf": "sinoscope"}
    if api_key:
        headers["Authorization"] = f"ApiKey {api_key}"
    try:
        resp = httpx.post(
            f"{url.rstrip('/')}/api/saved_objects/_import",
            params={"overwrite": "true"},
            files={"file": (path.name, path.read_bytes(), "application/ndjson")},
            headers=headers,
            auth=auth,
            verify=verify,
            timeout=timeout_s,
        )
    except httpx.HTTPError as exc:
        raise KibanaError(f"Kibana at {url} unreachable: {type(exc).__name__}: {exc}") from exc
    if resp.status_code != 200:
        raise KibanaError(f"Kibana at {url} answered HTTP {resp.status_code}: {resp.text[:500]}")
    body = resp.json()
    if not body.get("success"):
        errors = "; ".join(f"{e.get('type')}/{e.get('id')}: {e.get('error')}" for e in body.get("errors", []))
        raise KibanaError(f"Kibana imported {body.get('successCount', 0)} objects but refused some: {errors}")
    return body
