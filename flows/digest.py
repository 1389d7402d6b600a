"""The digest: what a period held, for people who will not open a dashboard (``sinoscope digest``,
and a scheduled deployment under ``serve``). Gathered here because it reads every stage: the
store's figures through the query layer, the alerts, discovery (nlp) and source health (ingest);
drawn and delivered by ``sinks/digest/``.

Top movers compare the period with the one before it, each entity's volume (mentions) and tone
(mean article-level tone, only where both periods have at least ``MIN_MENTIONS``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prefect import flow

from ingest.health import source_health
from nlp.discover import Discoverer
from nlp.entities.catalogue import load_catalogue
from sinks.digest.deliver import deliver
from sinks.query import open_queries
from sinks.report.data import fired_alerts

from .settings import settings_from

PERIODS = {"day": timedelta(days=1), "week": timedelta(days=7)}
MOVERS = 5
MIN_MENTIONS = 3
STORIES = 3


def gather(settings, period: str = "day", now: datetime | None = None) -> dict:
    if period not in PERIODS:
        raise ValueError(f"period {period!r}: day or week")
    now = now or datetime.now(UTC)
    since, before = now - PERIODS[period], now - 2 * PERIODS[period]
    catalogue = load_catalogue(settings.nlp.catalogues)
    names = {e.id: e.name for e in catalogue.entities.values()}
    q = open_queries(settings)
    try:
        current, previous = {}, {}
        for kind in ("city", "brand"):
            for r in q.rank(names, since, kind, now=now)["rows"]:
                current[r["entity_id"]] = {**r, "type": kind}
            for r in q.rank(names, before, kind, now=since)["rows"]:
                previous[r["entity_id"]] = r
        volume, tone = [], []
        for eid in set(current) | set(previous):
            c, p = current.get(eid, {}), previous.get(eid, {})
            row = {"entity_id": eid, "name": names.get(eid, eid), "type": eid.split(":")[0]}
            volume.append({**row, "mentions": c.get("mentions", 0), "before": p.get("mentions", 0)})
            if c.get("mentions", 0) >= MIN_MENTIONS and p.get("mentions", 0) >= MIN_MENTIONS:
                if c.get("sentiment_mean") is not None and p.get("sentiment_mean") is not None:
                    change = round(c["sentiment_mean"] - p["sentiment_mean"], 4)
                    tone.append(
                        {**row, "sentiment_mean": c["sentiment_mean"], "before": p["sentiment_mean"], "change": change}
                    )
        for v in volume:
            v["change"] = v["mentions"] - v["before"]
        volume = sorted((v for v in volume if v["change"]), key=lambda v: (-abs(v["change"]), v["entity_id"]))
        tone.sort(key=lambda t: (-abs(t["change"]), t["entity_id"]))
        chosen = [catalogue.resolve(e) for e in settings.digest.entities]
        tracked = [e.id for e in chosen if e is not None] or [
            r["entity_id"]
            for kind in ("city", "brand")
            for r in sorted(
                (r for r in current.values() if r["type"] == kind), key=lambda r: (-r["mentions"], r["entity_id"])
            )[:3]
        ]
        entities = [
            {
                "entity_id": eid,
                "name": names.get(eid, eid),
                "mentions": current.get(eid, {}).get("mentions", 0),
                "sentiment_mean": current.get(eid, {}).get("sentiment_mean"),
                "negative": q.stories(eid, since, negative=True, limit=STORIES, until=now)["stories"],
                "positive": q.stories(eid, since, negative=False, limit=STORIES, until=now)["stories"],
            }
            for eid in tracked
        ]
        totals = q.totals(since)
        discovered = [c.as_dict() for c in Discoverer(catalogue).scan(q.texts(since)) if c.count >= 2]
    finally:
        q.close()
    health = source_health(settings.path("ingest.sqlite"))
    return {
        "period": period,
        "since": since.isoformat(),
        "until": now.isoformat(),
        "totals": {k: totals[k] for k in ("articles", "articles_with_mentions", "mentions", "outlets", "countries")},
        "volume_movers": volume[:MOVERS],
        "tone_movers": tone[:MOVERS],
        "entities": entities,
        "discovered": [{k: d[k] for k in ("name", "count", "outlets")} for d in discovered[:10]],
        "alerts": [
            {k: a.get(k) for k in ("id", "entity_id", "name", "kind", "fired_at", "delivered")}
            for a in fired_alerts(settings, since)
        ],
        "sources": {"counts": health["sources"], "flagged": health["flagged_sources"]},
    }


def send_digest(settings, period: str = "day", now: datetime | None = None, webhooks=None) -> dict:
    """Gather and deliver (webhooks, email); what went where."""
    digest = gather(settings, period, now)
    return {"digest": digest, "delivered": deliver(settings, digest, webhooks)}


@flow(name="digest")
def digest_flow(config: str | None = None, overrides: dict | None = None, period: str | None = None) -> dict:
    """The scheduled digest (``serve``). Each target gets its own retries; the run fails (and says
    which target) when one still refused it, without sending again to those that took it."""
    settings = settings_from(config, overrides)
    out = send_digest(settings, period or settings.digest.period)
    failed = [d for d in out["delivered"] if not d["ok"]]
    if failed:
        raise RuntimeError(f"digest not delivered to {len(failed)} target(s): " + "; ".join(d["error"] for d in failed))
    return {"delivered": out["delivered"], "period": out["digest"]["period"]}
