"""Source health as people read it (``status``, the web app, the digest): each source's state,
counts by status, and the sources flagged failing or retired."""

from __future__ import annotations

from pathlib import Path

from .state import IngestState


def source_health(path: Path) -> dict:
    st = IngestState(path)
    try:
        rows = st.sources()
    finally:
        st.close()
    iso = lambda d: d.isoformat() if d else None  # noqa: E731
    health = [
        {
            "name": s.name,
            "status": s.status,
            "since": iso(s.failing_since),
            "last_success": iso(s.last_success),
            "last_fetch": iso(s.last_fetch),
            "error": s.last_error,
            "articles": s.articles_published,
            "next_poll_after": iso(s.next_poll_after),
        }
        for s in rows
    ]
    counts: dict[str, int] = {}
    for s in rows:
        counts[s.status] = counts.get(s.status, 0) + 1
    return {
        "sources": counts,
        "source_health": health,
        "flagged_sources": [
            {"name": h["name"], "status": h["status"], "since": h["since"], "error": h["error"]}
            for h in health
            if h["status"] in ("failing", "retired")
        ],
    }
